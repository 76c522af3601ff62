"""Jupyter renderers, kept out of the data models (which only delegate here)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import ChatResponse, ModelList

__all__ = ["chat_response_markdown", "format_usd", "model_list_html"]


def format_usd(value: float) -> str:
    """A dollar amount for people: ``$0`` for a free call, else cents and up to six decimals
    (a tiny non-zero cost shows as ``<$0.000001``, never as zero).

    >>> format_usd(0.0), format_usd(0.5), format_usd(0.000123), format_usd(1.23456789)
    ('$0', '$0.50', '$0.000123', '$1.234568')
    """
    if value == 0:
        return "$0"
    if abs(value) < 0.0000005:  # would round to zero: say it is not free
        return "<$0.000001" if value > 0 else "-<$0.000001"
    digits = f"{abs(value):.6f}".rstrip("0")
    whole, _, cents = digits.partition(".")
    return f"{'-' if value < 0 else ''}${whole}.{cents.ljust(2, '0')}"


def chat_response_markdown(response: ChatResponse) -> str:
    """The reply as Markdown, with a one-line footer of tokens, cost and log id."""
    facts = []
    if response.input_tokens is not None or response.output_tokens is not None:
        facts.append(f"{response.input_tokens or 0} in / {response.output_tokens or 0} out tokens")
    if response.cost_usd is not None:
        facts.append(format_usd(response.cost_usd))
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
