"""``ChatStream`` and ``AsyncChatStream``: pull outcomes, hand them to ``StreamState``.

Every decision about a stream (token or not, skipped, error, ``done``, the deadline) is
made by :meth:`neureus._stream_state.StreamState.consume`. Each flavour has one pull
helper (its event source's ``pull``) and one loop body, ``_advance``, shared by token
iteration and ``events()``: pull one outcome, consume it, release the connection the
moment the stream is finished (at ``done``, on an error) or closed. Tokens are handed on
the moment their event is decoded: nothing is buffered.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from httpx_sse import ServerSentEvent

from ._stream_state import StreamState

if TYPE_CHECKING:
    import httpx

    from ._event_source import AsyncEventSource, SyncEventSource
    from ._transport import AsyncTransport, Observer, SyncTransport
    from ._wire import RequestSpec
    from .types import StreamFinal

__all__ = ["AsyncChatStream", "ChatStream"]

_now = time.monotonic


class _StreamResult:
    """What both streams share: the state, and the read-only view of what has arrived."""

    __slots__ = ("_closed", "_observer", "_state")

    _state: StreamState
    _closed: bool
    _observer: Observer | None

    def _opened(self, source: SyncEventSource | AsyncEventSource, first: ServerSentEvent) -> None:
        source.unread(first)  # pulled again by the one loop, like every other event
        self._state.read_by = source.read_by

    @property
    def text(self) -> str:
        """All tokens so far (the whole reply once the stream is done)."""
        return self._state.text

    @property
    def final(self) -> StreamFinal | None:
        """The final ``{"done": true, ...}`` event, once it has arrived."""
        return self._state.final

    @property
    def done(self) -> bool:
        """Whether the final event has arrived."""
        return self._state.final is not None

    @property
    def log_id(self) -> str | None:
        """The gateway's log id, from the final event."""
        final = self._state.final
        return None if final is None else final.log_id

    @property
    def input_tokens(self) -> int | None:
        """Input tokens billed, from the final event."""
        final = self._state.final
        return None if final is None else final.input_tokens

    @property
    def output_tokens(self) -> int | None:
        """Output tokens billed, from the final event."""
        final = self._state.final
        return None if final is None else final.output_tokens

    def __repr__(self) -> str:
        status = "done" if self.done else ("closed" if self._closed else "open")
        return f"<{type(self).__name__} {status}, {len(self.text)} chars>"


class ChatStream(_StreamResult):
    """A streamed chat reply: iterate it for ``str`` tokens as they arrive.

    >>> with client.ai.stream([{"role": "user", "content": "Hi"}]) as stream:  # doctest: +SKIP
    ...     for token in stream:
    ...         print(token, end="", flush=True)
    >>> stream.output_tokens  # doctest: +SKIP
    42

    Iteration ends at the first ``{"done": true}`` event: the connection is released
    there, and nothing after it is decoded or waited for (it goes back to the pool when
    the body's end arrived with that event). It is also released when the stream fails or is
    closed (``close()``, leaving the ``with`` block, or dropping the object after a ``break``).
    """

    __slots__ = ("_source", "_transport")

    def __init__(self, transport: SyncTransport, spec: RequestSpec) -> None:
        self._closed = False
        self._transport = transport
        self._source: SyncEventSource | None = None
        self._state = StreamState(transport.config.secrets + spec.secrets)
        self._observer = transport.observer(spec)  # the ledger and the hooks
        self._source, first = transport.open_stream(spec, self._observer)
        self._opened(self._source, first)

    @property
    def response(self) -> httpx.Response:
        """The HTTP response (status and headers, e.g. ``x-request-id``)."""
        assert self._source is not None
        return self._source.response

    @overload
    def _run(self, events: Literal[False] = ...) -> str: ...
    @overload
    def _run(self, events: Literal[True]) -> ServerSentEvent: ...
    def _run(self, events: bool = False) -> str | ServerSentEvent:
        # The one loop, for tokens and events() alike: pull one outcome, let the core
        # decide, release the connection the moment the stream is over.
        state = self._state
        while not self._closed:
            try:
                outcome = self._source.pull()  # type: ignore[union-attr]  # set while open
                step = state.consume(outcome, _now)
            except BaseException:
                self.close()
                raise
            if state.finished:
                self._close(at_done=self._transport.pool_has_room())
            if events:
                if type(outcome) is ServerSentEvent:
                    return outcome
            elif type(step) is str:
                return step
        raise StopIteration

    def __iter__(self) -> Iterator[str]:
        return self

    __next__ = _run  # the loop itself, no extra frame per token

    def events(self) -> Iterator[ServerSentEvent]:
        """The decoded SSE events themselves, ``done`` and skipped types included (the
        stream's state is kept up to date)."""
        with contextlib.suppress(StopIteration):
            while True:
                yield self._run(True)

    def until_done(self) -> str:
        """Read the rest of the stream; return the whole text."""
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        """Release the connection; iteration ends. Safe to call more than once."""
        self._close()

    def _close(self, at_done: bool = False) -> None:
        if not self._closed:
            self._closed = True
            if self._source is not None:
                self._source.close(at_done)
            if self._observer is not None:  # the ledger and the hooks: the stream's end, once
                for notify in self._observer.stream_end(self._state, sys.exc_info()[1]):
                    notify.dispatcher.emit(notify)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A sync close needs no event loop, so releasing the connection here is safe; it
        # covers ``for token in client.ai.stream(...): break`` without a ``with`` block.
        with contextlib.suppress(Exception):
            self.close()


class AsyncChatStream(_StreamResult):
    """A streamed chat reply for ``AsyncNeureus``: ``async for`` it for ``str`` tokens.

    All three forms work::

        async for token in client.ai.stream(messages): ...
        async with client.ai.stream(messages) as stream: ...
        stream = await client.ai.stream(messages)   # opened, then iterate it

    Iteration ends at the first ``{"done": true}`` event: the connection is released
    there, and nothing after it is decoded or waited for (it goes back to the pool when
    the body's end arrived with that event). It is also released when the stream fails, is
    closed (``await stream.aclose()``), its ``async with`` block is left, or its task is
    cancelled.
    """

    __slots__ = ("_source", "_spec", "_transport")

    def __init__(self, transport: AsyncTransport, spec: RequestSpec) -> None:
        self._closed = False
        self._source: AsyncEventSource | None = None
        self._state = StreamState(transport.config.secrets + spec.secrets)
        self._transport = transport
        self._spec = spec
        self._observer = transport.observer(spec)  # the ledger and the hooks

    @property
    def response(self) -> httpx.Response:
        """The HTTP response (status and headers); available once the stream is open."""
        if self._source is None:
            raise RuntimeError("The stream is not open yet: await it or use 'async with' first.")
        return self._source.response

    async def _open(self) -> None:
        if self._source is None and not self._closed:
            # Opening failures (status errors, retries exhausted) propagate as they are.
            self._source, first = await self._transport.open_stream(self._spec, self._observer)
            self._opened(self._source, first)

    def __await__(self) -> Generator[Any, None, AsyncChatStream]:
        return self._opened_self().__await__()

    async def _opened_self(self) -> AsyncChatStream:
        await self._open()
        return self

    @overload
    async def _run(self, events: Literal[False] = ...) -> str: ...
    @overload
    async def _run(self, events: Literal[True]) -> ServerSentEvent: ...
    async def _run(self, events: bool = False) -> str | ServerSentEvent:
        # The one loop, for tokens and events() alike (see ChatStream._run).
        if self._source is None:
            await self._open()
        state = self._state
        while not self._closed:
            try:
                outcome = await self._source.pull()  # type: ignore[union-attr]  # set while open
                step = state.consume(outcome, _now)
            except BaseException:
                await self.aclose()
                raise
            if state.finished:
                await self._aclose(at_done=self._transport.pool_has_room())
            if events:
                if type(outcome) is ServerSentEvent:
                    return outcome
            elif type(step) is str:
                return step
        raise StopAsyncIteration

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    __anext__ = _run  # the loop itself, no extra frame per token

    def events(self) -> AsyncIterator[ServerSentEvent]:
        """The decoded SSE events themselves, ``done`` and skipped types included (the
        stream's state is kept up to date).

        An iterator object rather than an async generator, so leaving it early leaves
        nothing for the garbage collector to finalise.
        """
        return _AsyncEvents(self)

    async def until_done(self) -> str:
        """Read the rest of the stream; return the whole text."""
        async for _ in self:
            pass
        return self.text

    async def aclose(self) -> None:
        """Release the connection; iteration ends. Safe to call more than once."""
        await self._aclose()

    async def _aclose(self, at_done: bool = False) -> None:
        if not self._closed:
            self._closed = True
            if self._source is not None:
                await self._source.aclose(at_done)
            if self._observer is not None:  # the ledger and the hooks: the stream's end, once
                for notify in self._observer.stream_end(self._state, sys.exc_info()[1]):
                    await notify.dispatcher.aemit(notify)

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _AsyncEvents:
    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncChatStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _AsyncEvents:
        return self

    def __anext__(self) -> Coroutine[Any, Any, ServerSentEvent]:
        return self._stream._run(True)


# Public as neureus.X, which loads this module on first use (neureus/__init__.py): show that
# name in reprs, tracebacks and pickles even when the SDK handed one out first.
for _cls in (ChatStream, AsyncChatStream):
    _cls.__module__ = "neureus"
del _cls
