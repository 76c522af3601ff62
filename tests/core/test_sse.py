from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from neureus._sse import SSEDecoder


def decode(*chunks: bytes, flush: bool = True) -> list[tuple[str, str, str, int | None]]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    if flush:
        events += decoder.flush()
    return [(e.event, e.data, e.id, e.retry) for e in events]


def test_line_endings_lf_crlf_cr() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        assert decode(b"data: a" + eol + eol + b"data: b" + eol + eol) == [
            ("message", "a", "", None),
            ("message", "b", "", None),
        ]


def test_crlf_split_between_chunks() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        ("message", "a", "", None),
        ("message", "b", "", None),
    ]


def test_comments_fields_and_no_space() -> None:
    body = b': keep-alive\nevent: update\nid: 7\nretry: 3000\ndata:{"x":1}\n\n'
    assert decode(body) == [("update", '{"x":1}', "7", 3000)]


def test_multiline_data_and_last_event_id_carries_over() -> None:
    assert decode(b"id: 1\ndata: a\ndata: b\n\ndata: c\n\n") == [
        ("message", "a\nb", "1", None),
        ("message", "c", "1", None),
    ]


def test_unknown_fields_bad_retry_and_nul_ids_are_ignored() -> None:
    assert decode(b"foo: bar\nretry: soon\nid: a\x00b\ndata: x\nnodata\n\n") == [("message", "x", "", None)]


def test_field_without_colon_and_only_space() -> None:
    assert decode(b"data\n\ndata:  two spaces\n\n") == [("message", "", "", None), ("message", " two spaces", "", None)]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode(b"\n\n\nevent: x\n\n") == []


def test_utf8_split_inside_a_character() -> None:
    body = 'data: {"delta": {"content": "héllo 🌍"}}\n\n'.encode()
    cut = body.index("🌍".encode()) + 2
    assert json.loads(decode(body[:cut], body[cut:])[0][1])["delta"]["content"] == "héllo 🌍"


def test_bom_is_stripped_once() -> None:
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == [("message", "a", "", None)]


def test_end_of_body_dispatches_complete_lines_only() -> None:
    assert decode(b'data: {"done": true}\n') == [("message", '{"done": true}', "", None)]
    assert decode(b'data: {"done": tr') == []
    assert decode(b"data: a\n", flush=False) == []


def test_incremental_feed_returns_events_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert [e.data for e in decoder.feed(b"\ndata: tw")] == ["one"]
    assert decoder.feed(b"") == []
    assert [e.data for e in decoder.feed(b"o\n\n")] == ["two"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode(b"data: \xff\xfe\n\n")[0][1] == "\ufffd\ufffd"


def _stream(tokens: list[str], eol: bytes, comments: bool) -> bytes:
    out = b""
    for token in tokens:
        if comments:
            out += b": ping" + eol
        out += b"data: " + json.dumps({"delta": {"content": token}}).encode() + eol + eol
    return out


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    comments=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_any_split_gives_the_same_events(tokens: list[str], eol: bytes, comments: bool, cuts: list[int]) -> None:
    body = _stream(tokens, eol, comments)
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    got = [json.loads(data)["delta"]["content"] for _, data, _, _ in decode(*chunks)]
    assert got == tokens
