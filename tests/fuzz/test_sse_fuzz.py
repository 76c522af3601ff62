"""The SSE decoder and the chat stream under random and random-but-valid-looking input.

- Random bytes, cut anywhere: the decoder never raises, and how the bytes are cut never
  changes the events.
- Valid-looking SSE (events, comments, ``id``/``retry`` fields, multi-line data, LF/CRLF/CR,
  a BOM, Unicode), cut anywhere: exactly the events a reference model expects; a
  truncated body gives a prefix of them.
- Through ``ChatStream`` (in-process ``FakeGateway``): every token arrives once, in order,
  whatever the wire variant and chunking; cut, broken and erroring streams raise the
  documented error with ``partial_text`` equal to what was delivered; random bodies raise
  nothing but ``neureus`` errors.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import neureus
from neureus._sse import SSEDecoder
from neureus.testing import FakeGateway

from ._profiles import FUZZ, FUZZ_IO

MESSAGES = [{"role": "user", "content": "Hello"}]


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` split at random boundaries (inside lines, CRLFs and UTF-8 characters)."""
    if not data:
        return []
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))))
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return [c for c in chunks if c]


def decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return [(e.event, e.data) for e in events]


@FUZZ
@given(st.data(), st.binary(max_size=2_000))
def test_random_bytes_never_crash_and_cuts_do_not_matter(data: st.DataObject, raw: bytes) -> None:
    whole = decode([raw])
    pieces = data.draw(cut(raw))
    assert decode(pieces) == whole
    assert decode([bytes([b]) for b in raw]) == whole


SSE_BYTES = st.lists(
    st.sampled_from([b"data:", b"data: ", b"event:", b"id:", b"retry:", b":", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf"])
    | st.binary(max_size=8),
    max_size=60,
).map(b"".join)


@FUZZ
@given(st.data(), SSE_BYTES)
def test_sse_shaped_bytes_never_crash_and_cuts_do_not_matter(data: st.DataObject, raw: bytes) -> None:
    whole = decode([raw])
    assert decode(data.draw(cut(raw))) == whole


LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=30,
)


@st.composite
def sse_stream(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]]]:
    """A valid-looking SSE body and the events a correct decoder yields from it."""
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    events = draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), LINE_TEXT.filter(lambda s: ":" not in s)),  # event name
                st.lists(LINE_TEXT, min_size=1, max_size=3),  # data lines
                st.booleans(),  # a comment before
                st.booleans(),  # id and retry fields
                st.booleans(),  # "data:" without the space
            ),
            max_size=8,
        )
    )
    lines: list[str] = []
    expected: list[tuple[str, str]] = []
    for number, (name, data_lines, comment, fields, no_space) in enumerate(events):
        if comment:
            lines.append(": keep-alive")
        if name is not None:
            lines.append(f"event: {name}")
        if fields:
            lines.append(f"id: {number}")
            lines.append("retry: 1000")
        for line in data_lines:
            if no_space and not line.startswith(" "):
                lines.append(f"data:{line}")
            else:
                lines.append(f"data: {line}")
        lines.append("")
        expected.append((name or "message", "\n".join(data_lines)))
    text = "".join(line + eol for line in lines)
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode(), expected


@FUZZ
@given(st.data(), sse_stream())
def test_valid_looking_sse_decodes_exactly(data: st.DataObject, stream: tuple[bytes, list[tuple[str, str]]]) -> None:
    raw, expected = stream
    assert decode(data.draw(cut(raw))) == expected


@FUZZ
@given(st.data(), sse_stream())
def test_truncated_sse_gives_a_prefix(data: st.DataObject, stream: tuple[bytes, list[tuple[str, str]]]) -> None:
    raw, expected = stream
    end = data.draw(st.integers(0, len(raw)))
    got = decode(data.draw(cut(raw[:end])))
    assert len(got) <= len(expected)
    # Every event but the last is whole; the last may be one whose blank line was cut off,
    # dispatched at end of body with the data lines that were complete.
    assert got[:-1] == expected[: max(0, len(got) - 1)]
    if got:
        name, text = got[-1]
        assert name == expected[len(got) - 1][0]
        assert expected[len(got) - 1][1].startswith(text)


# -- through ChatStream --------------------------------------------------------------------

TOKENS = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
    min_size=1,
    max_size=15,
)
WIRE = st.fixed_dictionaries(
    {
        "line_ending": st.sampled_from(["lf", "crlf", "cr"]),
        "comments": st.booleans(),
        "no_space": st.booleans(),
        "multiline": st.booleans(),
        "fields": st.booleans(),
        "empty_deltas": st.booleans(),
        "chunk_size": st.one_of(st.none(), st.integers(1, 64)),
    }
)


def sync_run(gateway: FakeGateway) -> tuple[list[str], BaseException | None, Any]:
    delivered: list[str] = []
    with gateway.client() as client:
        try:
            with client.ai.stream(MESSAGES) as stream:
                for token in stream:
                    delivered.append(token)
        except neureus.NeureusError as exc:
            return delivered, exc, None
    return delivered, None, stream


def async_run(gateway: FakeGateway, backend: str) -> tuple[list[str], BaseException | None, Any]:
    async def main() -> tuple[list[str], BaseException | None, Any]:
        delivered: list[str] = []
        async with gateway.async_client() as client:
            try:
                async with client.ai.stream(MESSAGES) as stream:
                    async for token in stream:
                        delivered.append(token)
            except neureus.NeureusError as exc:
                return delivered, exc, None
        return delivered, None, stream

    return anyio.run(main, backend=backend)


FLAVOURS = st.sampled_from(["sync", "asyncio", "trio"])


def run(gateway: FakeGateway, flavour: str) -> tuple[list[str], BaseException | None, Any]:
    return sync_run(gateway) if flavour == "sync" else async_run(gateway, flavour)


@FUZZ_IO
@given(TOKENS, WIRE, FLAVOURS)
def test_chat_stream_delivers_every_token_once(tokens: list[str], wire: dict[str, Any], flavour: str) -> None:
    gateway = FakeGateway()
    gateway.queue_stream(tokens, **wire)
    delivered, error, stream = run(gateway, flavour)
    assert error is None, error
    assert delivered == tokens
    assert stream.text == "".join(tokens) and stream.done
    assert gateway.open_streams == 0


@FUZZ_IO
@given(TOKENS, WIRE, FLAVOURS, st.sampled_from(["cut_after", "break_after", "error_after"]), st.integers(1, 15))
def test_broken_chat_stream_raises_with_what_was_delivered(
    tokens: list[str], wire: dict[str, Any], flavour: str, fault: str, after: int
) -> None:
    after = min(after, len(tokens))
    gateway = FakeGateway()
    gateway.queue_stream(tokens, **wire, **{fault: after})
    delivered, error, _ = run(gateway, flavour)
    assert delivered == tokens[:after]
    if fault == "error_after":
        assert isinstance(error, neureus.StreamError)
    else:
        assert isinstance(error, neureus.IncompleteStreamError)
        assert error.partial_text == "".join(delivered)
        if fault == "break_after":
            assert isinstance(error.__cause__, neureus.APIConnectionError)
    assert gateway.open_streams == 0


STREAM_ERRORS = (
    neureus.APIConnectionError,
    neureus.APIResponseValidationError,
    neureus.StreamError,
    neureus.IncompleteStreamError,
)


@FUZZ_IO
@given(st.one_of(st.binary(max_size=500), SSE_BYTES), FLAVOURS)
def test_random_stream_bodies_raise_only_documented_errors(body: bytes, flavour: str) -> None:
    gateway = FakeGateway()
    gateway.queue_error(200, body, headers={"content-type": "text/event-stream"}, path="/ai/chat", times=3)
    delivered, error, _ = run(gateway, flavour)
    assert error is None or isinstance(error, STREAM_ERRORS), repr(error)
    if isinstance(error, neureus.IncompleteStreamError):
        assert error.partial_text == "".join(delivered)
    if isinstance(error, neureus.IncompleteStreamError):
        assert error.partial_text == "".join(delivered)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
EVENT_PAYLOAD = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "delta": st.one_of(JSON, st.fixed_dictionaries({}, optional={"content": JSON})),
            "done": JSON,
            "error": JSON,
            "logId": JSON,
            "inputTokens": JSON,
            "outputTokens": JSON,
            "choices": JSON,
        },
    ),
)


def _sse(payloads: list[Any], names: list[str | None]) -> bytes:
    out = []
    for payload, name in zip(payloads, names, strict=False):
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {json.dumps(payload)}\n\n")
    return "".join(out).encode()


@FUZZ_IO
@example(events=[({"done": True, "inputTokens": "x"}, None)], flavour="sync")
@given(
    st.lists(st.tuples(EVENT_PAYLOAD, st.one_of(st.none(), st.sampled_from(["message", "error", "ping"]))), max_size=6),
    FLAVOURS,
)
def test_random_json_events_raise_only_documented_errors(events: list[tuple[Any, str | None]], flavour: str) -> None:
    body = _sse([e[0] for e in events], [e[1] for e in events])
    gateway = FakeGateway()
    gateway.queue_error(200, body, headers={"content-type": "text/event-stream"}, path="/ai/chat", times=3)
    delivered, error, _ = run(gateway, flavour)
    assert error is None or isinstance(error, STREAM_ERRORS), repr(error)
    if isinstance(error, neureus.IncompleteStreamError):
        assert error.partial_text == "".join(delivered)


def test_malformed_done_event_counts_raise_a_neureus_error_minimal() -> None:
    """The minimal case the fuzzer finds, kept as a plain regression test."""
    from httpx_sse import ServerSentEvent

    from neureus._stream_state import StreamState

    with pytest.raises(neureus.APIResponseValidationError):
        StreamState().consume(ServerSentEvent(data='{"done": true, "inputTokens": "x"}'), lambda: 0.0)
