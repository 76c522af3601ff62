"""Reading a body within ``max_response_bytes``, whatever its ``content-encoding`` stack.

Pure: the shells hand raw bytes in as they arrive; :class:`BodyReader` decodes them
through every listed coding with a bounded output per step and counts what comes out, so
a 5 KB ``gzip, gzip`` reply that would inflate to 2 GiB stops at the cap having held at
most the cap plus one step. httpx's own decoders inflate a whole chunk at once, which is
why non-stream answers are read raw and decoded here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Final

from ._exceptions import APIResponseValidationError

__all__ = ["ACCEPT_ENCODING", "BodyReader", "too_large"]

_STEP: Final = 64 * 1024  # the most one decoding step may produce


_BROTLI: object = None  # the brotli module, loaded with the first br body


def _brotli() -> Any:
    global _BROTLI
    if _BROTLI is None:
        try:
            import brotli  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            brotli = False
        # Only a Decompressor whose output can be bounded (brotli >= 1.2) is safe to use.
        _BROTLI = brotli if brotli and hasattr(brotli.Decompressor(), "can_accept_more_data") else False
    return _BROTLI


ACCEPT_ENCODING: Final = "gzip, deflate"
"""What the SDK's own pool asks for (httpx would add br and zstd when their packages are
installed). A br body sent anyway is decoded, bounded, when brotli >= 1.2 is installed."""


class _Undecodable(Exception):
    pass


class _Zlib:
    """gzip, or deflate (zlib-wrapped as the RFC says, or raw as many servers send it:
    told apart by the zlib header's check bits, once two bytes have arrived)."""

    __slots__ = ("_fed", "_obj", "_pending")

    def __init__(self, gzip: bool) -> None:
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16) if gzip else None
        self._pending = b""
        self._fed = False

    def push(self, data: bytes) -> Iterator[bytes]:
        if not data and not self._fed:
            return
        self._fed = True
        obj = self._obj
        if obj is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            wrapped = data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            obj = self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            self._pending = b""
        try:
            out = obj.decompress(data, _STEP)
            while True:
                if out:
                    yield out
                if len(out) < _STEP and not obj.unconsumed_tail:
                    return
                out = obj.decompress(obj.unconsumed_tail, _STEP)
        except zlib.error as exc:
            raise _Undecodable(str(exc)) from None

    def finish(self) -> Iterator[bytes]:
        if not self._fed:  # an empty body: nothing was encoded
            return
        yield from self.push(b"")
        if self._obj is None or not self._obj.eof:
            raise _Undecodable("the compressed body ended early")


class _Brotli:
    __slots__ = ("_fed", "_obj")

    def __init__(self) -> None:
        self._obj = _brotli().Decompressor()
        self._fed = False

    def push(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        obj = self._obj
        try:
            out = obj.process(data, output_buffer_limit=_STEP)
            # Past the limit it keeps the rest of the input: drain it a step at a time.
            while out:
                yield out
                if obj.is_finished():
                    return
                out = obj.process(b"", output_buffer_limit=_STEP)
        except _brotli().error as exc:
            raise _Undecodable(str(exc)) from None

    def finish(self) -> Iterator[bytes]:
        if not self._fed:  # an empty body: nothing was encoded
            return
        yield from self.push(b"")
        if not self._obj.is_finished():
            raise _Undecodable("the compressed body ended early")


def _decoder(name: str) -> _Zlib | _Brotli | None:
    if name in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if name == "deflate":
        return _Zlib(gzip=False)
    if name == "br":
        if not _brotli():
            raise _Undecodable("br was sent but cannot be decoded safely here (install brotli >= 1.2)")
        return _Brotli()
    if name in ("", "identity"):
        return None
    raise _Undecodable(f"unknown content-encoding {name!r}")


def too_large(limit: int, operation: str = "") -> APIResponseValidationError:
    """The error for a body past ``max_response_bytes``."""
    where = f"{operation}: " if operation else ""
    size = f" ({limit / 1048576:g} MiB)" if limit >= 1048576 else ""
    return APIResponseValidationError(
        f"{where}the gateway's answer is larger than max_response_bytes={limit}{size} "
        "once decoded; it was not read further and the connection was closed. "
        "Raise max_response_bytes= on the client or with_options() if such answers are expected."
    )


class BodyReader:
    """Accumulates a body's decoded bytes; raises past ``limit`` (decoded or raw).

    ``feed`` takes raw bytes as they arrive, ``finish`` returns the decoded body. Both raise
    :class:`~neureus.APIResponseValidationError`: past the cap, or for a body that cannot
    be decoded (corrupt gzip, an unknown coding).
    """

    __slots__ = ("_decoders", "_limit", "_operation", "_parts", "_raw", "_size", "_status")

    def __init__(self, content_encoding: str | None, limit: int, operation: str = "", status: int = 200) -> None:
        self._limit = limit
        self._operation = operation
        self._status = status
        self._parts: list[bytes] = []
        self._size = 0
        self._raw = 0
        decoders: list[_Zlib | _Brotli] = []
        if content_encoding:
            try:
                # The header lists codings in the order they were applied: undo the last first.
                for name in reversed(content_encoding.lower().split(",")):
                    decoder = _decoder(name.strip())
                    if decoder is not None:
                        decoders.append(decoder)
            except _Undecodable as exc:
                raise self._undecodable(exc) from None
        self._decoders = decoders

    def _undecodable(self, exc: _Undecodable) -> APIResponseValidationError:
        where = f"{self._operation}: " if self._operation else ""
        return APIResponseValidationError(
            f"{where}the gateway's answer could not be decoded ({exc}).", status_code=self._status
        )

    def _take(self, out: bytes) -> None:
        self._size += len(out)
        if self._size > self._limit:
            raise too_large(self._limit, self._operation)
        self._parts.append(out)

    def _through(self, level: int, data: bytes, final: bool) -> None:
        if level == len(self._decoders):
            if data:
                self._take(data)
            return
        decoder = self._decoders[level]
        if data:
            for out in decoder.push(data):
                self._through(level + 1, out, False)
        if final:
            for out in decoder.finish():
                self._through(level + 1, out, False)
            self._through(level + 1, b"", True)

    def feed(self, raw: bytes) -> None:
        """Take the next raw bytes of the body."""
        if not self._decoders:
            self._take(raw)
            return
        # Raw bytes count too (with room for codings that grow incompressible data), so
        # an endless compressed body that decodes to nothing still ends.
        self._raw += len(raw)
        if self._raw > 2 * self._limit + 65536:
            raise too_large(self._limit, self._operation)
        try:
            self._through(0, raw, False)
        except _Undecodable as exc:
            raise self._undecodable(exc) from None

    def finish(self) -> bytes:
        """The whole decoded body (checks that every coding ended properly)."""
        if self._decoders:
            try:
                self._through(0, b"", True)
            except _Undecodable as exc:
                raise self._undecodable(exc) from None
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)
