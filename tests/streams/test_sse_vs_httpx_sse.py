"""Our decoder against httpx-sse's own (httpx's line splitting + ``httpx_sse``'s ``SSEDecoder``).

On random input from the domain where both follow WHATWG, cut into random chunks for ours,
the events are the same. Where they differ, ours follows WHATWG and httpx-sse does not; each
difference is pinned below as an example, so the list stays true:

1. httpx splits lines at every ``str.splitlines`` boundary (``\\x0b``, ``\\x0c``,
   ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029); WHATWG (and we) only at CR, LF, CRLF.
2. httpx-sse dispatches a block with no ``data`` line when it set ``event``, ``id`` or
   ``retry`` (and every blank line once an id was ever set); WHATWG dispatches nothing.
3. httpx-sse's ``retry`` takes whatever ``int()`` takes (``٣``, ``+5``, ``1_0``, `` 5 ``);
   WHATWG only ASCII digits.
4. httpx-sse keeps a leading BOM (the first field's name then starts with U+FEFF); WHATWG drops it.
5. Our one leniency: at end of body, an event whose ``data`` lines all ended is dispatched.
"""

from __future__ import annotations

import httpx
import httpx_sse._decoders
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neureus._sse import SSEDecoder

HTTPX_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=HTTPX_LINE_BREAKS), max_size=10)
LINE = st.one_of(
    st.builds(lambda v: "data: " + v, TEXT),
    st.builds(lambda v: "data:" + v, TEXT),
    st.just("data"),
    st.builds(lambda v: "event: " + v, TEXT),
    st.builds(lambda v: "event:" + v, st.sampled_from(["", "message", "error", "x"])),
    st.builds(lambda v: "id: " + v, st.sampled_from(["", "1", "x\x00y", "ü"])),
    st.builds(lambda v: "retry: " + v, st.sampled_from(["", "0", "15", "0042", "soon", "x1"])),
    st.builds(lambda v: ":" + v, TEXT),
    st.builds(lambda v: v + ": " + v, TEXT),  # unknown fields
    TEXT,  # a field name without a colon, or anything
    st.just(""),
    st.just(""),
)
EOL = st.sampled_from(["\n", "\r", "\r\n"])


def theirs(body: bytes) -> list[tuple[str, str, str, int | None]]:
    """httpx-sse's reading, restricted to the events WHATWG dispatches (blocks with data)."""
    lines = httpx._decoders.LineDecoder()
    decoder = httpx_sse._decoders.SSEDecoder()
    out = []
    text = body.decode("utf-8", "replace")
    for line in [*lines.decode(text), *lines.flush()]:
        had_data = bool(decoder._data)
        event = decoder.decode(line)
        if event is not None and (line or had_data):
            out.append((event.event, event.data, event.id, event.retry))
    return out


def ours(chunks: list[bytes], flush: bool = False) -> list[tuple[str, str, str, int | None]]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    if flush:
        events += decoder.flush()
    return [(e.event, e.data, e.id, e.retry) for e in events]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.tuples(LINE, EOL), max_size=30), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_same_events_as_httpx_sse_where_both_follow_whatwg(lines: list[tuple[str, str]], cuts: list[int]) -> None:
    if lines and lines[0][0].startswith("\ufeff"):
        lines = lines[1:]  # difference 4
    body = "".join(line + eol for line, eol in lines).encode()
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert ours(chunks) == theirs(body)


def test_difference_1_line_breaks() -> None:
    body = "data: a\x0bb\u2028c\n\n".encode()
    assert ours([body]) == [("message", "a\x0bb\u2028c", "", None)]
    assert theirs(body) == [("message", "a", "", None)]  # "b" and "c" became unknown fields


def test_difference_2_blocks_without_data() -> None:
    body = b"event: x\n\nid: 1\n\n\n"
    assert ours([body]) == []
    decoder = httpx_sse._decoders.SSEDecoder()
    raw = [decoder.decode(line) for line in ["event: x", "", "id: 1", "", ""]]
    assert [(e.event, e.data, e.id) for e in raw if e] == [("x", "", ""), ("message", "", "1"), ("message", "", "1")]


def test_difference_3_retry_digits() -> None:
    for value in ["٣", "+5", "1_0"]:
        body = f"retry: {value}\ndata: a\n\n".encode()
        assert ours([body]) == [("message", "a", "", None)]
        assert theirs(body)[0][3] == int(value)


def test_difference_4_leading_bom() -> None:
    body = b"\xef\xbb\xbfdata: a\n\n"
    assert ours([body]) == [("message", "a", "", None)]
    assert theirs(body) == []


def test_difference_5_end_of_body_leniency() -> None:
    body = b"data: a\n\ndata: b\n"
    assert ours([body], flush=True) == [("message", "a", "", None), ("message", "b", "", None)]
    assert theirs(body) == [("message", "a", "", None)]
