"""BodyReader: every encoding stack decodes exactly as the stdlib does, in any chunking,
and the cap holds at the exact byte on the decoded size."""

from __future__ import annotations

import gzip
import sys
import types
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neureus import APIResponseValidationError, _body
from neureus._body import BodyReader, StreamDecoder, _brotli, too_large

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


# ---- what the errors say --------------------------------------------------------------


def _library_reason(header: str, raw: bytes) -> str:
    """The decoding library's own words for what is wrong with ``raw``."""
    try:
        if header == "br":
            import brotli  # type: ignore[import-untyped, unused-ignore]

            brotli.Decompressor().process(raw)
        else:
            zlib.decompressobj(-zlib.MAX_WBITS if header == "deflate" else zlib.MAX_WBITS | 16).decompress(raw)
    except Exception as exc:  # zlib.error or brotli.error
        return str(exc)
    raise AssertionError("the sample should be undecodable")


def _truncated_br() -> bytes:
    import brotli  # type: ignore[import-untyped, unused-ignore]

    return bytes(brotli.compress(b"x" * 1000))[:-3]


UNDECODABLE = [
    ("zstd", b"", "unknown content-encoding 'zstd'"),
    ("deflate", b"\xff\xff\xff", _library_reason("deflate", b"\xff\xff\xff")),
    ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 32, _library_reason("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 32)),
    ("gzip", gzip.compress(b"{}")[:-6], "the compressed body ended early"),  # cut in its trailer
    ("deflate", b"\x78", "the compressed body ended early"),  # one byte: not even a header
    ("gzip, gzip", gzip.compress(gzip.compress(b"{}")[:-6]), "the compressed body ended early"),  # the inner one
]
if HAS_BROTLI:
    UNDECODABLE += [
        ("br", b"\xff\xff\xff\xff", _library_reason("br", b"\xff\xff\xff\xff")),
        ("br", _truncated_br(), "the compressed body ended early"),
    ]


def _reader_error(header: str, raw: bytes, **where: Any) -> APIResponseValidationError:
    with pytest.raises(APIResponseValidationError) as caught:
        reader = BodyReader(header, 1 << 20, **where)
        reader.feed(raw)
        reader.finish()
    return caught.value


def _stream_error(header: str, raw: bytes, **where: Any) -> APIResponseValidationError:
    with pytest.raises(APIResponseValidationError) as caught:
        decoder = StreamDecoder(header, **where)
        list(decoder.pieces(raw))
        list(decoder.finish())
    return caught.value


@pytest.mark.parametrize("read", [_reader_error, _stream_error], ids=["body", "stream"])
@pytest.mark.parametrize(("header", "raw", "reason"), UNDECODABLE, ids=[f"{h}-{r[:20]}" for h, _, r in UNDECODABLE])
def test_undecodable_bodies_say_why_where_and_with_what_status(
    read: Callable[..., APIResponseValidationError], header: str, raw: bytes, reason: str
) -> None:
    plain = read(header, raw)
    assert str(plain) == f"the gateway's answer could not be decoded ({reason})."
    assert plain.status_code == 200
    named = read(header, raw, operation="chat", status=203)
    assert str(named) == f"chat: the gateway's answer could not be decoded ({reason})."
    assert named.status_code == 203


def test_too_large_says_the_limit_in_bytes_and_mebibytes() -> None:
    advice = (
        " once decoded; it was not read further and the connection was closed. "
        "Raise max_response_bytes= on the client or with_options() if such answers are expected."
    )
    assert str(too_large(1048575)) == "the gateway's answer is larger than max_response_bytes=1048575" + advice
    assert str(too_large(1048576, "chat")) == (
        "chat: the gateway's answer is larger than max_response_bytes=1048576 (1 MiB)" + advice
    )
    assert "max_response_bytes=1572864 (1.5 MiB) once" in str(too_large(1572864))


def test_past_the_cap_names_the_operation() -> None:
    reader = BodyReader("gzip", 10, operation="chat")
    with pytest.raises(
        APIResponseValidationError, match=r"^chat: the gateway's answer is larger than max_response_bytes=10 "
    ):
        reader.feed(gzip.compress(b"x" * 11))
    with pytest.raises(APIResponseValidationError, match=r"^chat: .* max_response_bytes=10 "):
        BodyReader(None, 10, operation="chat").feed(b"x" * 11)


def test_raw_bytes_that_decode_to_nothing_still_count() -> None:
    # An endless compressed body that decodes to (almost) nothing must still end: raw bytes
    # count up to twice the cap plus 64 KiB (bytes after a gzip body's end are ignored).
    cap = 2 * 10 + 65536
    body = gzip.compress(b"hello")
    padded = body + bytes(cap - len(body))
    reader = BodyReader("gzip", 10)
    reader.feed(padded[: cap // 2])
    reader.feed(padded[cap // 2 :])
    assert reader.finish() == b"hello"  # exactly at the raw limit: read
    reader = BodyReader("gzip", 10, operation="chat")
    reader.feed(padded[: cap // 2])
    with pytest.raises(APIResponseValidationError, match=r"^chat: .* max_response_bytes=10 once decoded"):
        reader.feed(padded[cap // 2 :] + b"\x00")  # one byte more


# ---- which codings are read -------------------------------------------------------------


def test_x_gzip_empty_and_missing_codings() -> None:
    assert _read(gzip.compress(b"abc"), "x-gzip", 3, []) == b"abc"
    assert _read(gzip.compress(b"abc"), "gzip, ", 3, []) == b"abc"  # an empty item in the list: no coding
    assert _read(b"abc", "", 3, []) == b"abc"
    reader = BodyReader(None, 3)  # no content-encoding header at all
    reader.feed(b"abc")
    assert reader.finish() == b"abc"
    assert StreamDecoder(" , identity").identity


def test_deflate_is_told_apart_by_its_header_check_bits() -> None:
    # The shortest raw deflate body (an empty final block): two bytes, decoded once both are in.
    assert _read(b"\x03\x00", "deflate", 0, []) == b""
    assert _read(b"\x03\x00", "deflate", 0, [1]) == b""
    # Raw deflate whose first two bytes pass the zlib check (a multiple of 31) but whose
    # first byte names no zlib method (the low 4 bits are not 8): raw.
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = compressor.compress(b"58 ok") + compressor.flush()
    assert ((raw[0] << 8) | raw[1]) % 31 == 0 and raw[0] & 0x0F != 8
    assert _read(raw, "deflate", 5, []) == b"58 ok"
    # Raw deflate whose first byte names the zlib method (8: a stored block with its padding
    # bits set, which the format ignores) but whose check bits fail: raw too.
    raw = bytes([0x08, 5, 0, 0xFA, 0xFF]) + b"hello" + b"\x03\x00"
    assert ((raw[0] << 8) | raw[1]) % 31 != 0
    assert _read(raw, "deflate", 5, []) == b"hello"


def _old_brotli() -> types.ModuleType:
    module = types.ModuleType("brotli")

    class Decompressor:  # brotli < 1.2: no way to bound what one step puts out
        def process(self, data: bytes) -> bytes:
            raise AssertionError("an unbounded decoder must not be used")

    module.Decompressor = Decompressor  # type: ignore[attr-defined]
    module.error = Exception  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("installed", ["none", "old"])
def test_br_is_refused_without_a_bounded_brotli(monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    monkeypatch.setattr(_body, "_BROTLI", None)  # look brotli up again
    monkeypatch.setitem(sys.modules, "brotli", None if installed == "none" else _old_brotli())
    for make in (lambda: BodyReader("br", 10), lambda: StreamDecoder("gzip, br")):
        with pytest.raises(APIResponseValidationError) as caught:
            make()
        assert str(caught.value) == (
            "the gateway's answer could not be decoded "
            "(br was sent but cannot be decoded safely here (install brotli >= 1.2))."
        )
    assert _read(gzip.compress(b"abc"), "gzip", 3, []) == b"abc"  # the other codings still work


def test_br_is_decoded_with_a_bounded_brotli(monkeypatch: pytest.MonkeyPatch) -> None:
    brotli = pytest.importorskip("brotli")
    if not hasattr(brotli.Decompressor(), "can_accept_more_data"):
        pytest.skip("brotli < 1.2 is installed")
    monkeypatch.setattr(_body, "_BROTLI", None)  # look brotli up again
    assert _read(brotli.compress(b"abc"), "br", 3, []) == b"abc"
