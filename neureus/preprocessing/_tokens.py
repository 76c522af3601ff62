"""Token estimates: the gateway's default counter and the helper that counts a whole conversation.

Pure arithmetic on strings; no I/O. ``estimate_tokens`` is the gateway's own rule of thumb
(about four characters per token). A caller who wants exact numbers passes any
``count_tokens`` callable (``str -> int``), such as the length of a tiktoken encoding; it is
never a dependency of this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from ._types import TokenCounter

__all__ = ["count_each", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` as the gateway does: ``ceil(len(text) / 4)``.

    A conversation's size is the sum of this over its message contents.

    >>> estimate_tokens("")
    0
    >>> estimate_tokens("Hello")
    2
    >>> estimate_tokens("x" * 4000)
    1000
    """
    given = cast(object, text)  # checked at run time too: len() of a list would pass silently
    if not isinstance(given, str):
        raise TypeError(f"estimate_tokens() takes a str; got {type(given).__name__}.")
    # Integer ceiling division: exact for any length, unlike math.ceil(len / 4) on floats.
    return -(-len(text) // 4)


def count_each(texts: Sequence[str], count_tokens: TokenCounter | None) -> list[int]:
    """The token count of each text, with ``count_tokens`` or, when it is ``None``, the estimate.

    A custom counter must return a non-negative ``int``; anything else is a ``TypeError``
    that shows what it returned, since a float or a list would silently skew every total.
    """
    if count_tokens is None:
        # estimate_tokens inlined: this runs once per message and is the hot path.
        return [-(-len(text) // 4) for text in texts]
    counts: list[int] = []
    for text in texts:
        count = cast(object, count_tokens(text))  # checked: a float would skew every total
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError(
                f"count_tokens must return a whole number >= 0 for each text; it returned "
                f"{count!r} ({type(count).__name__}) for {_preview(text)}."
            )
        counts.append(count)
    return counts


def _preview(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
