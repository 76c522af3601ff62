"""StreamDecoder: a stream's raw chunks decode exactly as BodyReader decodes the whole
body, in any chunking, one piece of one bounded step (64 KiB) at a time, and only as asked for."""

from __future__ import annotations

import gzip
import itertools
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neureus import APIResponseValidationError
from neureus._body import BodyReader, StreamDecoder

from .test_body import CODINGS, HAS_BROTLI, _apply

STEP = 64 * 1024


def _chunks(raw: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=4096)
    | st.builds(lambda n, b: b * n, st.integers(1, 300_000), st.binary(min_size=1, max_size=3)),
    codings=st.lists(st.sampled_from(CODINGS), min_size=1, max_size=3),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
)
def test_pieces_join_to_what_body_reader_reads(data: bytes, codings: list[str], cuts: list[int]) -> None:
    raw, header = _apply(data, codings)
    decoder = StreamDecoder(header)
    reader = BodyReader(header, len(data))
    pieces = []
    for chunk in _chunks(raw, cuts):
        pieces.extend(decoder.pieces(chunk))
        reader.feed(chunk)
    pieces.extend(decoder.finish())
    # brotli's output_buffer_limit is a soft bound: it may overshoot by part of its window.
    assert all(0 < len(piece) <= (2 * STEP if "br" in codings else STEP) for piece in pieces)
    assert b"".join(pieces) == reader.finish() == data


def _gzip_gzip_bomb(decoded: int) -> bytes:
    block = b"x" * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)  # after a full flush: the same bytes
    return gzip.compress(first + repeat * ((decoded >> 20) - 1), 9)


def test_a_bomb_chunk_is_decoded_only_as_far_as_it_is_read() -> None:
    bomb = _gzip_gzip_bomb(1 << 30)  # one raw chunk of a few KB that inflates to 1 GiB
    decoder = StreamDecoder("gzip, gzip")
    tracemalloc.start()
    try:
        pieces = decoder.pieces(bomb)
        taken = [len(next(pieces)) for _ in range(64)]  # 4 MiB of it, a piece at a time
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert taken == [STEP] * 64
    assert peak < 2 * 1024 * 1024  # a few steps' worth held, never the 4 MiB read, let alone 1 GiB


def test_bytes_past_the_end_of_a_gzip_body_are_not_kept() -> None:
    decoder = StreamDecoder("gzip")
    assert b"".join(decoder.pieces(gzip.compress(b"data: {}\n\n"))) == b"data: {}\n\n"
    junk = b"\x00" * STEP
    tracemalloc.start()
    try:
        for _ in range(256):  # 16 MiB after the end: ignored, as httpx ignores it, and not buffered
            assert list(decoder.pieces(junk)) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    assert list(decoder.finish()) == []


@pytest.mark.parametrize(
    ("header", "raw", "where"),
    [
        ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 32, "pieces"),
        ("gzip", gzip.compress(b"data: x\n\n")[:-4], "finish"),
        ("compress", b"", "init"),
    ],
    ids=["corrupt", "cut-short", "unknown-coding"],
)
def test_undecodable_streams_are_typed_errors(header: str, raw: bytes, where: str) -> None:
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        decoder = StreamDecoder(header, status=200)
        assert where != "init"
        list(decoder.pieces(raw))
        assert where != "pieces"
        list(decoder.finish())


def test_identity_is_recognised() -> None:
    assert StreamDecoder("identity").identity
    assert StreamDecoder(" Identity ").identity
    assert not StreamDecoder("gzip").identity


@pytest.mark.parametrize("header", ["gzip", "deflate"])
@pytest.mark.parametrize("pattern", [b"a", b"data: {}\n\n", b"abcdefgh"])
def test_a_chunk_gives_all_it_decodes_to_before_the_next_arrives(header: str, pattern: bytes) -> None:
    # Whatever the bytes so far decode to comes out of this chunk's pieces, even when one
    # step fills up in the middle of a repeated string (an SSE event must not wait for the
    # next chunk of the network to be seen).
    data = pattern * ((STEP + 4096) // len(pattern))
    raw = gzip.compress(data) if header == "gzip" else zlib.compress(data)
    for cut in range(1, len(raw)):
        expected = zlib.decompressobj(zlib.MAX_WBITS | (16 if header == "gzip" else 0)).decompress(raw[:cut])
        assert b"".join(StreamDecoder(header).pieces(raw[:cut])) == expected


@pytest.mark.skipif(not HAS_BROTLI, reason="brotli >= 1.2 is not installed")
def test_a_br_chunk_is_decoded_a_bounded_step_at_a_time() -> None:
    import brotli  # type: ignore[import-untyped, unused-ignore]

    data = bytes(range(256)) * 8192  # 2 MiB from a few bytes of br
    pieces = list(StreamDecoder("br").pieces(brotli.compress(data)))
    assert b"".join(pieces) == data
    assert max(map(len, pieces)) <= 2 * STEP  # output_buffer_limit is soft, about 1.5 steps


@pytest.mark.parametrize("events", [1, 2, 3, 7])
@pytest.mark.parametrize("header", ["gzip", "deflate"])
def test_bad_bytes_in_a_chunk_cost_nothing_that_came_before_them(header: str, events: int) -> None:
    # zlib drops all the output of a call that meets bad bytes: a stream whose last events
    # share their chunk with garbage still gets those events, then the typed error.
    text = b"".join(b'data: {"delta": {"content": "%d"}}\n\n' % n for n in range(events))
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31 if header == "gzip" else 15)
    chunk = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH) + b"\xff" * 16
    pieces: list[bytes] = []
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        for piece in StreamDecoder(header).pieces(chunk):
            pieces.append(piece)
    assert b"".join(pieces) == text
    assert all(pieces)  # no empty pieces handed on
