"""The pull helpers of a stream: an open response's bytes in, one outcome out.

:class:`SyncEventSource` and :class:`AsyncEventSource` read an open response one chunk at
a time into the pure :class:`~neureus._sse.SSEDecoder`, so an event is handed on the
moment it is complete. :meth:`~SyncEventSource.pull` answers one *outcome* for
:meth:`neureus._stream_state.StreamState.consume`: the next event, ``None`` at the end of
the body, or the SDK error that stopped it (returned, never raised): a translated
transport error, an :class:`~neureus.APITimeoutError` once the call's deadline
(``read_by``) has passed, or the decoder's :class:`~neureus.APIResponseValidationError`
for an event past ``max_response_bytes``.

The deadline is watched between chunks, so keep-alive comments (which complete no event)
cannot hold a pull past it; the async pull also runs inside a cancel scope that ends at the
deadline, so a silent stall cannot either. A sync pull cannot be interrupted mid-read: a
silent stall there ends at the per-read timeout, which the request flow clipped to what
was left of the deadline when the request was sent.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import anyio
import httpx
from httpx_sse import ServerSentEvent

from ._exceptions import APIResponseValidationError, translate_transport_error
from ._sse import SSEDecoder
from ._stream_state import END, Outcome, deadline_passed

__all__ = ["AsyncEventSource", "SyncEventSource"]

_DRAIN_PULLS = 16


class _More(enum.Enum):
    """The chunk completed no event: read another."""

    MORE = 0


_MORE: Final = _More.MORE


class _EventSourceBase:
    __slots__ = ("_chunks", "_decoder", "_ended", "_queue", "read_by", "response")

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
        self._chunks = self._byte_iterator(response)

    def _byte_iterator(self, response: httpx.Response) -> Any:
        raise NotImplementedError

    def unread(self, event: ServerSentEvent) -> None:
        """Put an event back, to be pulled first (the first event, read while opening)."""
        self._queue.appendleft(event)

    def _take(self, chunk: bytes | httpx.HTTPError | None) -> Outcome | _More:
        """One read's result (bytes, the end of the body, or httpx's error) as an outcome."""
        try:
            if type(chunk) is bytes:
                events = self._decoder.feed(chunk)
            elif chunk is None:
                self._ended = True
                events = self._decoder.flush()
            else:
                assert isinstance(chunk, httpx.HTTPError)
                self._ended = True
                return translate_transport_error(chunk)
        except APIResponseValidationError as exc:
            self._ended = True
            return exc
        if events:
            # A pull reads only once the queue is empty: hand the first on, keep the rest.
            if len(events) > 1:
                self._queue.extend(events[1:])
            return events[0]
        if self._ended:
            return END
        read_by = self.read_by
        if read_by is not None and time.monotonic() > read_by:
            self._ended = True
            return deadline_passed()
        return _MORE


class SyncEventSource(_EventSourceBase):
    """Decoded events of an open sync response, pulled one outcome at a time."""

    __slots__ = ()

    def _byte_iterator(self, response: httpx.Response) -> Iterator[bytes]:
        return response.iter_bytes()

    def pull(self) -> Outcome:
        """The next outcome (see the module docstring)."""
        queue = self._queue
        if queue:
            return queue.popleft()
        while not self._ended:
            try:
                chunk: bytes | httpx.HTTPError | None = next(self._chunks, None)
            except httpx.HTTPError as exc:
                chunk = exc
            outcome = self._take(chunk)
            if outcome is not _MORE:
                return outcome
        return END

    def close(self) -> None:
        """Release the connection."""
        self._ended = True
        self.response.close()


class AsyncEventSource(_EventSourceBase):
    """Decoded events of an open async response, pulled one outcome at a time."""

    __slots__ = ()

    def _byte_iterator(self, response: httpx.Response) -> AsyncIterator[bytes]:
        return response.aiter_bytes()

    async def pull(self, _watched: bool = False) -> Outcome:
        """The next outcome (see the module docstring); within the deadline, if any."""
        queue = self._queue
        if queue:
            return queue.popleft()
        read_by = self.read_by
        if read_by is not None and not _watched:
            with anyio.move_on_after(read_by - time.monotonic()):
                return await self.pull(True)
            self._ended = True
            return deadline_passed()
        while not self._ended:
            try:
                chunk: bytes | httpx.HTTPError | None = await anext(self._chunks, None)
            except httpx.HTTPError as exc:
                chunk = exc
            outcome = self._take(chunk)
            if outcome is not _MORE:
                return outcome
        return END

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
