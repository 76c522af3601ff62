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

from ._idle_check import IdleChecked
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


class DeadlineStream(IdleChecked, httpcore.NetworkStream):
    """A network stream whose every read and write ends by the call's deadline, checked
    once before each request it carries after the first (see :mod:`neureus._idle_check`)."""

    __slots__ = ("_reused", "_stream")
    _stream: httpcore.NetworkStream

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._reused = False  # an answer was read since the last request was written

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._reused = True
        return self._stream.read(max_bytes, _clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._reused and self._spoiled():
            raise httpcore.ConnectionNotAvailable()
        self._stream.write(buffer, _clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._stream.start_tls(ssl_context, server_hostname, _clip(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner)


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
