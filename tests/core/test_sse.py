from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neureus import APIResponseValidationError
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


# -- the WHATWG event-stream interpretation, one case per rule ------------------------------
# https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation


def test_whatwg_one_leading_bom_is_dropped_and_only_one() -> None:
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []  # the second BOM makes an unknown field
    assert decode(b"\xef\xbb\xbf", b"data: a\n\n") == [("message", "a", "", None)]
    assert decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [("message", "a", "", None)]  # not at the start


def test_whatwg_line_ends_cr_lf_crlf_mixed_in_one_stream() -> None:
    assert decode(b"data: a\r\ndata: b\rdata: c\n\r\n") == [("message", "a\nb\nc", "", None)]
    assert decode(b"data: a\r", b"\r") == [("message", "a", "", None)]  # CR CR is two line ends


def test_whatwg_blank_line_dispatches() -> None:
    assert decode(b"data: a\n", b"\n", flush=False) == [("message", "a", "", None)]


def test_whatwg_comment_lines_are_ignored() -> None:
    assert decode(b":\n: ping\n:data: x\ndata: a\n:\n\n") == [("message", "a", "", None)]


def test_whatwg_field_without_colon_is_a_name_with_an_empty_value() -> None:
    assert decode(b"data\ndata\n\n") == [("message", "\n", "", None)]
    assert decode(b"event\ndata: a\n\n") == [("message", "a", "", None)]  # empty type is "message"
    assert decode(b"id\ndata: a\n\n") == [("message", "a", "", None)]


def test_whatwg_only_one_space_after_the_colon_is_dropped() -> None:
    assert decode(b"data:a\n\ndata: a\n\ndata:  a\n\ndata:\ta\n\n") == [
        ("message", "a", "", None),
        ("message", "a", "", None),
        ("message", " a", "", None),
        ("message", "\ta", "", None),
    ]
    assert decode(b"event:  x\ndata: a\n\n") == [(" x", "a", "", None)]


def test_whatwg_only_the_first_colon_splits() -> None:
    assert decode(b"data: a: b:c\n\n") == [("message", "a: b:c", "", None)]


def test_whatwg_event_sets_the_type_of_this_event_only() -> None:
    assert decode(b"event: a\nevent: b\ndata: x\n\ndata: y\n\n") == [("b", "x", "", None), ("message", "y", "", None)]
    assert decode(b"event: lost\n\ndata: y\n\n") == [("message", "y", "", None)]  # reset by an empty block too


def test_whatwg_data_lines_join_with_lf_and_no_trailing_lf() -> None:
    assert decode(b"data: a\ndata:\ndata: b\n\n") == [("message", "a\n\nb", "", None)]
    assert decode(b"data:\n\n") == [("message", "", "", None)]  # a data line, even empty, dispatches


def test_whatwg_no_data_line_no_event() -> None:
    assert decode(b"event: x\nid: 1\nretry: 5\n\n") == []
    assert decode(b"\n\n\n") == []


def test_whatwg_field_names_are_case_sensitive() -> None:
    assert decode(b"Data: a\nDATA: b\nEvent: x\n\n") == []


def test_whatwg_id_sets_the_last_event_id_which_persists() -> None:
    assert decode(b"id: 1\n\ndata: a\n\ndata: b\n\n") == [("message", "a", "1", None), ("message", "b", "1", None)]
    assert decode(b"data: a\nid: 2\n\n") == [("message", "a", "2", None)]  # set before the dispatch
    assert decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n") == [("message", "a", "1", None), ("message", "b", "", None)]
    assert decode(b"id: 1\ndata: a\n\nid: 2\n\n", b"data: b\n\n") == [
        ("message", "a", "1", None),
        ("message", "b", "2", None),
    ]


def test_whatwg_id_with_nul_is_ignored() -> None:
    assert decode(b"id: 1\n\nid: 2\x003\ndata: a\n\n") == [("message", "a", "1", None)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1500", 1500),
        (b"0", 0),
        (b"007", 7),
        ("²".encode(), None),
        ("٣٠٠".encode(), None),  # Arabic-Indic digits
        ("１２".encode(), None),  # fullwidth digits
        (b"-5", None),
        (b"+5", None),
        (b" 5", 5),  # the one dropped space
        (b"  5", None),
        (b"5 ", None),
        (b"1_0", None),
        (b"1.5", None),
        (b"", None),
        (b"soon", None),
    ],
)
def test_whatwg_retry_takes_ascii_digits_only_and_never_raises(value: bytes, expected: int | None) -> None:
    assert decode(b"retry:" + value + b"\ndata: a\n\n") == [("message", "a", "", expected)]


def test_retry_belongs_to_its_block() -> None:
    assert decode(b"retry: 5\n\ndata: a\n\nretry: 7\ndata: b\n\n") == [
        ("message", "a", "", None),
        ("message", "b", "", 7),
    ]


def test_whatwg_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nfoo\nDATA: x\n\xff\xfe: y\ndata: a\n\n") == [("message", "a", "", None)]


def test_whatwg_an_unfinished_block_is_dropped_at_the_end_unless_its_data_lines_ended() -> None:
    assert decode(b"data: a\n\nevent: x\ndata: b") == [("message", "a", "", None)]  # cut mid-line: dropped
    assert decode(b"data: a\n\nevent: x\ndata: b\n") == [("message", "a", "", None), ("x", "b", "", None)]  # leniency


def test_max_event_bytes_counts_one_event_not_the_stream() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    for _ in range(1000):  # a long stream of small events and comments
        assert len(decoder.feed(b"data: " + b"x" * 50 + b"\n\n: " + b"c" * 90 + b"\n")) == 1


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: " + b"x" * 101 + b"\n\n"],
        [b"data: " + b"x" * 60 + b"\n", b"data: " + b"x" * 60 + b"\n"],
        [b"data: ", b"x" * 60, b"x" * 60],  # a line that never ends
        [b": ping\n" + b"x" * 120],  # ... after a whole line in the same chunk
        [b": " + b"c" * 120],
    ],
)
def test_max_event_bytes_refuses_an_oversized_event_naming_the_limit(chunks: list[bytes]) -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(APIResponseValidationError, match=r"max_response_bytes \(100 bytes\)"):
        for chunk in chunks:
            decoder.feed(chunk)


# -- the one-line shortcut: taken when it may be, never when it would change an event ------


class _LineLoopOnly(SSEDecoder):
    fast_path = False


def _events(chunks: list[bytes], fast: bool, limit: int | None = None) -> list[tuple[str, str, str, int | None]]:
    decoder = SSEDecoder(limit) if fast else _LineLoopOnly(limit)
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return [(e.event, e.data, e.id, e.retry) for e in events]


# Each case puts the decoder in one state where a whole one-line ``data:`` chunk must NOT
# be read alone, then sends such a chunk.
SHORTCUT_TRAPS = {
    "a_line_pending": [b"data: a\n\n", b"data: x", b"data: y\n\n"],
    "data_pending": [b"data: a\n\n", b"data: b\n", b"data: y\n\n"],
    "not_started_bom_first": [b"\xef\xbb\xbfdata: y\n\n"],
    "event_type_pending": [b"data: a\n\n", b"event: custom\n", b"data: y\n\n"],
    "retry_pending": [b"data: a\n\n", b"retry: 5\n", b"data: y\n\n"],
    "two_lines": [b"data: a\n\n", b"data: y\nid: 7\n\n"],
    "two_events": [b"data: a\n\n", b"data: y\n\ndata: z\n\n"],
    "no_space": [b"data: a\n\n", b"data:y\n\n"],
    "crlf": [b"data: a\n\n", b"data: y\r\n\r\n"],
    "id_persists": [b"id: 9\ndata: a\n\n", b"data: y\n\n"],
    "invalid_utf8": [b"data: a\n\n", b"data: \xff\xfe\n\n"],
}


@pytest.mark.parametrize("chunks", list(SHORTCUT_TRAPS.values()), ids=list(SHORTCUT_TRAPS))
def test_the_shortcut_gives_what_the_line_loop_gives(chunks: list[bytes]) -> None:
    expected = _events([bytes([b]) for chunk in chunks for b in chunk], fast=False)  # a byte at a time
    assert _events(chunks, fast=True) == _events(chunks, fast=False) == expected


def test_the_shortcut_is_taken_for_a_whole_one_line_data_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = SSEDecoder(max_event_bytes=len(b"data: yy\n\n"))  # exactly at the limit still qualifies
    assert decoder.feed(b"data: first\n\n")[0].data == "first"  # the first line goes through the loop
    calls: list[int] = []
    original = SSEDecoder._lines

    def counted(self: SSEDecoder, lines: list[bytes]) -> list[object]:
        calls.append(len(lines))
        return original(self, lines)  # type: ignore[return-value]

    monkeypatch.setattr(SSEDecoder, "_lines", counted)
    assert [(e.event, e.data, e.id) for e in decoder.feed(b"data: yy\n\n")] == [("message", "yy", "")]
    assert calls == []  # no line loop
    decoder.feed(b"data: yy\nid: 1\n\n")  # two lines: the loop
    assert calls == [3]


def test_the_shortcut_still_refuses_an_event_over_the_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    decoder.feed(b"data: a\n\n")
    with pytest.raises(APIResponseValidationError, match=r"\(10 bytes\)"):
        decoder.feed(b"data: " + b"x" * 20 + b"\n\n")


def test_an_event_exactly_at_the_limit_is_taken_from_a_fresh_decoder() -> None:
    # The count starts at nothing: an event of exactly max_event_bytes is within it.
    value = b"x" * 9  # 9 bytes of data + 1 for its line end = 10
    assert [e.data for e in SSEDecoder(max_event_bytes=10).feed(b"data: " + value + b"\n\n")] == ["x" * 9]
    cut = SSEDecoder(max_event_bytes=10)
    assert cut.feed(b"data: " + value[:4]) == []  # a line still being read counts from nothing too
    assert [e.data for e in cut.feed(value[4:] + b"\n\n")] == ["x" * 9]


def test_a_crlf_split_between_chunks_is_one_line_end_only_once() -> None:
    # Without the join, the "\n" opening the second chunk would end one more (blank) line
    # and split one event into two.
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [("message", "a\nb", "", None)]
    # The "\n" after a "\r" is dropped once: a later "\n" alone is a blank line.
    assert decode(b"data: a\r", b"\n", b"\n", b"data: b\n\n") == [
        ("message", "a", "", None),
        ("message", "b", "", None),
    ]
    # A leading "\n" with no "\r" before it is a line end: the BOM after it is not the stream's first.
    assert decode(b"\n\xef\xbb\xbfdata: x\n\n") == []


def test_invalid_utf8_in_an_event_type_or_id_is_replaced_not_fatal() -> None:
    assert decode(b"event: \xffx\nid: \xfe1\ndata: a\n\n") == [("\ufffdx", "a", "\ufffd1", None)]


def test_the_limit_counts_each_data_line_and_its_line_end() -> None:
    # Two lines of 4 and 4 bytes, each with its "\n": 10 bytes, exactly the limit.
    assert decode_limited([b"data: abcd\ndata: efgh\n\n"], 10) == ["abcd\nefgh"]
    with pytest.raises(APIResponseValidationError):
        decode_limited([b"data: abcd\ndata: efghi\n\n"], 10)  # 11 bytes
    # A bare "data" line is an empty data line: one byte each (its line end).
    assert decode_limited([b"data\n", b"data\n", b"data\n", b"\n"], 3) == ["\n\n"]
    with pytest.raises(APIResponseValidationError):
        decode_limited([b"data\n", b"data\n", b"data\n", b"data\n", b"\n"], 3)
    # The count starts again with each event: two events of exactly the limit pass.
    assert decode_limited([b"data: abcdefghi\n\n", b"data: abcdefghi\n\n"], 10) == ["abcdefghi"] * 2


def decode_limited(chunks: list[bytes], limit: int) -> list[str]:
    decoder = _LineLoopOnly(limit)
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return [e.data for e in events + decoder.flush()]


def test_the_limit_error_says_how_to_raise_it() -> None:
    with pytest.raises(APIResponseValidationError) as info:
        SSEDecoder(max_event_bytes=4).feed(b"data: " + b"x" * 10 + b"\n\n")
    assert str(info.value) == (
        "One SSE event of the stream is larger than max_response_bytes (4 bytes); "
        "raise max_response_bytes= on the client or the call's with_options() if that is expected."
    )
