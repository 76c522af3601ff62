"""An incremental Server-Sent Events decoder over bytes, with no I/O.

Feed it chunks exactly as they come off the socket; it returns the events those chunks
complete. It follows the WHATWG "event stream interpretation" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

- one leading UTF-8 BOM is dropped; lines end at CRLF, LF or CR (a CRLF split across two
  chunks included); lines are decoded only once whole, so a chunk boundary inside a
  multi-byte character changes nothing (invalid UTF-8 becomes U+FFFD);
- a line starting with ``:`` is a comment (keep-alive pings); a line with no ``:`` is a
  field name with an empty value; one space after the ``:`` is dropped, no more;
- ``event`` sets the type of the event being built (``message`` when empty); ``data``
  lines are joined with ``\\n``; an ``id`` containing NUL is ignored, any other ``id``
  sets the last event id, which *persists* (a block with an ``id`` and no ``data``
  still sets it for the events that follow); ``retry`` is used only when it is ASCII
  digits (``²`` or Arabic-Indic digits are ignored, never an error); other fields are
  ignored;
- a blank line dispatches the event being built, unless it has no ``data`` line.

Events are :class:`httpx_sse.ServerSentEvent` objects; their ``retry`` is the ``retry``
field of their own block (httpx-sse's reading), ``None`` without one.

One documented leniency: at end of body, an event whose ``data`` lines all ended but whose
blank line never came is still dispatched, since some servers close the stream right after
the last ``data:`` line. A line cut off mid-way is never used.

Memory is bounded: when one event (its ``data`` so far plus the line being read) grows past
``max_event_bytes``, :meth:`SSEDecoder.feed` raises
:class:`~neureus.APIResponseValidationError` naming the limit.
"""

from __future__ import annotations

import sys

from httpx_sse import ServerSentEvent

from ._exceptions import APIResponseValidationError

__all__ = ["SSEDecoder"]


class SSEDecoder:
    """Bytes in, :class:`~httpx_sse.ServerSentEvent` out.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"delta": {"content": "Hi"}}\\n\\nda')
    [ServerSentEvent(event='message', data='{"delta": {"content": "Hi"}}')]
    >>> decoder.feed(b"ta: more\\n\\n")
    [ServerSentEvent(event='message', data='more')]
    """

    __slots__ = (
        "_after_cr",
        "_data",
        "_event",
        "_last_id",
        "_limit",
        "_max",
        "_partial",
        "_partial_size",
        "_retry",
        "_size",
        "_started",
    )

    fast_path = True
    """Whether one whole one-line ``data:`` chunk skips the line loop (a class switch, so
    the benchmark and the differential test can compare against the plain path)."""

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._partial: list[bytes] = []
        self._after_cr = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None
        self._limit = max_event_bytes
        self._max = sys.maxsize if max_event_bytes is None else max_event_bytes  # for the fast path
        self._size = 0  # bytes of the event being built (its data lines)
        self._partial_size = 0  # bytes of the line being read

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next chunk; return the events it completes (often one, maybe none)."""
        if not chunk:
            return []
        if self._after_cr:
            # The previous chunk ended in "\r", already taken as a line end: a "\n"
            # opening this chunk is the second half of that CRLF.
            self._after_cr = False
            if chunk[0] == 10:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            self._after_cr = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if (
            self.fast_path
            and chunk[:6] == b"data: "
            and chunk[-2:] == b"\n\n"
            and chunk.find(b"\n") == len(chunk) - 2
            and not self._partial
            and not self._data
            and self._started
            and not self._event
            and self._retry is None
            and len(chunk) <= self._max
        ):
            # Shortcut (benchmarks/bench_stream_*; pinned by tests/streams/test_shortcuts_differential.py):
            # the common token chunk is one whole one-line ``data:`` event with nothing
            # pending. Exactly what the general path below makes of it, minus the line loop.
            return [ServerSentEvent("message", chunk[6:-2].decode("utf-8", "replace"), self._last_id)]
        if b"\n" not in chunk:
            self._partial.append(chunk)
            self._partial_size += len(chunk)
            if self._limit is not None:
                self._check()
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial.clear()
            self._partial_size = 0
        lines = chunk.split(b"\n")
        tail = lines.pop()
        events = self._lines(lines)
        if tail:
            self._partial.append(tail)
            self._partial_size = len(tail)
            if self._limit is not None:
                self._check()
        return events

    def flush(self) -> list[ServerSentEvent]:
        """The body ended: dispatch a pending event whose lines were all complete."""
        self._partial.clear()
        self._partial_size = 0
        self._after_cr = False
        if self._data:
            return self._lines([b""])
        return []

    def _check(self) -> None:
        limit = self._limit
        if limit is not None and self._size + self._partial_size > limit:
            # Drop what was held: the caller closes the stream.
            self._partial.clear()
            self._data.clear()
            self._size = self._partial_size = 0
            raise APIResponseValidationError(
                f"One SSE event of the stream is larger than max_response_bytes ({limit} bytes); "
                "raise max_response_bytes= on the client or the call's with_options() if that is expected."
            )

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        data = self._data
        for raw in lines:
            if not self._started:
                self._started = True
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
            if not raw:
                if data:
                    events.append(
                        ServerSentEvent(
                            event=self._event or "message",
                            data="\n".join(data),
                            id=self._last_id,
                            retry=self._retry,
                        )
                    )
                    data.clear()
                    self._size = 0
                self._event = ""
                self._retry = None
                continue
            if raw[:5] == b"data:":
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                data.append(value.decode("utf-8", "replace"))
                self._size += len(value) + 1
                if self._limit is not None:
                    self._check()
                continue
            if raw[0] == 58:  # ":" opens a comment (keep-alive pings)
                continue
            field, sep, value = raw.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value.decode("utf-8", "replace"))
                self._size += len(value) + 1
                if self._limit is not None:
                    self._check()
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            elif field == b"id":
                if b"\0" not in value:
                    # The last event id buffer is never reset by a dispatch (WHATWG).
                    self._last_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                # bytes.isdigit() is ASCII-only: "²" or Arabic-Indic digits are ignored.
                self._retry = int(value)
        return events
