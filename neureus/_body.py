"""Reading a body within ``max_response_bytes``, whatever its ``content-encoding`` stack.

Pure: the shells hand raw bytes in as they arrive; :class:`BodyReader` decodes them
through every listed coding with a bounded output per step and counts what comes out, so
a 5 KB ``gzip, gzip`` reply that would inflate to 2 GiB stops at the cap having held at
most the cap plus one step. httpx's own decoders inflate a whole chunk at once, which is
why non-stream answers are read raw and decoded here. A stream's raw chunks go through
:class:`StreamDecoder`, the same decoders handing out one bounded piece at a time, only
as the SSE decoder asks for it.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Generator, Iterator
from typing import Any, Final

from ._exceptions import APIResponseValidationError

__all__ = ["ACCEPT_ENCODING", "BodyReader", "StreamDecoder", "too_large"]

_STEP: Final = 64 * 1024  # the most one decoding step may produce
_CATCH_UP: Final = 4 << 20  # what a br stream's second decoder catches up on per chunk


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


def _up_to_the_error(obj: Any, data: bytes) -> Iterator[bytes]:
    """What ``data`` decodes to before its first bad byte, fed a byte at a time (a failed
    call only: at most one raw chunk). One byte of deflate data decodes to at most a few
    KB (its longest match is 258 bytes per few bits), so no step needs an output bound."""
    with contextlib.suppress(zlib.error):
        for at in range(len(data)):
            out = obj.decompress(data[at : at + 1])
            if out:
                yield out


class _Zlib:
    """gzip, or deflate (zlib-wrapped as the RFC says, or raw as many servers send it:
    told apart by the zlib header's check bits, once two bytes have arrived)."""

    __slots__ = ("_fed", "_obj", "_pending")

    def __init__(self, gzip: bool) -> None:
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16) if gzip else None
        self._pending = b""
        self._fed = False

    def push(self, data: bytes) -> Iterator[bytes]:
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
        if obj.eof:
            # Bytes past the end (another gzip member, trailing junk) are ignored, as httpx
            # does; never handed to zlib, which would keep them all in unused_data.
            return
        while True:
            # zlib drops all the output of a call that meets bad bytes: kept, the state before
            # it lets what came before them (a stream's last events) still be handed out.
            before = obj.copy()
            try:
                out = obj.decompress(data, _STEP)
            except zlib.error as exc:
                yield from _up_to_the_error(before, data)
                raise _Undecodable(str(exc)) from None
            if out:
                yield out
            data = obj.unconsumed_tail
            if len(out) < _STEP and not data:
                return

    def finish(self) -> None:
        # push() has handed out all it could decode; an empty body had nothing encoded.
        if self._fed and (self._obj is None or not self._obj.eof):
            raise _Undecodable("the compressed body ended early")


def _brotli_steps(obj: Any, data: bytes) -> Iterator[bytes]:
    """``data`` through a brotli decoder, a bounded step at a time."""
    out = obj.process(data, output_buffer_limit=_STEP)
    # Past the limit it keeps the rest of the input: drain it a step at a time.
    while out:
        yield out
        if obj.is_finished():
            return
        out = obj.process(b"", output_buffer_limit=_STEP)


def _brotli_up_to_the_error(obj: Any, data: bytes, handed: int) -> Generator[bytes, None, bool]:
    """What ``data`` decodes to before its first bad byte, fed a byte at a time (a failed
    call only: one raw chunk), less the first ``handed`` bytes (handed out before the
    failure); True when the brotli stream ended before a bad byte (the rest is ignored)."""
    with contextlib.suppress(_brotli().error):
        for at in range(len(data)):
            if obj.is_finished():
                break
            for out in _brotli_steps(obj, data[at : at + 1]):
                skip = min(handed, len(out))
                handed -= skip
                if skip < len(out):
                    yield out[skip:]
        return bool(obj.is_finished())
    return False  # a bad byte


class _Brotli:
    """br. Like zlib, brotli drops all the output of a call that meets bad bytes; its state
    cannot be copied, so a stream's decoder (``salvage``) keeps a second one a chunk behind:
    on bad bytes, it replays that chunk a byte at a time and hands out what came before
    them (a stream's last events). Bytes past the end of the brotli stream are ignored, as
    gzip's are. (br is decoded only when a server sends it unasked: the SDK asks for gzip.)"""

    __slots__ = ("_behind", "_fed", "_lag", "_obj")

    def __init__(self, salvage: bool = False) -> None:
        brotli = _brotli()
        self._obj = brotli.Decompressor()
        self._behind = brotli.Decompressor() if salvage else None
        self._lag = b""  # the last chunk, which the decoder behind has not had yet
        self._fed = False

    def push(self, data: bytes) -> Iterator[bytes]:
        self._fed = True
        obj, behind = self._obj, self._behind
        if obj.is_finished():
            return
        if behind is not None:
            # Catching up on the chunk before costs what decoding it did, in one go: a chunk
            # that decoded to more than _CATCH_UP bytes (a bomb, not a stream's events) ends
            # the salvage rather than doubling its cost.
            caught = 0
            for out in _brotli_steps(behind, self._lag):
                caught += len(out)
                if caught > _CATCH_UP:
                    behind = self._behind = None
                    break
            self._lag = data
        handed = 0
        try:
            for out in _brotli_steps(obj, data):
                handed += len(out)
                yield out
        except _brotli().error as exc:
            if behind is None:
                raise _Undecodable(str(exc)) from None
            self._obj, self._behind = behind, None
            if not (yield from _brotli_up_to_the_error(behind, data, handed)):
                raise _Undecodable(str(exc)) from None

    def finish(self) -> None:
        # push() has handed out all it could decode; an empty body had nothing encoded.
        if self._fed and not self._obj.is_finished():
            raise _Undecodable("the compressed body ended early")


def _decoder(name: str, salvage: bool) -> _Zlib | _Brotli | None:
    if name in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if name == "deflate":
        return _Zlib(gzip=False)
    if name == "br":
        if not _brotli():
            raise _Undecodable("br was sent but cannot be decoded safely here (install brotli >= 1.2)")
        return _Brotli(salvage)
    if name in ("", "identity"):
        return None
    raise _Undecodable(f"unknown content-encoding {name!r}")


def _stack(content_encoding: str, salvage: bool = False) -> list[_Zlib | _Brotli]:
    """The decoders of a ``content-encoding`` header, in the order to apply them
    (``salvage``: what comes before bad bytes is handed out, as a stream needs)."""
    decoders: list[_Zlib | _Brotli] = []
    # The header lists codings in the order they were applied: undo the last first.
    for name in reversed(content_encoding.lower().split(",")):
        decoder = _decoder(name.strip(), salvage)
        if decoder is not None:
            decoders.append(decoder)
    return decoders


def _decode(decoders: list[_Zlib | _Brotli], level: int, data: bytes, final: bool) -> Iterator[bytes]:
    """``data`` through ``decoders[level:]``, lazily: pieces of at most one step each, every
    step taken only when the next piece is asked for (``final``: the body ended)."""
    if level == len(decoders):
        if data:
            yield data
        return
    decoder = decoders[level]
    if data:
        for out in decoder.push(data):
            yield from _decode(decoders, level + 1, out, False)
    if final:
        decoder.finish()
        yield from _decode(decoders, level + 1, b"", True)


def _undecodable(exc: _Undecodable, operation: str, status: int) -> APIResponseValidationError:
    where = f"{operation}: " if operation else ""
    return APIResponseValidationError(f"{where}the gateway's answer could not be decoded ({exc}).", status_code=status)


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
        try:
            self._decoders = _stack(content_encoding) if content_encoding else []
        except _Undecodable as exc:
            raise _undecodable(exc, operation, status) from None

    def _take(self, out: bytes) -> None:
        self._size += len(out)
        if self._size > self._limit:
            raise too_large(self._limit, self._operation)
        self._parts.append(out)

    def _through(self, raw: bytes, final: bool) -> None:
        try:
            for out in _decode(self._decoders, 0, raw, final):
                self._take(out)
        except _Undecodable as exc:
            raise _undecodable(exc, self._operation, self._status) from None

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
        self._through(raw, False)

    def finish(self) -> bytes:
        """The whole decoded body (checks that every coding ended properly)."""
        if self._decoders:
            self._through(b"", True)
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


class StreamDecoder:
    """A stream's raw chunks decoded through its ``content-encoding`` stack, lazily.

    :meth:`pieces` turns one raw chunk into an iterator of decoded pieces of one
    bounded step each (64 KiB; brotli's limit is soft, about 1.5x that), every piece
    decoded only when asked for: the reader takes the
    next piece only once it has used the last, so a chunk that inflates to gigabytes is
    never held (the caller caps what it keeps, e.g. one SSE event). Use each iterator up
    before the next call; :meth:`finish` checks, at the end of the body, that every coding
    ended. Both raise :class:`~neureus.APIResponseValidationError` for a body that cannot
    be decoded, as does the constructor for a coding it cannot decode.
    """

    __slots__ = ("_decoders", "_operation", "_status")

    def __init__(self, content_encoding: str, operation: str = "", status: int = 200) -> None:
        self._operation = operation
        self._status = status
        try:
            self._decoders = _stack(content_encoding, salvage=True)
        except _Undecodable as exc:
            raise _undecodable(exc, operation, status) from None

    @property
    def identity(self) -> bool:
        """Whether the stack is empty (``identity``): raw bytes are the decoded bytes."""
        return not self._decoders

    def _checked(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from pieces
        except _Undecodable as exc:
            raise _undecodable(exc, self._operation, self._status) from None

    def pieces(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw chunk, a step each, as they are asked for."""
        return self._checked(_decode(self._decoders, 0, raw, False))

    def finish(self) -> Iterator[bytes]:
        """The last decoded pieces, once the body has ended (raises if a coding did not)."""
        return self._checked(_decode(self._decoders, 0, b"", True))
