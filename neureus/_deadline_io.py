"""Socket operations clipped to the running sync call's deadline (loaded with the pool).

httpcore applies a timeout per read, so response headers trickled a line at a time can
outlive any deadline. The SDK's own sync pool runs on :class:`DeadlineBackend`, whose
every connect, read and write ends by ``_CALL.read_by`` (a ``time.monotonic()`` set by
:class:`~neureus._transport.SyncTransport` for the call running on this thread).

:func:`buffered_only` uses the same clip to read without waiting: within it, a read that
would wait on the network fails at once (a deadline long past), while what httpcore has
already buffered is still handed out. A stream reads the rest of its body that way at
``done``, so that the pool keeps the connection when the body's end came with ``done``.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpcore

from ._transport import _CALL

__all__ = ["DeadlineBackend", "DeadlineStream", "buffered_only"]


def _clip(timeout: float | None, error: type[Exception]) -> float | None:
    read_by: float | None = getattr(_CALL, "read_by", None)
    if read_by is None:
        return timeout
    left = read_by - time.monotonic()
    if left <= 0:
        raise error("The deadline ran out.")
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def buffered_only() -> Iterator[None]:
    """Within: this thread's socket operations on a :class:`DeadlineStream` fail at once."""
    outer = getattr(_CALL, "read_by", None)
    _CALL.read_by = -math.inf
    try:
        yield
    finally:
        _CALL.read_by = outer


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write ends by the call's deadline, and whose
    idleness is checked once, when it is about to carry a request.

    httpcore asks every idle connection of the pool whether its socket is readable (the
    server closed it, or sent bytes nobody asked for) each time a request arrives or a
    response ends. Each ask is a ``poll`` that releases the GIL, under the pool's lock: with
    dozens of threads and as many idle connections, a call pays for dozens of GIL hand-offs
    while every other thread waits on that lock. Here the pool's sweep is told "not
    readable", and the one connection it picks is checked when the next request's first
    bytes are about to be written: readable then, it is refused with httpcore's own
    ``ConnectionNotAvailable``, so the pool closes it and takes another, and nothing has
    been sent on it. A connection the server closed is never used, as before; it leaves the
    pool when picked or when its keep-alive expires, not at the next sweep.
    """

    __slots__ = ("_reused", "_stream")

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._reused = False  # an answer was read since the last request was written

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._reused = True
        return self._stream.read(max_bytes, _clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._reused:  # the first bytes of a request on a connection that was idle
            self._reused = False
            if self._stream.get_extra_info("is_readable"):
                raise httpcore.ConnectionNotAvailable()
        self._stream.write(buffer, _clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._stream.start_tls(ssl_context, server_hostname, _clip(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return False  # the pool's sweep: checked in write() instead, see the class
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with every operation clipped to the call's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _clip(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = _clip(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)
