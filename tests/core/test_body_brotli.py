"""br in a stream: bad bytes cost nothing decoded before them, bytes past the end are
ignored (as gzip's are), and a whole body still fails on bad bytes. brotli drops the output
of a call that meets bad bytes, as zlib does; its state cannot be copied as zlib's can."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neureus import APIResponseValidationError
from neureus._body import BodyReader, StreamDecoder

from .test_body import HAS_BROTLI

pytestmark = pytest.mark.skipif(not HAS_BROTLI, reason="brotli >= 1.2 is not installed")

STEP = 64 * 1024
GARBAGE = b"\xff" * 16


def _events(count: int) -> bytes:
    return b"".join(b'data: {"delta": {"content": "%d"}}\n\n' % n for n in range(count))


def _flushed(*parts: bytes, end: bool = False) -> list[bytes]:
    import brotli  # type: ignore[import-untyped, unused-ignore]

    compressor = brotli.Compressor()
    chunks = [compressor.process(part) + compressor.flush() for part in parts]
    if end:
        chunks[-1] += compressor.finish()
    return chunks


def _read(decoder: StreamDecoder, chunks: list[bytes], pieces: list[bytes]) -> None:
    for chunk in chunks:
        for piece in decoder.pieces(chunk):
            assert piece  # no empty pieces handed on
            assert len(piece) <= 2 * STEP  # output_buffer_limit is soft
            pieces.append(piece)
    for piece in decoder.finish():
        pieces.append(piece)


@pytest.mark.parametrize("events", [1, 2, 3, 7])
@pytest.mark.parametrize("chunks_before", [0, 1, 3])
def test_bad_bytes_in_a_chunk_cost_nothing_that_came_before_them(events: int, chunks_before: int) -> None:
    earlier = [_events(2) for _ in range(chunks_before)]
    chunks = _flushed(*earlier, _events(events))
    chunks[-1] += GARBAGE
    pieces: list[bytes] = []
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        _read(StreamDecoder("br"), chunks, pieces)
    assert b"".join(pieces) == b"".join(earlier) + _events(events)


def test_bad_bytes_after_many_steps_in_the_same_chunk_hand_nothing_out_twice() -> None:
    # brotli hands out megabytes of this chunk before it meets the bad bytes (it looks
    # ahead only so far): what the replay decodes again is not handed out again.
    text = b"a" * 10_000_000 + _events(3)
    chunks = _flushed(_events(1), text)
    chunks[-1] += GARBAGE
    pieces: list[bytes] = []
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        _read(StreamDecoder("br"), chunks, pieces)
    assert len(pieces) > 10  # many pieces came out before the failure
    assert b"".join(pieces) == _events(1) + text


def _byte_at_a_time(raw: bytes) -> tuple[bytes, bool]:
    """The reference: ``raw`` fed to brotli a byte at a time, which loses nothing before a
    bad byte (each call has one byte); the output, and whether the brotli stream ended."""
    import brotli

    decoder = brotli.Decompressor()
    out: list[bytes] = []
    for at in range(len(raw)):
        if decoder.is_finished():
            return b"".join(out), True
        try:
            out.append(decoder.process(raw[at : at + 1]))
        except brotli.error:
            return b"".join(out), False
    return b"".join(out), decoder.is_finished()


@settings(max_examples=80, deadline=None)
@given(
    parts=st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=5),
    garbage=st.binary(min_size=1, max_size=40),
    cut=st.integers(0, 1 << 16),
    end=st.booleans(),
    splits=st.lists(st.integers(0, 1 << 16), max_size=6),
)
def test_wherever_bad_bytes_fall_a_stream_hands_out_what_a_byte_at_a_time_decodes(
    parts: list[bytes], garbage: bytes, cut: int, end: bool, splits: list[int]
) -> None:
    # Garbage spliced into the last flushed part, then the body cut into reads anywhere.
    chunks = _flushed(*parts, end=end)
    at = cut % (len(chunks[-1]) + 1)
    chunks[-1] = chunks[-1][:at] + garbage + chunks[-1][at:]
    raw = b"".join(chunks)
    edges = [0, *sorted({s % (len(raw) + 1) for s in splits}), len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(edges)]
    expected, ended = _byte_at_a_time(raw)
    pieces: list[bytes] = []
    try:
        _read(StreamDecoder("br"), chunks, pieces)
    except APIResponseValidationError:
        assert not ended
    else:
        assert ended
    assert b"".join(pieces) == expected


@pytest.mark.parametrize("same_chunk", [True, False], ids=["same-chunk", "next-chunk"])
def test_bytes_past_the_end_are_ignored(same_chunk: bool) -> None:
    chunks = _flushed(_events(1), _events(2), end=True)
    if same_chunk:
        chunks[-1] += GARBAGE
    else:
        chunks.append(GARBAGE)
    pieces: list[bytes] = []
    _read(StreamDecoder("br"), chunks, pieces)
    assert b"".join(pieces) == _events(1) + _events(2)


def test_a_whole_body_with_bad_bytes_still_fails() -> None:
    # Only a stream hands out what came before bad bytes; a body that does not decode is refused.
    chunk = _flushed(_events(3))[0] + GARBAGE
    reader = BodyReader("br", 1 << 20)
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        reader.feed(chunk)
        reader.finish()


def test_a_stream_cut_short_is_still_an_error() -> None:
    pieces: list[bytes] = []
    with pytest.raises(APIResponseValidationError, match="ended early"):
        _read(StreamDecoder("br"), _flushed(_events(2)), pieces)
    assert b"".join(pieces) == _events(2)


def test_a_chunk_past_the_catch_up_bound_ends_the_salvage_not_the_stream() -> None:
    # The second decoder catches up on each chunk in one go: after a chunk that decoded to
    # more than 4 MiB (a bomb), it is dropped instead of paying for that chunk twice.
    # The stream reads on; only what bad bytes later share a read with is lost.
    bomb = b": ping\n\n" * ((4 << 20) // 8 + 1)
    chunks = _flushed(_events(1), bomb, _events(2), _events(3))
    chunks[-1] += GARBAGE
    pieces: list[bytes] = []
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        _read(StreamDecoder("br"), chunks, pieces)
    assert b"".join(pieces) == _events(1) + bomb + _events(2)
    # At the bound, the last chunk's events still come out.
    under = b": ping\n\n" * ((4 << 20) // 8)
    chunks = _flushed(_events(1), under, _events(3))
    chunks[-1] += GARBAGE
    pieces = []
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        _read(StreamDecoder("br"), chunks, pieces)
    assert b"".join(pieces) == _events(1) + under + _events(3)
