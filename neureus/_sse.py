"""An incremental Server-Sent Events decoder over bytes, with no I/O.

Feed it chunks exactly as they come off the socket; it returns the events those chunks
complete. It holds for whatever a server or proxy sends: LF, CRLF or CR line endings (a
CRLF split across two chunks included), comment and keep-alive lines, ``event:``, ``id:``
and ``retry:`` fields, ``data:`` with or without the space, multi-line data, and chunk
boundaries anywhere, inside a multi-byte UTF-8 character too (lines are decoded only once
whole). Events are :class:`httpx_sse.ServerSentEvent` objects.

One leniency beyond the WHATWG algorithm: at end of body, an event whose ``data`` lines
all ended but whose blank line never came is still dispatched, since some servers close
the stream right after the last ``data:`` line. A line cut off mid-way is never used.
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent

__all__ = ["SSEDecoder"]


class SSEDecoder:
    """Bytes in, :class:`~httpx_sse.ServerSentEvent` out.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"delta": {"content": "Hi"}}\\n\\nda')
    [ServerSentEvent(event='message', data='{"delta": {"content": "Hi"}}')]
    >>> decoder.feed(b"ta: more\\n\\n")
    [ServerSentEvent(event='message', data='more')]
    """

    __slots__ = ("_after_cr", "_data", "_event", "_id", "_last_id", "_partial", "_retry", "_started")

    def __init__(self) -> None:
        self._partial: list[bytes] = []
        self._after_cr = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._last_id = ""
        self._retry: int | None = None

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
        if b"\r" in chunk:
            self._after_cr = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if (
            chunk[:6] == b"data: "
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1] == 10
            and not self._partial
            and not self._data
            and self._started
            and not self._event
            and self._id is None
            and self._retry is None
        ):
            # The common token chunk: one whole one-line ``data:`` event, nothing pending.
            # Exactly what the general path below would make of it, minus the line loop.
            return [ServerSentEvent("message", chunk[6:-2].decode("utf-8", "replace"), self._last_id)]
        if b"\n" not in chunk:
            self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial.clear()
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            self._partial.append(tail)
        return self._lines(lines)

    def flush(self) -> list[ServerSentEvent]:
        """The body ended: dispatch a pending event whose lines were all complete."""
        self._partial.clear()
        self._after_cr = False
        if self._data:
            return self._lines([b""])
        return []

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
                            id=self._last_id if self._id is None else self._id,
                            retry=self._retry,
                        )
                    )
                    data.clear()
                    if self._id is not None:
                        self._last_id = self._id
                self._event = ""
                self._id = None
                self._retry = None
                continue
            if raw[:5] == b"data:":
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                data.append(value.decode("utf-8", "replace"))
                continue
            if raw[0] == 58:  # ":" opens a comment (keep-alive pings)
                continue
            field, sep, value = raw.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            name = field.decode("utf-8", "replace")
            text = value.decode("utf-8", "replace")
            if name == "data":
                data.append(text)
            elif name == "event":
                self._event = text
            elif name == "id":
                if "\0" not in text:
                    self._id = text
            elif name == "retry" and text.isdigit():
                self._retry = int(text)
        return events
