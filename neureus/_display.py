"""Jupyter renderers, kept out of the data models (which only delegate here)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import ChatResponse, ModelList

__all__ = ["chat_response_markdown", "model_list_html"]


def chat_response_markdown(response: ChatResponse) -> str:
    """The reply as Markdown, with a one-line footer of tokens, cost and log id."""
    facts = []
    if response.input_tokens is not None or response.output_tokens is not None:
        facts.append(f"{response.input_tokens or 0} in / {response.output_tokens or 0} out tokens")
    if response.cost_usd is not None:
        facts.append(f"${response.cost_usd:.6f}")
    if response.cached:
        facts.append("cached")
    if response.log_id:
        facts.append(f"log `{response.log_id}`")
    footer = f"\n\n---\n*{' · '.join(facts)}*" if facts else ""
    return (response.text or "*(empty reply)*") + footer


def _price(value: float | None) -> str:
    return "—" if value is None else f"${value:g}"


def model_list_html(models: ModelList) -> str:
    """The models as an HTML table: id, name, provider, type, context, prices, features."""
    head = "".join(
        f"<th>{h}</th>" for h in ("id", "name", "provider", "type", "context", "input / 1k", "output / 1k", "features")
    )
    rows = []
    for m in models:
        cells = (
            m.id,
            m.name or "",
            m.provider or "",
            m.type or "",
            "" if m.context_window is None else f"{m.context_window:,}",
            _price(m.input_cost_per_1k),
            _price(m.output_cost_per_1k),
            ", ".join(m.supported_features),
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
