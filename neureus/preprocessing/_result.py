"""What ``preprocess`` returns: the messages and the statistics, with readable reprs.

Data and text rendering only; no I/O. ``PreprocessResult`` is a frozen dataclass (its
messages are the caller's kind of message, so a pydantic model would revalidate or wrap
them); ``PreprocessStats`` is a ``NeureusModel``, like the gateway's own report
(``neureus.types.PreprocessingInfo``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, cast

from .._models import NeureusModel
from ._types import MessageT

__all__ = ["PreprocessResult", "PreprocessStats"]

# How much of a conversation the notebook view shows.
_HTML_MAX_MESSAGES = 50
_HTML_MAX_CHARS = 1000


class PreprocessStats(NeureusModel):
    """What the pipeline did, in the gateway's terms (its debug ``_preprocessing`` report).

    Token numbers come from the ``count_tokens`` given to ``preprocess`` (by default
    :func:`~neureus.preprocessing.estimate_tokens`).

    >>> stats = PreprocessStats(
    ...     original_tokens=120, final_tokens=40, original_messages=9, final_messages=5,
    ...     trimmed=True, compressed=False, passes=["normalize", "structure", "trim"],
    ... )
    >>> print(stats)
    9 → 5 messages, 120 → 40 tokens (trimmed); passes: normalize, structure, trim
    """

    original_tokens: int
    """Tokens of the messages as given, before any pass."""
    final_tokens: int
    """Tokens of the messages returned."""
    original_messages: int
    """How many messages were given."""
    final_messages: int
    """How many messages are returned (a ``system_prompt`` adds one, ``trim`` drops some)."""
    trimmed: bool
    """Whether ``trim`` dropped at least one message (being over the limit is not enough)."""
    compressed: bool
    """Whether the compress pass ran (``compress=True``), whatever it changed."""
    passes: list[str]
    """The passes that ran, in order: ``normalize``, ``structure``, ``trim`` and, when asked,
    ``compress``."""

    def __str__(self) -> str:
        notes = [name for name, on in (("trimmed", self.trimmed), ("compressed", self.compressed)) if on]
        return (
            f"{self.original_messages:,} → {_plural(self.final_messages, 'message')}, "
            f"{self.original_tokens:,} → {_plural(self.final_tokens, 'token')}"
            + (f" ({', '.join(notes)})" if notes else "")
            + f"; passes: {', '.join(self.passes)}"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _role_and_content(message: object) -> tuple[str, str]:
    if isinstance(message, Mapping):
        fields = cast("Mapping[str, object]", message)
        return str(fields.get("role")), str(fields.get("content"))
    return str(getattr(message, "role", "?")), str(getattr(message, "content", ""))


@dataclass(frozen=True, repr=False)
class PreprocessResult(Generic[MessageT]):
    """The preprocessed ``messages`` (the kind you passed in) and the ``stats``.

    ``repr()`` shows the counts rather than every message; in a notebook the result
    renders as a table of the messages under a before/after line.

    >>> from neureus.preprocessing import preprocess
    >>> result = preprocess([{"role": "user", "content": "  Hi  "}])
    >>> result.messages
    [{'role': 'user', 'content': 'Hi'}]
    >>> print(result.stats)
    1 → 1 message, 2 → 1 token; passes: normalize, structure, trim
    """

    messages: list[MessageT]
    """The conversation after the passes, ready to send."""
    stats: PreprocessStats
    """What the passes did."""

    def __repr__(self) -> str:
        count = len(self.messages)
        return f"PreprocessResult(messages=<{_plural(count, 'message')}>, stats={self.stats!r})"

    def _repr_html_(self) -> str:
        rows: list[str] = []
        for index, message in enumerate(self.messages[:_HTML_MAX_MESSAGES]):
            role, content = _role_and_content(message)
            if len(content) > _HTML_MAX_CHARS:
                content = content[:_HTML_MAX_CHARS] + "…"
            rows.append(
                f"<tr><td>{index}</td><td>{html.escape(role)}</td>"
                f'<td style="white-space: pre-wrap; text-align: left">{html.escape(content)}</td></tr>'
            )
        hidden = len(self.messages) - _HTML_MAX_MESSAGES
        if hidden > 0:
            rows.append(f'<tr><td colspan="3">… {hidden:,} more</td></tr>')
        return (
            f"<p><b>PreprocessResult</b>: {html.escape(str(self.stats))}</p>"
            "<table><thead><tr><th>#</th><th>role</th><th>content</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
