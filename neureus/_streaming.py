"""``ChatStream`` and ``AsyncChatStream``: pull events, hand them to ``StreamState``.

Every decision about an event (token or not, error, done) is made in
:mod:`neureus._stream_state`; these wrappers only pull the next event and release the
connection when the stream ends, fails, or is closed. Tokens are handed on the moment
their event is decoded: nothing is buffered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from httpx_sse import ServerSentEvent

from ._exceptions import APIConnectionError
from ._stream_state import StreamState
from ._usage import stream_closed

if TYPE_CHECKING:
    import httpx

    from ._transport import AsyncEventSource, AsyncTransport, SyncEventSource, SyncTransport
    from ._wire import RequestSpec
    from .types import StreamFinal

__all__ = ["AsyncChatStream", "ChatStream"]


class _StreamResult:
    """The read-only view shared by both streams: what has arrived so far."""

    __slots__ = ("_state",)

    _state: StreamState

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


class ChatStream(_StreamResult):
    """A streamed chat reply: iterate it for ``str`` tokens as they arrive.

    >>> with client.ai.stream([{"role": "user", "content": "Hi"}]) as stream:  # doctest: +SKIP
    ...     for token in stream:
    ...         print(token, end="", flush=True)
    >>> stream.output_tokens  # doctest: +SKIP
    42

    The connection is released when the stream ends, fails, or is closed (``close()``,
    leaving the ``with`` block, or dropping the object after a ``break``).
    """

    __slots__ = ("_closed", "_first", "_source")

    def __init__(self, transport: SyncTransport, spec: RequestSpec) -> None:
        self._state = StreamState(transport.config.secrets + spec.secrets)
        self._closed = False
        self._source: SyncEventSource | None = None
        self._first: ServerSentEvent | None = None
        self._source, self._first = transport.open_stream(spec)

    @property
    def response(self) -> httpx.Response:
        """The HTTP response (status and headers, e.g. ``x-request-id``)."""
        assert self._source is not None
        return self._source.response

    def _next_event(self) -> ServerSentEvent | None:
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self._closed:
            return None
        assert self._source is not None
        return self._source.next()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._closed:
            raise StopIteration
        state = self._state
        try:
            while True:
                # _next_event() inlined: this loop runs once per token.
                event = self._first
                if event is not None:
                    self._first = None
                elif self._closed:
                    event = None
                else:
                    assert self._source is not None
                    event = self._source.next()
                if event is None:
                    self.close()
                    state.finish()
                    raise StopIteration
                token = state.on_event(event)
                if token is not None:
                    return token
        except APIConnectionError as exc:
            self.close()
            state.finish(exc)
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def events(self) -> Iterator[ServerSentEvent]:
        """The decoded SSE events themselves (the stream's state is kept up to date)."""
        state = self._state
        try:
            while not self._closed:
                event = self._next_event()
                if event is None:
                    self.close()
                    state.finish()
                    return
                state.on_event(event)
                yield event
        except APIConnectionError as exc:
            self.close()
            state.finish(exc)
        except BaseException:
            self.close()
            raise

    def until_done(self) -> str:
        """Read the rest of the stream; return the whole text."""
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        """Release the connection; iteration ends. Safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._first = None
            if self._source is not None:
                self._source.close()
                stream_closed(self._source.response, self._state.final)  # the usage ledger

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

    def __repr__(self) -> str:
        status = "done" if self.done else ("closed" if self._closed else "open")
        return f"<ChatStream {status}, {len(self.text)} chars>"


class AsyncChatStream(_StreamResult):
    """A streamed chat reply for ``AsyncNeureus``: ``async for`` it for ``str`` tokens.

    All three forms work::

        async for token in client.ai.stream(messages): ...
        async with client.ai.stream(messages) as stream: ...
        stream = await client.ai.stream(messages)   # opened, then iterate it

    The connection is released when the stream ends, fails, is closed
    (``await stream.aclose()``), its ``async with`` block is left, or its task is cancelled.
    """

    __slots__ = ("_closed", "_first", "_source", "_spec", "_transport")

    def __init__(self, transport: AsyncTransport, spec: RequestSpec) -> None:
        self._state = StreamState(transport.config.secrets + spec.secrets)
        self._transport = transport
        self._spec = spec
        self._source: AsyncEventSource | None = None
        self._first: ServerSentEvent | None = None
        self._closed = False

    @property
    def response(self) -> httpx.Response:
        """The HTTP response (status and headers); available once the stream is open."""
        if self._source is None:
            raise RuntimeError("The stream is not open yet: await it or use 'async with' first.")
        return self._source.response

    async def _open(self) -> None:
        if self._source is None and not self._closed:
            self._source, self._first = await self._transport.open_stream(self._spec)

    def __await__(self) -> Generator[Any, None, AsyncChatStream]:
        return self._opened().__await__()

    async def _opened(self) -> AsyncChatStream:
        await self._open()
        return self

    async def _next_event(self) -> ServerSentEvent | None:
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self._closed or self._source is None:
            return None
        return await self._source.next()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        if self._source is None:
            # Opening failures (status errors, retries exhausted) propagate as they are.
            await self._open()
        state = self._state
        try:
            while True:
                # _next_event() inlined, and an event already decoded is taken without
                # creating a coroutine: this loop runs once per token.
                event = self._first
                source = self._source
                if event is not None:
                    self._first = None
                elif self._closed or source is None:
                    event = None
                else:
                    event = source.buffered()
                    if event is None:
                        event = await source.next()
                if event is None:
                    await self.aclose()
                    state.finish()
                    raise StopAsyncIteration
                token = state.on_event(event)
                if token is not None:
                    return token
        except APIConnectionError as exc:
            await self.aclose()
            state.finish(exc)
            raise StopAsyncIteration from None
        except BaseException:
            await self.aclose()
            raise

    def events(self) -> AsyncIterator[ServerSentEvent]:
        """The decoded SSE events themselves (the stream's state is kept up to date).

        An iterator object rather than an async generator, so leaving it early leaves
        nothing for the garbage collector to finalise.
        """
        return _AsyncEvents(self)

    async def _anext_event(self) -> ServerSentEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._source is None:
            await self._open()
        state = self._state
        try:
            event = await self._next_event()
            if event is None:
                await self.aclose()
                state.finish()
                raise StopAsyncIteration
            state.on_event(event)
            return event
        except APIConnectionError as exc:
            await self.aclose()
            state.finish(exc)
            raise StopAsyncIteration from None
        except BaseException:
            await self.aclose()
            raise

    async def until_done(self) -> str:
        """Read the rest of the stream; return the whole text."""
        async for _ in self:
            pass
        return self.text

    async def aclose(self) -> None:
        """Release the connection; iteration ends. Safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._first = None
            if self._source is not None:
                await self._source.aclose()
                stream_closed(self._source.response, self._state.final)  # the usage ledger

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

    def __repr__(self) -> str:
        status = "done" if self.done else ("closed" if self._closed else "open")
        return f"<AsyncChatStream {status}, {len(self.text)} chars>"


class _AsyncEvents:
    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncChatStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _AsyncEvents:
        return self

    async def __anext__(self) -> ServerSentEvent:
        return await self._stream._anext_event()
