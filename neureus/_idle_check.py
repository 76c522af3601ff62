"""Pool connections checked once, when they are about to carry a request (loaded with a pool).

httpcore asks every idle connection of a pool whether its socket is readable (the server
closed it, or wrote bytes nobody asked for) each time a request arrives and each time a
response ends. Each ask is a ``poll`` (and, on anyio, a ``getpeername`` and a dict of
attributes): with dozens of calls in flight and as many idle connections, a call pays for
dozens of them. In the sync pool each also releases the GIL under the pool's lock, so the
other threads queue behind it.

The SDK's own pools answer that sweep "not readable" and check the one connection the pool
picked when the next request's first bytes are about to be written. Readable then, it is
refused with httpcore's own ``ConnectionNotAvailable``: the pool closes it and takes
another, and nothing has been sent on it. So a connection the server closed or wrote to is
never used, as before; it leaves the pool when picked or when its keep-alive expires, not at
the next sweep. :class:`IdleChecked` is that decision, shared by the sync pool's
:class:`~neureus._deadline_io.DeadlineStream` and the async pool's :class:`AsyncIdleCheckedStream`.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore

__all__ = ["AsyncIdleCheckedBackend", "AsyncIdleCheckedStream", "IdleChecked"]


class IdleChecked:
    """The sweep's answer and the check before a request, for a stream wrapping ``_stream``.

    The wrapping stream sets ``_reused`` when it reads (an answer arrived, so the next write
    starts a new request on a connection that may have sat idle) and, when it is set, calls
    :meth:`_spoiled` before it writes.
    """

    _stream: Any
    _reused: bool

    def _spoiled(self) -> bool:
        """Whether this write starts a request on a connection the server closed or wrote
        to while it sat idle (then it must not be used)."""
        self._reused = False
        return bool(self._stream.get_extra_info("is_readable"))

    def get_extra_info(self, info: str) -> Any:
        """The wrapped stream's, except ``is_readable``: the pool's sweep is answered "no"."""
        if info == "is_readable":
            return False
        return self._stream.get_extra_info(info)


class AsyncIdleCheckedStream(IdleChecked, httpcore.AsyncNetworkStream):
    """An async network stream checked once, before each request it carries after the first."""

    __slots__ = ("_reused", "_stream")
    _stream: httpcore.AsyncNetworkStream

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._reused = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._reused = True
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._reused and self._spoiled():
            raise httpcore.ConnectionNotAvailable()
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return AsyncIdleCheckedStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))


class AsyncIdleCheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's async backend, its streams wrapped in :class:`AsyncIdleCheckedStream`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return AsyncIdleCheckedStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return AsyncIdleCheckedStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
