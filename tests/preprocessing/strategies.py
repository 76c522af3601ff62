"""Hypothesis strategies shared by the preprocessing tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Pieces that exercise every normalize rule: line ends of all three kinds, blank and
# whitespace-only lines, Unicode whitespace that str.strip() removes, and plain text.
PIECES = ["a", "b", "xyz", " ", "  ", "\t", "\n", "\n\n", "\r", "\r\n", "\x0b", "\x0c", "\u00a0", "\u2028", "\x85"]

messy_text = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.text(max_size=60),
)
role = st.sampled_from(["system", "user", "assistant"])


@st.composite
def message_dict(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": draw(role), "content": draw(messy_text)}
    if draw(st.booleans()):
        message["id"] = draw(st.integers(0, 10**6))
    return message


conversation = st.lists(message_dict(), max_size=25)
