"""BodyReader: every encoding stack decodes exactly as the stdlib does, in any chunking,
and the cap holds at the exact byte on the decoded size."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neureus import APIResponseValidationError
from neureus._body import BodyReader, _brotli

HAS_BROTLI = bool(_brotli())
CODINGS = ["gzip", "deflate", "raw-deflate"] + (["br"] if HAS_BROTLI else [])


def _apply(data: bytes, codings: list[str]) -> tuple[bytes, str]:
    names = []
    for name in codings:
        if name == "gzip":
            data = gzip.compress(data)
        elif name == "deflate":
            data = zlib.compress(data)
        elif name == "raw-deflate":  # "deflate" as many servers send it: no zlib wrapper
            compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            data = compressor.compress(data) + compressor.flush()
            name = "deflate"
        else:
            import brotli

            data = brotli.compress(data)
        names.append(name)
    return data, ", ".join(names)


def _read(raw: bytes, header: str, limit: int, cuts: list[int]) -> bytes:
    reader = BodyReader(header, limit)
    start = 0
    for cut in sorted({c % (len(raw) + 1) for c in cuts}):
        reader.feed(raw[start:cut])
        start = cut
    reader.feed(raw[start:])
    return reader.finish()


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=4096)
    | st.builds(lambda n, b: b * n, st.integers(1, 300_000), st.binary(min_size=1, max_size=3)),
    codings=st.lists(st.sampled_from(CODINGS), max_size=3),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
)
def test_decodes_any_stack_in_any_chunking(data: bytes, codings: list[str], cuts: list[int]) -> None:
    raw, header = _apply(data, codings)
    assert _read(raw, header, len(data), cuts) == data  # exactly at the cap: accepted


@pytest.mark.parametrize("codings", [[], ["gzip"], ["gzip", "gzip"], ["deflate", "gzip"]])
def test_one_byte_past_the_cap_is_refused(codings: list[str]) -> None:
    data = b"a" * 100_000
    raw, header = _apply(data, codings)
    with pytest.raises(APIResponseValidationError, match="max_response_bytes=99999"):
        _read(raw, header, len(data) - 1, [])


def test_a_bomb_stops_after_holding_at_most_the_cap() -> None:
    # 256 MiB of zeros in ~250 KB of gzip: the reader must stop near 1 MiB.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    raw = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(256)) + compressor.flush()
    reader = BodyReader("gzip", 1 << 20)
    with pytest.raises(APIResponseValidationError):
        reader.feed(raw)
    assert sum(map(len, reader._parts)) <= 1 << 20


@pytest.mark.parametrize(
    ("header", "raw"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage"),
        ("deflate", b"\xff\xff\xff"),
        ("gzip", gzip.compress(b"{}")[:-6]),
        ("zstd", b"x"),
    ],
)
def test_undecodable_bodies_are_typed_errors(header: str, raw: bytes) -> None:
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        reader = BodyReader(header, 1 << 20)
        reader.feed(raw)
        reader.finish()


def test_identity_and_unknown_case() -> None:
    assert _read(b"abc", "identity", 3, []) == b"abc"
    assert _read(gzip.compress(b"abc"), "GZIP", 3, [1]) == b"abc"


@pytest.mark.parametrize("header", ["gzip", "deflate", "gzip, gzip"] + (["br"] if HAS_BROTLI else []))
def test_an_empty_body_with_a_coding_is_empty(header: str) -> None:
    assert BodyReader(header, 10).finish() == b""
