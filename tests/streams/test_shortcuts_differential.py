"""Differential tests that pin the stream core's speed shortcuts to their plain paths.

benchmarks/bench_stream_shortcuts.py shows what each kept shortcut is worth:

- ``SSEDecoder.fast_path`` (one whole one-line ``data:`` chunk skips the line loop): the
  same chunks decoded with it on and off give the same events, the same tokens and the
  same errors, for every field kind, LF/CR/CRLF, a BOM, UTF-8 split anywhere, chunks cut
  anywhere and at event boundaries (where the shortcut fires), and a per-event cap;
- ``_stream_state._loads`` (the JSON scanner called directly): the same value or the same
  refusal as ``json.loads`` for any text.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from httpx_sse import ServerSentEvent
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neureus import NeureusError
from neureus._sse import SSEDecoder
from neureus._stream_state import FINISHED, StreamState, _loads

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12)
TOKEN_JSON = st.builds(lambda t: json.dumps({"delta": {"content": t}, "done": False}, ensure_ascii=False), TEXT)
VALUE = st.one_of(TEXT, TOKEN_JSON, st.sampled_from(["", " ", "[DONE]", '{"done": true}', "²", "٣", "12", "\ufeff"]))
LINE = st.one_of(
    st.builds(lambda v: "data: " + v, VALUE),
    st.builds(lambda v: "data:" + v, VALUE),
    st.just("data"),
    st.builds(lambda v: "event: " + v, st.sampled_from(["", "message", "error", "heartbeat", "x y"])),
    st.builds(lambda v: "id: " + v, st.sampled_from(["", "1", "7", "a\x00b"])),
    st.builds(lambda v: "retry: " + v, st.sampled_from(["", "1500", "²", "٣٠٠", "x", "05"])),
    st.builds(lambda v: ":" + v, TEXT),
    st.builds(lambda v: "unknown: " + v, TEXT),
    st.just(""),
    st.just(""),
    st.just("\ufeffdata: bom"),
)
EOL = st.sampled_from(["\n", "\n", "\n", "\r", "\r\n"])


@st.composite
def sse_body(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A body of lines of every kind, each with its own line end, and its event boundaries."""
    out = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    boundaries = []
    for line in draw(st.lists(LINE, max_size=25)):
        out += (line + draw(EOL)).encode()
        if line == "":
            boundaries.append(len(out))
    if draw(st.booleans()):
        out += ("data: " + draw(VALUE)).encode()  # an unfinished last line
    return out, boundaries


@st.composite
def chunked(draw: st.DrawFn) -> list[bytes]:
    body, boundaries = draw(sse_body())
    points = set(draw(st.lists(st.integers(0, len(body)), max_size=10)))  # anywhere, inside UTF-8 too
    if boundaries and draw(st.booleans()):
        points |= set(boundaries)  # at event boundaries: where the fast path fires
    points |= set(draw(st.sampled_from([[], [i for i in range(len(body)) if body[i : i + 6] == b"data: "]])))
    cuts = sorted(p for p in points if 0 < p < len(body))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


class _Plain(SSEDecoder):
    __slots__ = ()
    fast_path = False


def run(chunks: list[bytes], fast: bool, cap: int | None) -> tuple[list[tuple[Any, ...]], list[str], str | None]:
    """Events, tokens and the error (if any), with the fast path on or off."""
    decoder = SSEDecoder(cap) if fast else _Plain(cap)
    events: list[ServerSentEvent] = []
    error = None
    try:
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.flush()
    except NeureusError as exc:
        error = str(exc)
    tokens: list[str] = []
    state = StreamState()
    for event in events:
        try:
            step = state.consume(event, lambda: 0.0)
        except NeureusError as exc:
            tokens.append(f"<{type(exc).__name__}>")
            break
        if step is FINISHED:
            break
        if isinstance(step, str):
            tokens.append(step)
    return [(e.event, e.data, e.id, e.retry) for e in events], tokens, error


@SETTINGS
@given(chunks=chunked(), cap=st.sampled_from([None, None, 8, 40]))
@example(chunks=[b"event: x\n", b"data: y\n\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"data: a\ndata: b\n\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"data: a\n\ndata: b\n\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"da", b"data: x\n\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"data: x\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"data: a\nd", b"ata: b\n\n"], cap=None)
@example(chunks=[b"data: 0\n\n", b"data: " + b"x" * 20 + b"\n\n"], cap=8)
@example(chunks=[b"data: a\n", b"data: b\n\n"], cap=None)
@example(chunks=[b"retry: 5\n", b"data: x\n\n"], cap=None)
@example(chunks=[b"da", b"data: x\n\n"], cap=None)
@example(chunks=[b"data: a\r", b"\ndata: b\n\n"], cap=None)
@example(chunks=[b"data: x\n\n", b"\xef\xbb\xbfdata: y\n\n"], cap=None)
@example(chunks=[b"data: a\ndata: b\n\n"], cap=None)
@example(chunks=[b"data: " + b"x" * 20 + b"\n\n"], cap=8)
@example(chunks=[b"id: 4\n", b"data: y\n\n"], cap=None)
def test_fast_path_matches_the_plain_path(chunks: list[bytes], cap: int | None) -> None:
    assert run(chunks, True, cap) == run(chunks, False, cap)


def test_the_fast_path_does_fire_on_event_aligned_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Otherwise the differential test above would compare the plain path with itself.
    calls = []
    original = SSEDecoder._lines
    monkeypatch.setattr(SSEDecoder, "_lines", lambda self, lines: calls.append(1) or original(self, lines))
    decoder = SSEDecoder()
    decoder.feed(b"data: first\n\n")  # the first line goes the plain way (BOM check)
    calls.clear()
    assert [e.data for e in decoder.feed(b"data: second\n\n")] == ["second"]
    assert calls == []


JSONISH = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8,
    ).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.text(max_size=20),
)
PADDING = st.sampled_from(["", " ", "\n", "\t", "x", "}", " 1", "\ufeff"])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return json.dumps(a, sort_keys=True, allow_nan=True) == json.dumps(b, sort_keys=True, allow_nan=True)


@SETTINGS
@given(core=JSONISH, before=PADDING, after=PADDING)
@example(core='{"a": 1}', before="", after=" ")
@example(core='{"a": 1}', before="", after="x")
@example(core="NaN", before="", after="")
@example(core="", before="", after="")
def test_json_scanner_matches_json_loads(core: str, before: str, after: str) -> None:
    text = before + core + after
    try:
        expected: Any = json.loads(text)
    except ValueError as exc:
        expected = type(exc)
    try:
        got: Any = _loads(text)
    except ValueError as exc:
        got = type(exc)
    if isinstance(expected, type) or isinstance(got, type):
        assert got is expected or (issubclass(got, ValueError) and issubclass(expected, ValueError))
    else:
        assert _same(got, expected)
