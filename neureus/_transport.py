"""The I/O shells: send, receive, sleep and await; nothing else.

:class:`SyncTransport` and :class:`AsyncTransport` drive :func:`neureus._retry.request_flow`
(every decision is made there) and translate httpx exceptions at this boundary, so no raw
httpx exception reaches a caller. A stream's first event is pulled by the event sources
of :mod:`neureus._event_source`.

The two driver loops below are the irreducible sync/async twin (DESIGN.md): they differ
only in ``await``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
import httpx

from ._body import BodyReader, too_large
from ._config import ClientConfig
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    NeureusError,
)
from ._redact import NO_SECRETS
from ._retry import (
    CloseResponse,
    Failed,
    FlowResult,
    PullFirstEvent,
    SendRequest,
    Sleep,
    failure_from,
    request_flow,
)
from ._wire import RequestSpec, _shown_header, base_headers, http_request_args

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent

    from ._event_source import AsyncEventSource, SyncEventSource
    from ._hooks import CallObserver, HookDispatcher
    from ._usage import Call, Ledger

    Observer = Call | CallObserver

__all__ = ["AsyncTransport", "SyncTransport", "shared_ledger"]

_T = TypeVar("_T")
Parse = Callable[[httpx.Response], Any]


def _seconds_left(read_by: float | None) -> float:
    return float("inf") if read_by is None else read_by - time.monotonic()


_DRAIN_PULLS = 16


# --- the SDK's own pool ------------------------------------------------------------------
#
# Three things a plain httpx pool gets wrong for us, fixed where the pool is built:
# - after os.fork() a child would share the parent's keep-alive sockets and read its
#   replies: every lazy transport forgets its pool in the child (``_forget_after_fork``);
# - an async pool made under an event loop that has since closed fails with "Event loop is
#   closed": the async transport builds a new pool when the running loop changes;
# - a sync read only has a per-read timeout, so headers trickled a line at a time outlive
#   any deadline: every socket operation is clipped to what is left of the current call's
#   deadline (``_deadline_io.DeadlineBackend``, reading the thread's ``_CALL.read_by``).

_CALL = threading.local()  # read_by of the sync call running on this thread (None: no deadline)
_LIVE: weakref.WeakSet[_LazySyncTransport | _LazyAsyncTransport] = weakref.WeakSet()
# Pools a forked child must neither use nor close (closing could speak on the parent's
# connections); kept referenced so that their sockets are not finalised behind our back.
_ORPHANED: list[object] = []


def _forget_after_fork() -> None:
    global _TLS_LOCK
    _TLS_LOCK = threading.Lock()  # another thread may have held it at fork time
    for transport in list(_LIVE):
        transport._forget()


# --- one TLS context per process, built off the event loop ---------------------------------
#
# httpx builds a new verifying SSLContext (loading certifi's CA bundle: 15-40 ms of CPU) in
# every transport it makes, and its transport imports httpcore (~50 ms with trio installed).
# Every lazy transport shares one context instead, built on first use. The first async call
# of a process does that work, with the other one-time imports its call would make (the
# async library's anyio backend, the response models), in a worker thread, so a new
# AsyncNeureus does not block its event loop (benchmarks/bench_loop_lag.py). The context is
# keyed by the variables httpx's trust_env reads (SSL_CERT_FILE, SSL_CERT_DIR), so changing
# them still takes effect; it holds no socket and no loop, so it is safe to keep across
# os.fork() and to share between threads and loops. (httpcore sets ALPN on the context for
# each connection; every lazy transport asks for the same http/1.1.)

_TLS_LOCK = threading.Lock()
_TLS_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _tls_key() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


def _tls_context() -> ssl.SSLContext:
    """httpx's default context (``verify=True``, ``trust_env=True``), built once per process."""
    key = _tls_key()
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(key)
        if context is None:
            context = _TLS_CONTEXTS[key] = httpx.create_ssl_context()
        return context


def _first_async_use(backend: str, tls: bool = True) -> ssl.SSLContext | None:
    """The one-time work of a process's first async call, run in a worker thread."""
    import importlib

    import httpcore  # noqa: F401  (httpx's transport imports it when it is built)

    importlib.import_module(f"anyio._backends._{backend}")  # what httpcore's connections use
    from . import _pool_sweep, _usage, types  # noqa: F401  (the ledger follows the call from its start)

    # The models defer building their validators to their first use (import time): build
    # them here, so parsing the first answer on the loop does not (pydantic's first build
    # also scans the installed entry points for plugins).
    for value in vars(types).values():
        if getattr(value, "__pydantic_complete__", True) is False:
            value.model_rebuild()
    return _tls_context() if tls else None


async def _off_the_loop(loop: Any, tls: bool = True) -> ssl.SSLContext | None:
    """:func:`_first_async_use` in a worker thread (anyio's ``to_thread`` would import its
    event-loop backend on the loop, asyncio's default executor ``concurrent.futures``).
    ``tls``: build the TLS context too (a caller-owned pool needs none)."""
    if hasattr(loop, "call_soon_threadsafe"):  # asyncio (and uvloop)
        future = loop.create_future()

        def settle(result: ssl.SSLContext | None, error: BaseException | None) -> None:
            if not future.done():  # the waiting call may have been cancelled meanwhile
                future.set_result(result) if error is None else future.set_exception(error)

        def work() -> None:
            try:
                outcome: tuple[ssl.SSLContext | None, BaseException | None] = (_first_async_use("asyncio", tls), None)
            except BaseException as exc:  # handed to the waiting call
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=work, name="neureus-first-use", daemon=True).start()
        context: ssl.SSLContext | None = await future
        return context
    if loop is not None:  # a trio token
        import trio

        return await trio.to_thread.run_sync(_first_async_use, "trio", tls)
    from . import _usage  # noqa: F401  (no loop to keep free)

    return _tls_context() if tls else None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


async def _finish_iterator(chunks: AsyncIterator[bytes]) -> None:
    """Finish httpx's nested byte iterators of a closed response (see AsyncEventSource.aclose)."""
    with contextlib.suppress(Exception):
        for _ in range(_DRAIN_PULLS):
            if await anext(chunks, None) is None:
                break
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


class _LazySyncTransport(httpx.BaseTransport):
    """httpx's default transport, built on the first request (importing httpcore and
    loading the CA bundle take longer than importing the SDK), fork-safe and deadline-bound."""

    def __init__(self, limits: httpx.Limits, proxy: str | None = None) -> None:
        self._limits = limits
        self._proxy = proxy
        self._lock = threading.Lock()
        self._transport: httpx.HTTPTransport | None = None
        _LIVE.add(self)

    def _forget(self) -> None:
        if self._transport is not None:
            _ORPHANED.append(self._transport)
        self._transport = None
        self._lock = threading.Lock()  # the parent's may have been held at fork time

    def _get(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._transport is None:
                transport = httpx.HTTPTransport(verify=_tls_context(), limits=self._limits, proxy=self._proxy)
                from ._deadline_io import DeadlineBackend  # imports httpcore: first use only
                from ._pool_sweep import use_linear_sweep

                pool = transport._pool
                pool._network_backend = DeadlineBackend(pool._network_backend)
                use_linear_sweep(pool)
                self._transport = transport
            return self._transport

    @property
    def _pool(self) -> Any:
        # httpx.HTTPTransport's attribute, for code that inspects the pool.
        return self._get()._pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport or self._get()
        response = transport.handle_request(request)
        _check_before_release(response, _CheckedRelease)
        return response

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _running_loop() -> object:
    """The running event loop (asyncio) or run (trio): a pool belongs to one."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
    return None


class _LazyAsyncTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`_LazySyncTransport`, rebuilt when the event loop changes."""

    def __init__(self, limits: httpx.Limits, proxy: str | None = None) -> None:
        self._limits = limits
        self._proxy = proxy
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._loop: object = None
        _LIVE.add(self)

    def _forget(self) -> None:
        if self._transport is not None:
            _ORPHANED.append(self._transport)
        self._transport = None

    def _get(self, context: ssl.SSLContext | None = None) -> httpx.AsyncHTTPTransport:
        loop = _running_loop()
        if self._transport is None or loop is not self._loop:
            if self._transport is not None:
                _leave_pool(self._transport, self._loop)
            verify = context or _tls_context()
            transport = httpx.AsyncHTTPTransport(verify=verify, limits=self._limits, proxy=self._proxy)
            from ._idle_check import AsyncIdleCheckedBackend  # imports httpcore: first use only
            from ._pool_sweep import use_linear_sweep  # prepared off the loop (_first_async_use)

            pool = transport._pool
            pool._network_backend = AsyncIdleCheckedBackend(pool._network_backend)
            use_linear_sweep(pool)
            self._transport = transport
            self._loop = loop
        return self._transport

    @property
    def _pool(self) -> Any:
        # httpx.AsyncHTTPTransport's attribute, for code that inspects the pool.
        return self._get()._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport
        loop = _running_loop()
        if transport is None or loop is not self._loop:
            # A process's first call does its one-time work in a worker thread, not on the loop.
            context = _TLS_CONTEXTS.get(_tls_key()) or await _off_the_loop(loop)
            transport = self._get(context)
        response = await transport.handle_async_request(request)
        _check_before_release(response, _AsyncCheckedRelease)
        return response

    async def aclose(self) -> None:
        if self._transport is not None:
            if _running_loop() is self._loop:
                await self._transport.aclose()
            else:
                _leave_pool(self._transport, self._loop)
            self._transport = None


def _leave_pool(transport: httpx.AsyncHTTPTransport, loop: object) -> None:
    # An asyncio loop still open (a client shared across threads' loops, which httpx does
    # not support either) keeps its sockets: closing them could break its calls.
    is_closed = getattr(loop, "is_closed", None)
    if is_closed is None or is_closed():
        _drop_dead_pool(transport)


def _drop_dead_pool(transport: httpx.AsyncHTTPTransport) -> None:
    """Close the sockets of a pool whose event loop is gone, without that loop.

    Its connections can be neither used nor closed through the loop that made them; their
    sockets are closed directly, so nothing is left for a finaliser to warn about.
    """
    from ._idle_check import AsyncIdleCheckedStream  # loaded with the pool

    for connection in list(getattr(transport._pool, "_connections", ())):
        stream = getattr(getattr(connection, "_connection", None), "_network_stream", None)
        if isinstance(stream, AsyncIdleCheckedStream):
            stream = stream._stream  # httpcore's own
        inner: Any = getattr(stream, "_stream", None)  # anyio's (asyncio) or trio's stream
        for _ in range(4):  # TLS layers wrap the socket stream
            if not hasattr(inner, "transport_stream"):
                break
            inner = inner.transport_stream
        asyncio_transport = getattr(inner, "_transport", None)
        with contextlib.suppress(Exception):
            if asyncio_transport is not None:
                sock = asyncio_transport._sock
                asyncio_transport._sock = None  # what asyncio's finaliser checks before warning
                sock.close()
            elif getattr(inner, "socket", None) is not None:
                # trio's own close() needs its run: close the stdlib socket inside it.
                getattr(inner.socket, "_sock", inner.socket).close()


def lazy_transport(asynchronous: bool, limits: httpx.Limits, proxy: str | None = None) -> Any:
    """A transport for a client-owned pool that builds httpx's default one on first use."""
    return _LazyAsyncTransport(limits, proxy) if asynchronous else _LazySyncTransport(limits, proxy)


# --- spare bytes: a forged second answer ----------------------------------------------------
#
# A server (or a proxy) that writes a second, complete response after an answer leaves it in
# the connection's buffer; pooled, that connection would hand it to the next request as its
# answer, before that request has even reached the server. Such a connection is dropped.
# In the SDK's own pool it is dropped *before* httpcore takes it back: the response's
# HTTP/1.1 byte stream is wrapped (``_check_before_release``) so that its close, which is
# where httpcore marks the connection idle for any thread or task to take, closes the
# connection instead. A caller-owned pool is only checked after the body's end
# (:func:`spare_bytes_holder`): by then another of the caller's threads or tasks may already
# have taken that connection (docs/reliability.md, "Forged answers").


def _holds_spare(connection: Any) -> bool:
    """Whether httpcore's HTTP/1.1 ``connection`` holds bytes past the current answer (or
    has read the peer's end of the stream, which no later answer can follow)."""
    spare = getattr(getattr(connection, "_h11_state", None), "trailing_data", (b"", False))
    return bool(spare[0] or spare[1])


def spare_bytes_holder(response: httpx.Response) -> Any:
    """The HTTP/1.1 connection under ``response`` if it already holds bytes past the body's
    end (a server, or a proxy, that wrote a second response after this one), else None.
    Pooled, it would hand those bytes to the next request as its answer, so it is closed
    instead. Only httpcore's HTTP/1.1 connection has such a buffer (found through the
    response's stream layers); anything else holds nothing past its end."""
    layer: Any = response.stream
    for _ in range(8):  # bounded: httpx's and httpcore's stream wrappers, a few deep
        if type(layer) in _CHECKED:
            return None  # the SDK's own pool: checked when the body ended, before its release
        connection = getattr(layer, "_connection", None)
        if connection is not None:
            return connection if _holds_spare(connection) else None
        layer = getattr(layer, "_stream", None) or getattr(layer, "_httpcore_stream", None)
    return None


def _to_drop(stream: Any) -> Any:
    """The connection under httpcore's HTTP/1.1 byte ``stream`` if its close must drop it
    rather than hand it back (spare bytes), marking the stream closed; else None."""
    if stream._closed:
        return None
    connection = stream._connection
    spare = connection._h11_state.trailing_data  # the layout was checked when it was wrapped
    if not (spare[0] or spare[1]):
        return None
    stream._closed = True  # its own close would have marked the connection idle
    return connection


class _CheckedRelease:
    """httpcore's HTTP/1.1 byte stream of one response (sync), whose close drops a
    connection holding spare bytes before the pool can lend it (see above)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Any:
        return iter(self._stream)  # the stream's own iterator: nothing added per chunk

    def close(self) -> None:
        connection = _to_drop(self._stream)
        if connection is None:
            self._stream.close()
        else:
            connection.close()  # closed, the pool removes it instead of lending it


class _AsyncCheckedRelease:
    """:class:`_CheckedRelease` for the async pool (httpcore's pool shields this close)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __aiter__(self) -> Any:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        connection = _to_drop(self._stream)
        if connection is None:
            await self._stream.aclose()
        else:
            await connection.aclose()


_CHECKED = (_CheckedRelease, _AsyncCheckedRelease)


def _check_before_release(response: httpx.Response, wrapper: type[_CheckedRelease | _AsyncCheckedRelease]) -> None:
    """Wrap the HTTP/1.1 byte stream under a response of the SDK's own pool (httpx's
    response stream, then httpcore's pool stream, then the connection's own stream). Any
    other layout is left as it is (checked after the body's end, as a caller's pool is)."""
    layer: Any = response.stream
    try:
        pool_stream = layer._httpcore_stream
        stream = pool_stream._stream
        stream._closed, stream._connection._h11_state  # noqa: B018  (what _to_drop reads)
    except AttributeError:
        return
    pool_stream._stream = wrapper(stream)


def _closed_error() -> APIConnectionError:
    return APIConnectionError("This client is closed: make a new one (or do not close it while it is in use).")


def _unusable(http: httpx.Client | httpx.AsyncClient, exc: RuntimeError) -> Failed:
    # httpx raises RuntimeError for a pool closed meanwhile (another thread or task) and for
    # a caller-owned async pool whose event loop has closed: no retry can help either.
    error = _closed_error() if http.is_closed else APIConnectionError(f"The HTTP client cannot send: {exc}.")
    error.__cause__ = exc
    return Failed(error, unsent=True, final=True)


def shared_ledger(shared: dict[str, Any]) -> Ledger:
    """The usage ledger a client shares with its ``with_options`` copies, made on first use."""
    ledger: Ledger | None = shared.get("ledger")
    if ledger is None:
        from ._usage import Ledger

        ledger = shared.setdefault("ledger", Ledger())  # one, even if two threads race here
    return ledger


_KEPT_URLS = 64  # endpoints are few; a provider's path is one per provider
_KEPT_HEADERS = 64  # sets of a call's headers kept prepared


class _PreparedHeaders(httpx.Headers):
    """A call's headers, encoded for httpx ahead of ``build_request`` (which copies them).

    Its repr shows a credential-like header (``authorization``, ``x-api-key``...) the way a
    :class:`~neureus._wire.RequestSpec` does, cut to its shape, where httpx's would show
    every header but ``authorization`` in full (a frame's locals are rendered with repr).
    """

    def __repr__(self) -> str:
        shown = {name: _shown_header(name, value, NO_SECRETS) for name, value in self.multi_items()}
        return f"{type(self).__name__}({shown!r})"


class _TransportBase:
    __slots__ = ("_base", "_headers", "_hooks", "_prepared_headers", "_shared", "_urls", "config")
    _asynchronous = False
    # The flow's clock (the deadline's); a class attribute so that tests can stand in for it.
    _clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, config: ClientConfig, shared: dict[str, Any] | None = None) -> None:
        self.config = config
        # The client's (and its with_options copies') ledger, made on first use: a client
        # that has made no call has not loaded the ledger's module.
        self._shared: dict[str, Any] = {} if shared is None else shared
        # The headers every call of this client sends (its key among them), built once.
        self._headers = base_headers(config)
        # Each endpoint's URL, parsed once: httpx parses a URL string on every request (~7 µs).
        self._urls: dict[str, httpx.URL] = {}
        # httpx would check and encode every header name and value of a plain dict again on
        # every call (~1 us): each distinct set of a call's headers is kept as httpx.Headers,
        # by its (name, value) pairs, and a new set encodes only the call's own headers (the
        # base ones above are encoded once, on the first call, so that a header httpx cannot
        # encode fails that call, as it would without this).
        self._base: tuple[tuple[tuple[str, str], ...], list[tuple[bytes, bytes, bytes]]] | None = None
        self._prepared_headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}
        self._hooks: HookDispatcher | None = None
        if config.hooks:  # checked here, once; a client without hooks never loads _hooks
            from ._hooks import HookDispatcher

            self._hooks = HookDispatcher(config.hooks, asynchronous=self._asynchronous)

    def ledger(self) -> Ledger:
        """The client's usage ledger (made, once, on first use)."""
        return shared_ledger(self._shared)

    @property
    def hooks(self) -> HookDispatcher | None:
        """The hooks that hear this client's calls now (its own, or global ones), if any."""
        hooks = self._hooks
        if hooks is None:
            module = sys.modules.get("neureus._hooks")  # no global hook without it
            if module is None or not module._global_hooks:
                return None
            from ._hooks import HookDispatcher

            hooks = self._hooks = HookDispatcher((), asynchronous=self._asynchronous)
        return hooks if hooks.active else None

    def observer(self, spec: RequestSpec) -> Observer:
        """What follows one call: the ledger's view of it, wrapped in a hook observer when
        a hook listens (records are built only then)."""
        usage = self.ledger().call(self.config, spec)
        hooks = self.hooks
        return usage if hooks is None else hooks.observer(spec, self.config, usage)

    def pool_has_room(self) -> bool:
        """Whether a stream at ``done`` should hand its connection back to the pool: only
        while the pool holds no more connections than it keeps alive. Past that, httpcore
        checks every idle connection's socket on every request and release, so a thousand
        streams ending together would pay for keeping connections it mostly closes."""
        transport = getattr(getattr(self, "http", None), "_transport", None)
        if isinstance(transport, (_LazySyncTransport, _LazyAsyncTransport)):
            transport = transport._transport
        pool = getattr(transport, "_pool", None)
        connections = getattr(pool, "_connections", None)  # the pool's own list (its public property copies it)
        keep_alive = getattr(pool, "_max_keepalive_connections", None)
        if connections is None or keep_alive is None:
            return True  # not an httpcore pool (an in-memory transport): nothing to poll
        return bool(len(connections) <= keep_alive)

    def _flow(
        self,
        spec: RequestSpec,
        client_timeout: httpx.Timeout,
        observer: Observer | None = None,
        parse: Parse | None = None,
    ) -> Any:
        config = self.config
        timeout = spec.timeout if spec.timeout is not None else config.timeout
        deadline = spec.deadline if spec.deadline is not None else config.deadline
        if timeout is None and deadline is not None:
            timeout = client_timeout
        flow = request_flow(
            spec,
            policy=config.retry_policy,
            max_retries=config.max_retries,
            timeout=timeout,
            deadline=deadline,
            secrets=config.secrets if spec.secrets is NO_SECRETS else config.secrets + spec.secrets,
            clock=self._clock,
            parse=parse,  # the answer is parsed once, in the flow, under the deadline
        )
        # One observer per call: the ledger, and the hooks when any listens.
        return (observer or self.observer(spec)).observe(flow)

    def _request_args(self, spec: RequestSpec, action: SendRequest) -> dict[str, Any]:
        args = http_request_args(self.config, spec, action.timeout, self._headers)
        text: str = args["url"]
        url = self._urls.get(text)
        if url is None:
            url = httpx.URL(text)  # what build_request would make of the string (httpx.URL is immutable)
            if len(self._urls) < _KEPT_URLS:
                self._urls[text] = url
        args["url"] = url
        pairs = tuple(args["headers"].items())
        headers = self._prepared_headers.get(pairs)
        if headers is None:
            headers = self._prepare(pairs)
        args["headers"] = headers
        return args

    def _prepare(self, pairs: tuple[tuple[str, str], ...]) -> httpx.Headers:
        """A call's headers (the base headers first, then the call's own, as the wire built
        them) as what ``build_request`` would make of them, in the same order; the base part
        is not encoded again."""
        base = self._base
        if base is None:
            base_pairs = tuple(self._headers.items())
            base = self._base = (base_pairs, _PreparedHeaders(base_pairs)._list)
        count = len(base[0])
        if pairs[:count] == base[0]:
            headers = _PreparedHeaders(pairs[count:])
            headers._list[:0] = base[1]  # the base headers' encoded (name, lowercase name, value)
        else:  # a call's header replaces one of the base ones: all of them anew
            headers = _PreparedHeaders(pairs)
        kept = self._prepared_headers
        if len(kept) >= _KEPT_HEADERS:
            kept.clear()  # bounded (a trace id makes every call's set new); sets in use come back
        kept[pairs] = headers
        return headers

    def _reader(self, spec: RequestSpec, response: httpx.Response) -> BodyReader | NeureusError:
        try:
            return BodyReader(
                response.headers.get("content-encoding"),
                self.config.max_response_bytes,
                spec.operation,
                response.status_code,
            )
        except NeureusError as exc:
            return exc

    def _already_read(self, response: httpx.Response) -> httpx.Response | NeureusError:
        # An in-memory transport hands the body over already read (and decoded).
        if len(response.content) > self.config.max_response_bytes:
            return too_large(self.config.max_response_bytes)
        return response


_EARLY_TIMEOUT = "The deadline ran out while the answer was still arriving."


class _OneChunk:
    """Yields the body once. A plain iterator, not an async generator: see ``_AsyncBody``."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        body = self._body
        if body is None:
            raise StopAsyncIteration
        self._body = None
        return body


class _AsyncBody(httpx.AsyncByteStream):
    """A request body for the async pool.

    httpx's own ``ByteStream`` yields the body from an async generator. A deadline that
    cancels the send while httpcore is still writing leaves that generator half-run, and
    trio's finalizer warns when it is collected (an error under ``-W error``). This one
    leaves nothing to finalize.
    """

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _OneChunk(self._body)


class SyncTransport(_TransportBase):
    """Sends calls over a sync ``httpx.Client``."""

    __slots__ = ("http",)

    def __init__(self, http: httpx.Client, config: ClientConfig, shared: dict[str, Any] | None = None) -> None:
        super().__init__(config, shared)
        self.http = http

    @overload
    def request(self, spec: RequestSpec) -> httpx.Response: ...
    @overload
    def request(self, spec: RequestSpec, parse: Callable[[httpx.Response], _T]) -> _T: ...
    def request(self, spec: RequestSpec, parse: Parse | None = None) -> Any:
        """Send a call with its retries; return its answer parsed by ``parse`` (else the read response)."""
        return self._drive(spec, parse=parse)[0].unwrap()

    def open_stream(
        self, spec: RequestSpec, observer: Observer | None = None
    ) -> tuple[SyncEventSource, ServerSentEvent]:
        """Open a stream, retrying until its first event; return the source and that event."""
        result, source = self._drive(spec, observer)
        assert source is not None and result.first_event is not None
        return source, result.first_event

    def _send(self, spec: RequestSpec, action: SendRequest) -> httpx.Response | Failed | NeureusError:
        read_by = action.read_by
        _CALL.read_by = read_by
        try:
            request = self.http.build_request(**self._request_args(spec, action))
            # A body with a secret never follows a redirect, whatever the caller's client says.
            if spec.secrets:
                response = self.http.send(request, stream=True, follow_redirects=False)
            else:
                response = self.http.send(request, stream=True)
        except (httpx.HTTPError, UnicodeEncodeError) as exc:
            return failure_from(exc)
        except RuntimeError as exc:
            return _unusable(self.http, exc)
        if spec.stream and response.status_code < 300:
            return response
        if response.is_stream_consumed:
            return self._already_read(response)
        reader = self._reader(spec, response)
        if isinstance(reader, NeureusError):
            response.close()
            return reader
        try:
            for piece in response.iter_raw():
                reader.feed(piece)  # decoded here, under the cap and before the clock check
                if read_by is not None and time.monotonic() > read_by:
                    response.close()
                    return APITimeoutError(_EARLY_TIMEOUT)
            body = reader.finish()
            spare = spare_bytes_holder(response)
            if spare is not None:
                spare.close()  # closed, the pool drops it
        except NeureusError as exc:
            response.close()
            return exc
        except httpx.HTTPError as exc:
            response.close()
            return failure_from(exc)
        response._content = body  # what response.read() would have set, decoded under the cap
        return response

    def _drive(
        self, spec: RequestSpec, observer: Observer | None = None, parse: Parse | None = None
    ) -> tuple[FlowResult, SyncEventSource | None]:
        if self.http.is_closed:
            raise _closed_error()
        flow = self._flow(spec, self.http.timeout, observer, parse)
        source: SyncEventSource | None = None
        outcome: Any = None
        outer_read_by = getattr(_CALL, "read_by", None)
        try:
            while True:
                action = flow.send(outcome)
                if type(action) is SendRequest:
                    outcome = self._send(spec, action)
                elif type(action) is PullFirstEvent:
                    from ._event_source import SyncEventSource  # loaded with the first stream

                    source = SyncEventSource(action.response, action.read_by, self.config.max_response_bytes)
                    outcome = source.pull()
                    if isinstance(outcome, APIResponseValidationError):
                        raise outcome  # an oversized first event: never retried
                elif type(action) is Sleep:
                    time.sleep(action.seconds)
                    outcome = None
                elif type(action) is CloseResponse:
                    (source or action).response.close()
                    outcome = source = None
                else:  # a Notify: the hooks
                    action.dispatcher.emit(action)
                    outcome = None
        except StopIteration as stop:
            return stop.value, source
        except BaseException:
            flow.close()  # hooks: an abandoned call tells its observers now, not at garbage collection
            if source is not None:
                source.close()
            raise
        finally:
            _CALL.read_by = outer_read_by


class AsyncTransport(_TransportBase):
    """Sends calls over an ``httpx.AsyncClient``."""

    __slots__ = ("http",)
    _asynchronous = True

    def __init__(self, http: httpx.AsyncClient, config: ClientConfig, shared: dict[str, Any] | None = None) -> None:
        super().__init__(config, shared)
        self.http = http

    @overload
    async def request(self, spec: RequestSpec) -> httpx.Response: ...
    @overload
    async def request(self, spec: RequestSpec, parse: Callable[[httpx.Response], _T]) -> _T: ...
    async def request(self, spec: RequestSpec, parse: Parse | None = None) -> Any:
        """Send a call with its retries; return its answer parsed by ``parse`` (else the read response)."""
        return (await self._drive(spec, parse=parse))[0].unwrap()

    async def open_stream(
        self, spec: RequestSpec, observer: Observer | None = None
    ) -> tuple[AsyncEventSource, ServerSentEvent]:
        """Open a stream, retrying until its first event; return the source and that event."""
        result, source = await self._drive(spec, observer)
        assert source is not None and result.first_event is not None
        return source, result.first_event

    async def _send(self, spec: RequestSpec, action: SendRequest) -> httpx.Response | Failed | NeureusError:
        read_by = action.read_by
        if read_by is None:
            return await self._exchange(spec, action)
        # One scope over connecting, the headers (however slowly they trickle) and the body.
        with anyio.move_on_after(read_by - time.monotonic()):
            return await self._exchange(spec, action)
        return APITimeoutError(_EARLY_TIMEOUT)

    async def _exchange(self, spec: RequestSpec, action: SendRequest) -> httpx.Response | Failed | NeureusError:
        try:
            request = self.http.build_request(**self._request_args(spec, action))
            if type(request.stream) is httpx.ByteStream:  # a body given as bytes: all of ours
                request.stream = _AsyncBody(request.content)
            if spec.secrets:  # never follows a redirect, see SyncTransport._send
                response = await self.http.send(request, stream=True, follow_redirects=False)
            else:
                response = await self.http.send(request, stream=True)
        except (httpx.HTTPError, UnicodeEncodeError) as exc:
            return failure_from(exc)
        except RuntimeError as exc:
            return _unusable(self.http, exc)
        if spec.stream and response.status_code < 300:
            return response
        if response.is_stream_consumed:
            return self._already_read(response)
        reader = self._reader(spec, response)
        outcome: httpx.Response | Failed | NeureusError = response
        chunks = response.aiter_raw()
        read_whole = False
        try:
            if isinstance(reader, NeureusError):
                outcome = reader
            else:
                async for piece in chunks:
                    reader.feed(piece)
                response._content = reader.finish()  # see SyncTransport._send
                read_whole = True
                spare = spare_bytes_holder(response)
                if spare is not None:
                    with anyio.CancelScope(shield=True):
                        await spare.aclose()  # closed, the pool drops it
        except NeureusError as exc:
            outcome = exc
        except httpx.HTTPError as exc:
            outcome = failure_from(exc)
        finally:
            if not read_whole:
                # Also when the deadline's scope cancels the read: never leave it half-read.
                with anyio.CancelScope(shield=True):
                    await response.aclose()
                    await _finish_iterator(chunks)
        return outcome

    async def _drive(
        self, spec: RequestSpec, observer: Observer | None = None, parse: Parse | None = None
    ) -> tuple[FlowResult, AsyncEventSource | None]:
        if self.http.is_closed:
            raise _closed_error()
        if "ledger" not in self._shared and "neureus._usage" not in sys.modules:
            # A process's first async call: the ledger's module (and the rest of the one-time
            # work) loads in a worker thread, so the event loop is not blocked for it.
            owned = isinstance(getattr(self.http, "_transport", None), _LazyAsyncTransport)
            await _off_the_loop(_running_loop(), tls=owned and _tls_key() not in _TLS_CONTEXTS)
        flow = self._flow(spec, self.http.timeout, observer, parse)
        source: AsyncEventSource | None = None
        outcome: Any = None
        try:
            while True:
                action = flow.send(outcome)
                if type(action) is SendRequest:
                    outcome = await self._send(spec, action)
                elif type(action) is PullFirstEvent:
                    from ._event_source import AsyncEventSource  # loaded with the first stream

                    source = AsyncEventSource(action.response, action.read_by, self.config.max_response_bytes)
                    outcome = await source.pull()
                    if isinstance(outcome, APIResponseValidationError):
                        raise outcome  # an oversized first event: never retried
                elif type(action) is Sleep:
                    await anyio.sleep(action.seconds)
                    outcome = None
                elif type(action) is CloseResponse:
                    await (source.aclose() if source is not None else action.response.aclose())
                    outcome = source = None
                else:  # a Notify: the hooks
                    await action.dispatcher.aemit(action)
                    outcome = None
        except StopIteration as stop:
            return stop.value, source
        except BaseException:
            flow.close()  # hooks: an abandoned call tells its observers now, not at garbage collection
            # Cancelled mid-flow: never leave an opened stream behind.
            if source is not None:
                await source.aclose()
            raise
