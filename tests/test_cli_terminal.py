"""The command line's terminal filter: no escape sequence or control character survives,
whether the text comes whole or cut into pieces anywhere (a stream's events)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from neureus._cli._terminal import MAX_HELD, EscapeFilter, strip_escapes

# Everything a terminal would obey: ESC, the C0 controls but \t and \n, DEL, the C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

ATTACKS = {
    "osc52 clipboard (BEL)": ("a\x1b]52;c;cm0gLXJmIH4=\x07b", "ab"),
    "osc52 clipboard (ST)": ("a\x1b]52;c;cm0gLXJmIH4=\x1b\\b", "ab"),
    "osc8 hidden link": ("\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"),
    "csi clear screen": ("x\x1b[2J\x1b[Hy", "xy"),
    "csi colour": ("\x1b[1;31mred\x1b[0m", "red"),
    "8-bit csi": ("\x9b31mred", "red"),
    "8-bit osc": ("\x9d52;c;eA==\x9cok", "ok"),
    "dcs": ("\x1bP1$r0m\x1b\\ok", "ok"),
    "apc": ("\x1b_payload\x1b\\ok", "ok"),
    "charset escape": ("\x1b(Bok\x1bc", "ok"),
    "carriage return overwrite": ("rm -rf /\rsafe", "rm -rf /safe"),
    "backspace": ("abc\x08\x08\x08xyz", "abcxyz"),
    "keeps newlines, tabs, unicode": ("a\tb\nc é 漢 🙂", "a\tb\nc é 漢 🙂"),
}


def test_known_attacks_are_stripped() -> None:
    for name, (text, safe) in ATTACKS.items():
        assert strip_escapes(text) == safe, name
        pieces = EscapeFilter()
        assert "".join(pieces.feed(ch) for ch in text) + pieces.flush() == safe, name


INTERESTING = st.sampled_from(["\x1b", "[", "]", "P", "_", "\\", "\x07", "\x9b", "\x9c", "\x9d", "52;c;", "3", "m"])
TEXT = st.lists(st.one_of(INTERESTING, st.text(max_size=3)), max_size=40).map("".join)


@given(TEXT, st.lists(st.integers(0, 200), max_size=8))
def test_pieces_give_what_the_whole_gives_and_nothing_obeyable(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    escapes = EscapeFilter()
    shown = [escapes.feed(piece) for piece in pieces] + [escapes.flush()]
    for part in shown:  # each write on its own is safe, not only the total
        assert not CONTROL.search(part)
    assert "".join(shown) == strip_escapes(text)


def test_an_unterminated_sequence_does_not_swallow_the_rest_of_the_reply() -> None:
    escapes = EscapeFilter()
    first = escapes.feed("ok \x1b]52;c;")
    rest = escapes.feed("x" * (MAX_HELD + 10))
    assert first == "ok " and rest.endswith("x" * (MAX_HELD + 10)) and not CONTROL.search(rest)
    assert escapes.flush() == ""
