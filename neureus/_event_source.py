"""The pull helpers of a stream: an open response's bytes in, one outcome out.

:class:`SyncEventSource` and :class:`AsyncEventSource` read an open response one raw chunk
at a time into the pure :class:`~neureus._sse.SSEDecoder`, so an event is handed on the
moment it is complete. A compressed body (``content-encoding``) goes through
:class:`~neureus._body.StreamDecoder` on the way, one decoded piece of one step (64 KiB) at
a time and only while the event queue is empty: httpx's decoders would inflate a whole raw
chunk at once, and a few KB of ``gzip, gzip`` can inflate to gigabytes (of one endless
event, or of millions of tiny ones), so neither a piece nor the queue can grow past one
step of decoding. An identity body skips the decoder: its raw chunks are fed as they are.

Every decision is made once, in the flavour-free core (``_EventSourceBase``, which never
reads, awaits or sleeps), as :func:`neureus._retry.request_flow` makes a call's:
``_next`` answers what a pull can answer without reading (a queued event, the end, what
pending decoded pieces complete) or asks for a read; ``_take`` turns one read's result
into an outcome or asks for another read; ``_closing`` says whether closing reads the
body's end first. The sync and async sources only read (or await) a chunk and hand it over.

:meth:`~SyncEventSource.pull` answers one *outcome* for
:meth:`neureus._stream_state.StreamState.consume`: the next event, ``None`` at the end of
the body, or the SDK error that stopped it (returned, never raised): a translated
transport error, an :class:`~neureus.APITimeoutError` once the call's deadline
(``read_by``) has passed, or an :class:`~neureus.APIResponseValidationError` for an event
past ``max_response_bytes`` or a body its ``content-encoding`` cannot decode.

At ``done`` the stream closes its source with ``at_done``: one more read of the body, which
never waits (it takes only what has already arrived), so that a body whose end came with
``done`` hands its connection back to the pool instead of dropping it.

The deadline is watched between chunks (and decoded pieces), so keep-alive comments (which complete no event)
cannot hold a pull past it; the async pull also runs inside a cancel scope that ends at the
deadline, so a silent stall cannot either. A sync pull cannot be interrupted mid-read: a
silent stall there ends at the per-read timeout, which the request flow clipped to what
was left of the deadline when the request was sent.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import anyio
import httpx
from httpx_sse import ServerSentEvent

from ._body import _STEP, StreamDecoder
from ._exceptions import APIResponseValidationError, translate_transport_error
from ._sse import SSEDecoder
from ._stream_state import END, Outcome, deadline_passed
from ._transport import _finish_iterator, spare_bytes_holder

__all__ = ["AsyncEventSource", "SyncEventSource"]


class _More(enum.Enum):
    """The chunk completed no event: read another."""

    MORE = 0


_MORE: Final = _More.MORE


def _refuse(error: APIResponseValidationError) -> Iterator[bytes]:
    """Pieces that raise ``error`` when asked for: a coding the stream cannot decode."""
    raise error
    yield b""  # pragma: no cover - makes this a generator


class _EventSourceBase(abc.ABC):
    __slots__ = ("_body", "_chunks", "_decoder", "_ended", "_pieces", "_queue", "read_by", "response")

    _chunks: Any

    def __init__(
        self, response: httpx.Response, read_by: float | None = None, max_event_bytes: int | None = None
    ) -> None:
        self.response = response
        self.read_by = read_by
        """The ``time.monotonic()`` past which a pull answers the deadline's timeout."""
        self._decoder = SSEDecoder(max_event_bytes)
        self._queue: deque[ServerSentEvent] = deque()
        self._ended = False
        self._body: StreamDecoder | None = None
        """The codings still to undo (None: identity, or the body has ended)."""
        self._pieces: Iterator[bytes] | None = None
        """The decoded pieces of the last raw chunk not yet fed to the SSE decoder."""
        if response.is_stream_consumed:
            # An in-memory transport hands a bytes body over already read, and decoded.
            self._chunks = self._byte_iterator(response)
            return
        self._chunks = self._raw_iterator(response)
        encoding = response.headers.get("content-encoding")
        if encoding:
            try:
                body = StreamDecoder(encoding, status=response.status_code)
            except APIResponseValidationError as exc:
                self._pieces = _refuse(exc)  # answered by the first pull, before any read
            else:
                self._body = None if body.identity else body

    # Each flavour names httpx's iterator over a response's raw bytes, and over its decoded
    # bytes (for a body an in-memory transport already read).
    @abc.abstractmethod
    def _raw_iterator(self, response: httpx.Response) -> Any: ...

    @abc.abstractmethod
    def _byte_iterator(self, response: httpx.Response) -> Any: ...

    def unread(self, event: ServerSentEvent) -> None:
        """Put an event back, to be pulled first (the first event, read while opening)."""
        self._queue.appendleft(event)

    def _hand_on(self, events: list[ServerSentEvent]) -> ServerSentEvent:
        # A pull reads only once the queue is empty: hand the first on, keep the rest.
        if len(events) > 1:
            self._queue.extend(events[1:])
        return events[0]

    def _next(self) -> Outcome | _More:
        """What a pull answers before any read: a queued event, the end, what the pending
        decoded pieces complete, or :data:`_MORE` (read a chunk and hand it to :meth:`_take`,
        until that answers something else)."""
        queue = self._queue
        if queue:
            return queue.popleft()
        if self._ended:
            return END
        if self._pieces is not None:
            return self._drain()
        return _MORE

    def _timed_out(self) -> Outcome:
        """The outcome of a read cut at the deadline (the async pull's scope)."""
        self._ended = True
        return deadline_passed()

    def _closing(self, at_done: bool) -> bool:
        """Whether closing reads the rest of the body first: at ``done``, once, unless the
        body has already ended (see :meth:`SyncEventSource.close`). Nothing is read after."""
        read_end = at_done and not self._ended
        self._ended = True
        return read_end

    def _no_event(self) -> Outcome | _More:
        if self._ended:
            return END
        read_by = self.read_by
        if read_by is not None and time.monotonic() > read_by:
            self._ended = True
            return deadline_passed()
        return _MORE

    def _take(self, chunk: bytes | httpx.HTTPError | None) -> Outcome | _More:
        """One read's result (bytes, the end of the body, or httpx's error) as an outcome."""
        try:
            if type(chunk) is bytes:
                body = self._body
                if body is not None:
                    self._pieces = body.pieces(chunk)
                    return self._drain()
                events = self._decoder.feed(chunk)
            elif chunk is None:
                body = self._body
                if body is not None:  # the codings' ends first (see _drain)
                    self._body = None
                    self._pieces = body.finish()
                    return self._drain()
                self._ended = True
                events = self._decoder.flush()
            else:
                assert isinstance(chunk, httpx.HTTPError)
                self._ended = True
                return translate_transport_error(chunk)
        except APIResponseValidationError as exc:
            self._ended = True
            return exc
        if events:  # _hand_on, inlined: this is every event's path
            if len(events) > 1:
                self._queue.extend(events[1:])
            return events[0]
        return self._no_event()

    def _drain(self) -> Outcome | _More:
        """Feed the pending decoded pieces, one at a time, until one completes an event (the
        rest wait for the next pull: decoding goes no further than the caller reads)."""
        pieces = self._pieces
        assert pieces is not None
        decoder = self._decoder
        read_by = self.read_by
        try:
            for piece in pieces:
                events = decoder.feed(piece)
                if events:
                    return self._hand_on(events)
                # A bomb of keep-alive comments completes no event: watch the clock per piece.
                if read_by is not None and time.monotonic() > read_by:
                    self._ended = True
                    return deadline_passed()
            self._pieces = None
            if self._body is None and not self._ended:  # those were the codings' last pieces
                self._ended = True
                events = decoder.flush()
                if events:
                    return self._hand_on(events)
        except APIResponseValidationError as exc:
            self._ended = True
            return exc
        return self._no_event()


class SyncEventSource(_EventSourceBase):
    """Decoded events of an open sync response, pulled one outcome at a time."""

    __slots__ = ()

    def _raw_iterator(self, response: httpx.Response) -> Iterator[bytes]:
        return response.iter_raw()

    def _byte_iterator(self, response: httpx.Response) -> Iterator[bytes]:
        return response.iter_bytes(_STEP)

    def pull(self) -> Outcome:
        """The next outcome (see the module docstring)."""
        outcome = self._next()
        while outcome is _MORE:
            try:
                chunk: bytes | httpx.HTTPError | None = next(self._chunks, None)
            except httpx.HTTPError as exc:
                chunk = exc
            outcome = self._take(chunk)
        return outcome

    def close(self, at_done: bool = False) -> None:
        """Release the connection; at ``done``, back to the pool if the body's end came with it."""
        if self._closing(at_done):
            stream = self.response.extensions.get("network_stream")
            if stream is not None:
                from ._deadline_io import DeadlineStream, buffered_only

                # Only the SDK's own pool can read without waiting (see _deadline_io).
                if isinstance(stream, DeadlineStream):
                    with buffered_only(), contextlib.suppress(Exception):
                        next(self._chunks, None)
                    spare = spare_bytes_holder(self.response)
                    self.response.close()
                    if spare is not None:
                        spare.close()  # closed, the pool drops it
        self.response.close()


class AsyncEventSource(_EventSourceBase):
    """Decoded events of an open async response, pulled one outcome at a time."""

    __slots__ = ()

    def _raw_iterator(self, response: httpx.Response) -> AsyncIterator[bytes]:
        return response.aiter_raw()

    def _byte_iterator(self, response: httpx.Response) -> AsyncIterator[bytes]:
        return response.aiter_bytes(_STEP)

    async def pull(self, _watched: bool = False) -> Outcome:
        """The next outcome (see the module docstring); within the deadline, if any."""
        outcome = self._next()
        if outcome is not _MORE:
            return outcome
        read_by = self.read_by
        if read_by is not None and not _watched:
            with anyio.move_on_after(read_by - time.monotonic()):
                return await self.pull(True)
            return self._timed_out()
        while outcome is _MORE:
            try:
                chunk: bytes | httpx.HTTPError | None = await anext(self._chunks, None)
            except httpx.HTTPError as exc:
                chunk = exc
            outcome = self._take(chunk)
        return outcome

    async def aclose(self, at_done: bool = False) -> None:
        """Release the connection, even inside a cancelled scope; at ``done``, back to the
        pool if the body's end came with it."""
        read_end = self._closing(at_done)
        with anyio.CancelScope(shield=True):
            if read_end:
                # One read in a scope cancelled before it starts: what is already buffered
                # (the body's end) is read without a checkpoint, and anything that would
                # wait on the network is cancelled at once (httpcore then drops the
                # connection instead of pooling it).
                with anyio.CancelScope() as now_only, contextlib.suppress(Exception):
                    now_only.cancel()
                    await anext(self._chunks, None)
                spare = spare_bytes_holder(self.response)
                await self.response.aclose()
                if spare is not None:
                    await spare.aclose()  # closed, the pool drops it
            await self.response.aclose()
            # httpx's byte iterator is a stack of nested async generators (down to httpcore's).
            # Closing only the outer one would leave the inner ones half-run for the garbage
            # collector, which trio reports as a ResourceWarning: finish every layer in order.
            await _finish_iterator(self._chunks)
