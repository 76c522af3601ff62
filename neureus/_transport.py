"""The I/O shells: send, receive, sleep and await; nothing else.

:class:`SyncTransport` and :class:`AsyncTransport` drive :func:`neureus._retry.request_flow`
(every decision is made there) and translate httpx exceptions at this boundary, so no raw
httpx exception reaches a caller. :class:`SyncEventSource` and :class:`AsyncEventSource`
pull an open response's bytes into the pure :class:`~neureus._sse.SSEDecoder`, one chunk
at a time, so an event is handed on the moment it is complete.

The two driver loops below are the irreducible sync/async twin (DESIGN.md): they differ
only in ``await``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from httpx_sse import ServerSentEvent

from ._config import ClientConfig
from ._exceptions import APIConnectionError, APITimeoutError, translate_transport_error
from ._retry import FlowResult, PullFirstEvent, SendRequest, Sleep, request_flow
from ._wire import RequestSpec, http_request_args

if TYPE_CHECKING:
    from ._usage import Ledger

__all__ = ["AsyncEventSource", "AsyncTransport", "SyncEventSource", "SyncTransport"]


_DRAIN_PULLS = 16


def _seconds_left(read_by: float | None) -> float:
    return float("inf") if read_by is None else read_by - time.monotonic()


class _EventSourceBase:
    __slots__ = ("_decoder", "_ended", "_queue", "response")

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        from ._sse import SSEDecoder  # loaded with the first stream, not with the package

        self._decoder = SSEDecoder()
        self._queue: deque[ServerSentEvent] = deque()
        self._ended = False

    def buffered(self) -> ServerSentEvent | None:
        """The next event if it is already decoded, else ``None``; no I/O."""
        queue = self._queue
        return queue.popleft() if queue else None

    def _take(self, chunk: bytes | None) -> None:
        # None marks the end of the body.
        if chunk is None:
            self._ended = True
            self._queue.extend(self._decoder.flush())
        else:
            self._queue.extend(self._decoder.feed(chunk))


class SyncEventSource(_EventSourceBase):
    """Decoded events of an open sync response, pulled one at a time."""

    __slots__ = ("_chunks",)

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self._chunks: Iterator[bytes] = response.iter_bytes()

    def next(self, read_by: float | None = None) -> ServerSentEvent | None:
        """The next event; ``None`` at the end of the body; ``APIConnectionError`` if it broke
        (``APITimeoutError`` when ``read_by``, a ``time.monotonic()``, passes first)."""
        queue = self._queue
        while not queue:
            if self._ended:
                return None
            try:
                chunk: bytes | None = next(self._chunks, None)
            except httpx.HTTPError as exc:
                raise translate_transport_error(exc) from exc
            self._take(chunk)
            if read_by is not None and not queue and time.monotonic() > read_by:
                raise APITimeoutError("The deadline ran out before the stream's first event.")
        return queue.popleft()

    def close(self) -> None:
        """Release the connection."""
        self._ended = True
        self.response.close()


class AsyncEventSource(_EventSourceBase):
    """Decoded events of an open async response, pulled one at a time."""

    __slots__ = ("_chunks",)

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()

    async def next(self) -> ServerSentEvent | None:
        """The next event; ``None`` at the end of the body; ``APIConnectionError`` if it broke."""
        queue = self._queue
        while not queue:
            if self._ended:
                return None
            try:
                chunk: bytes | None = await anext(self._chunks, None)
            except httpx.HTTPError as exc:
                raise translate_transport_error(exc) from exc
            self._take(chunk)
        return queue.popleft()

    async def aclose(self) -> None:
        """Release the connection, even inside a cancelled scope."""
        self._ended = True
        with anyio.CancelScope(shield=True):
            await self.response.aclose()
            # httpx's byte iterator is a stack of nested async generators (down to httpcore's).
            # Closing only the outer one would leave the inner ones half-run for the garbage
            # collector, which trio reports as a ResourceWarning. With the response closed, a
            # pull makes the innermost raise (or hands out what was already buffered), which
            # finishes every layer in order. Bounded, so a transport that never stops cannot
            # keep us here.
            with contextlib.suppress(Exception):
                for _ in range(_DRAIN_PULLS):
                    if await anext(self._chunks, None) is None:
                        break
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


class _LazySyncTransport(httpx.BaseTransport):
    """httpx's default transport, built on the first request (importing httpcore and
    loading the CA bundle take longer than importing the SDK)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._transport: httpx.HTTPTransport | None = None

    def _get(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._transport is None:
                self._transport = httpx.HTTPTransport(limits=self._limits)
            return self._transport

    @property
    def _pool(self) -> Any:
        # httpx.HTTPTransport's attribute, for code that inspects the pool.
        return self._get()._pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport or self._get()
        return transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _LazyAsyncTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`_LazySyncTransport` (built inside the event loop, no await)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transport: httpx.AsyncHTTPTransport | None = None

    def _get(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(limits=self._limits)
        return self._transport

    @property
    def _pool(self) -> Any:
        # httpx.AsyncHTTPTransport's attribute, for code that inspects the pool.
        return self._get()._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await (self._transport or self._get()).handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def lazy_transport(asynchronous: bool, limits: httpx.Limits) -> Any:
    """A transport for a client-owned pool that builds httpx's default one on first use."""
    return _LazyAsyncTransport(limits) if asynchronous else _LazySyncTransport(limits)


class _TransportBase:
    __slots__ = ("config", "ledger")

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.ledger: Ledger | None = None  # the client's usage ledger (set by the client)

    def _flow(self, spec: RequestSpec, client_timeout: httpx.Timeout) -> Any:
        timeout = spec.timeout if spec.timeout is not None else self.config.timeout
        deadline = spec.deadline if spec.deadline is not None else self.config.deadline
        if timeout is None and deadline is not None:
            timeout = client_timeout
        flow = request_flow(
            spec,
            policy=self.config.retry_policy,
            max_retries=self.config.max_retries,
            timeout=timeout,
            deadline=deadline,
            secrets=self.config.secrets + spec.secrets,
        )
        # The ledger sees every call of both flavours here: budget, retries, outcome.
        return flow if self.ledger is None else self.ledger.observe(self.config, spec, flow)

    def _request_args(self, spec: RequestSpec, action: SendRequest) -> dict[str, Any]:
        return http_request_args(self.config, spec, action.timeout)


class SyncTransport(_TransportBase):
    """Sends calls over a sync ``httpx.Client``."""

    __slots__ = ("http",)

    def __init__(self, http: httpx.Client, config: ClientConfig) -> None:
        super().__init__(config)
        self.http = http

    def request(self, spec: RequestSpec) -> httpx.Response:
        """Send a call with its retries; return the successful, read response."""
        return self._drive(spec)[0].response

    def open_stream(self, spec: RequestSpec) -> tuple[SyncEventSource, ServerSentEvent]:
        """Open a stream, retrying until its first event; return the source and that event."""
        result, source = self._drive(spec)
        assert source is not None and result.first_event is not None
        return source, result.first_event

    def _send(self, spec: RequestSpec, action: SendRequest) -> httpx.Response | APIConnectionError:
        read_by = action.read_by
        try:
            request = self.http.build_request(**self._request_args(spec, action))
            response = self.http.send(request, stream=spec.stream or read_by is not None)
        except httpx.HTTPError as exc:
            return translate_transport_error(exc)
        if spec.stream and response.status_code < 300:
            return response
        if read_by is not None:
            return self._read_within(response, read_by)
        if spec.stream:
            try:
                response.read()
            except httpx.HTTPError as exc:
                response.close()
                return translate_transport_error(exc)
        return response

    @staticmethod
    def _read_within(response: httpx.Response, read_by: float) -> httpx.Response | APIConnectionError:
        if response.is_stream_consumed:  # an in-memory transport hands it over already read
            return response
        pieces = []
        try:
            for piece in response.iter_raw():
                pieces.append(piece)
                if time.monotonic() > read_by:
                    response.close()
                    return APITimeoutError("The deadline ran out while the answer was still arriving.")
        except httpx.HTTPError as exc:
            response.close()
            return translate_transport_error(exc)
        return httpx.Response(
            response.status_code, headers=response.headers, content=b"".join(pieces), request=response.request
        )

    def _drive(self, spec: RequestSpec) -> tuple[FlowResult, SyncEventSource | None]:
        flow = self._flow(spec, self.http.timeout)
        source: SyncEventSource | None = None
        outcome: Any = None
        try:
            while True:
                action = flow.send(outcome)
                if type(action) is SendRequest:
                    outcome = self._send(spec, action)
                elif type(action) is PullFirstEvent:
                    source = SyncEventSource(action.response)
                    try:
                        outcome = source.next(action.read_by)
                    except APIConnectionError as exc:
                        outcome = exc
                elif type(action) is Sleep:
                    time.sleep(action.seconds)
                    outcome = None
                else:
                    (source or action).response.close()
                    outcome = source = None
        except StopIteration as stop:
            return stop.value, source
        except BaseException:
            if source is not None:
                source.close()
            raise


class AsyncTransport(_TransportBase):
    """Sends calls over an ``httpx.AsyncClient``."""

    __slots__ = ("http",)

    def __init__(self, http: httpx.AsyncClient, config: ClientConfig) -> None:
        super().__init__(config)
        self.http = http

    async def request(self, spec: RequestSpec) -> httpx.Response:
        """Send a call with its retries; return the successful, read response."""
        return (await self._drive(spec))[0].response

    async def open_stream(self, spec: RequestSpec) -> tuple[AsyncEventSource, ServerSentEvent]:
        """Open a stream, retrying until its first event; return the source and that event."""
        result, source = await self._drive(spec)
        assert source is not None and result.first_event is not None
        return source, result.first_event

    async def _send(self, spec: RequestSpec, action: SendRequest) -> httpx.Response | APIConnectionError:
        read_by = action.read_by
        try:
            request = self.http.build_request(**self._request_args(spec, action))
            response = await self.http.send(request, stream=spec.stream or read_by is not None)
        except httpx.HTTPError as exc:
            return translate_transport_error(exc)
        if (spec.stream and response.status_code < 300) or not (spec.stream or read_by is not None):
            return response
        with anyio.move_on_after(_seconds_left(read_by)) as scope:
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                await response.aclose()
                return translate_transport_error(exc)
        if scope.cancelled_caught:
            with anyio.CancelScope(shield=True):
                await response.aclose()
            return APITimeoutError("The deadline ran out while the answer was still arriving.")
        return response

    async def _drive(self, spec: RequestSpec) -> tuple[FlowResult, AsyncEventSource | None]:
        flow = self._flow(spec, self.http.timeout)
        source: AsyncEventSource | None = None
        outcome: Any = None
        try:
            while True:
                action = flow.send(outcome)
                if type(action) is SendRequest:
                    outcome = await self._send(spec, action)
                elif type(action) is PullFirstEvent:
                    source = AsyncEventSource(action.response)
                    outcome = APITimeoutError("The deadline ran out before the stream's first event.")
                    with anyio.move_on_after(_seconds_left(action.read_by)):
                        try:
                            outcome = await source.next()
                        except APIConnectionError as exc:
                            outcome = exc
                elif type(action) is Sleep:
                    await anyio.sleep(action.seconds)
                    outcome = None
                else:
                    await (source.aclose() if source is not None else action.response.aclose())
                    outcome = source = None
        except StopIteration as stop:
            return stop.value, source
        except BaseException:
            # Cancelled mid-flow: never leave an opened stream behind.
            if source is not None:
                await source.aclose()
            raise
