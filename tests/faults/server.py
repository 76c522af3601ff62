"""A fault-injection HTTP/1.1 server on 127.0.0.1, scriptable per request.

Raw sockets (the accept loop and request reader are tests/_sockets.py's), one thread per
connection, keep-alive. Each request pops the next scripted :class:`Reply` (optionally
only for one path); with nothing scripted it answers like the gateway would (a
well-formed reply per endpoint). What was sent is recorded, so a test can compare what
the client got with what the server put on the wire:

- ``requests``: every request received (method, path, headers, body, connection number);
- ``streams``: for every streamed reply, the tokens whose event was written in full;
- ``connections_opened`` and ``open_connections`` (accepted, not yet closed);
- ``faults_injected``: replies that were a fault rather than a plain success.

Every wait is bounded and interruptible: :meth:`FaultServer.stop` wakes stalled handlers,
closes every connection and joins every thread. Only ever binds a loopback address.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from tests._sockets import LoopbackServer, Reader, pause, reset

__all__ = [
    "Chunked",
    "FaultServer",
    "Raw",
    "Received",
    "Redirect",
    "Reply",
    "Reset",
    "ResetMidBody",
    "Respond",
    "Stream",
    "default_body",
    "sse_event",
]


class Reply:
    """Base of every scripted answer."""

    fault = True


@dataclasses.dataclass
class Respond(Reply):
    """An ordinary answer; ``body=None`` means the endpoint's default success body.

    ``headers_delay`` waits before the status line; ``trickle=(size, pause)`` writes the
    body ``size`` bytes at a time with ``pause`` seconds in between.
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    headers_delay: float = 0.0
    trickle: tuple[int, float] | None = None
    content_type: str = "application/json"

    @property
    def fault(self) -> bool:  # type: ignore[override]
        return not (self.status < 300 and self.body is None and not self.headers_delay and not self.trickle)


@dataclasses.dataclass
class Reset(Reply):
    """Read the request, then reset the connection (RST) without answering."""


@dataclasses.dataclass
class ResetMidBody(Reply):
    """Send the status, headers and part of the body, then reset the connection."""

    status: int = 200
    body: bytes = b'{"text": "hello", "choices": []}'
    send: int = 10


@dataclasses.dataclass
class Raw(Reply):
    """Write these bytes as they are, then close the connection."""

    data: bytes = b""


@dataclasses.dataclass
class Redirect(Reply):
    """A redirect to ``location`` (another host)."""

    location: str = ""
    status: int = 307


@dataclasses.dataclass
class Chunked(Reply):
    """A 200 whose body is sent as these chunks (chunked encoding) with no fault."""

    chunks: Sequence[bytes] = ()
    content_type: str = "text/event-stream"
    pause: float = 0.0  # between chunks (each chunk is flushed on its own)


@dataclasses.dataclass
class Stream(Reply):
    """An SSE reply of ``tokens``, one event each, then the done event.

    ``cut_after=k``: end the body cleanly after k token events (no done event).
    ``reset_after=k``: reset the connection after k token events.
    ``break_after=k``: stop writing after k events and close without the last chunk
    (a broken chunked body).
    ``stall_after=k`` with ``stall=s``: wait s seconds after k events, then go on.
    ``error_after=k``: send an ``event: error`` after k token events.
    ``first_delay``: wait this long after the headers before the first event.
    ``huge_event``: prepend one token event whose content is this many bytes.
    """

    tokens: Sequence[str] = ("Hel", "lo", ", ", "wor", "ld", "!")
    cut_after: int | None = None
    reset_after: int | None = None
    break_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0
    error_after: int | None = None
    first_delay: float = 0.0
    status: int = 200

    @property
    def fault(self) -> bool:  # type: ignore[override]
        return any(
            x is not None
            for x in (self.cut_after, self.reset_after, self.break_after, self.stall_after, self.error_after)
        ) or bool(self.first_delay)


@dataclasses.dataclass
class Received:
    """One request as the server read it (header names lowercase)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def sse_event(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


_PROVIDER_PREFIX = "/ai/providers/"


def default_body(method: str, path: str) -> bytes:
    """The well-formed success body of each endpoint."""
    if path == "/ai/chat":
        data: Any = {
            "text": "Hello from the fault server.",
            "choices": [{"message": {"role": "assistant", "content": "Hello from the fault server."}}],
            "logId": "log_1",
            "inputTokens": 3,
            "outputTokens": 6,
        }
    elif path == "/ai/embeddings":
        data = {"embeddings": [[0.1, 0.2, 0.3]], "model": "embed-1"}
    elif path == "/ai/models":
        data = {"models": [{"id": "gpt-4o-mini", "provider": "openai", "type": "chat"}]}
    elif path == "/ai/providers":
        data = {"providers": [{"provider": "openai", "configured": True}]}
    elif path.startswith(_PROVIDER_PREFIX):
        provider = path[len(_PROVIDER_PREFIX) :].split("/")[0]
        data = {"provider": provider, "configured": method != "DELETE"}
    elif path == "/ai/widget/key":
        data = {"key": "pk_widget_0123456789abcdef", "keyPreview": "pk_widg"} if method == "POST" else {"revoked": True}
    else:
        data = {"error": {"message": "no such endpoint"}}
    return json.dumps(data).encode()


class _Connection:
    def __init__(self, server: FaultServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.reader = Reader(sock, server.stopping_event)

    def read_request(self) -> Received | None:
        raw = self.reader.read()
        if raw is None:
            return None
        return Received(raw.method, raw.path, raw.headers, raw.body, self.number)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; give up early (False) if the server stops or the peer left."""
        return pause(self.sock, seconds, self.server.stopping_event)

    # -- writing ----------------------------------------------------------------------

    def head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reset(self) -> None:
        reset(self.sock)

    def answer(self, request: Received, reply: Reply) -> bool:
        """Answer one request; return whether the connection stays open."""
        send = self.sock.sendall
        wait = self.wait
        if isinstance(reply, Reset):
            self.reset()
            return False
        if isinstance(reply, Raw):
            send(reply.data)
            return False
        if isinstance(reply, Redirect):
            send(self.head(reply.status, {"location": reply.location, "content-length": "0"}))
            return True
        if isinstance(reply, ResetMidBody):
            headers = {"content-type": "application/json", "content-length": str(len(reply.body))}
            send(self.head(reply.status, headers) + reply.body[: reply.send])
            wait(0.05)
            self.reset()
            return False
        if isinstance(reply, Chunked):
            send(self.head(200, {"content-type": reply.content_type, "transfer-encoding": "chunked"}))
            for index, chunk in enumerate(reply.chunks):
                if index and reply.pause and not wait(reply.pause):
                    return False
                if chunk:
                    send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            send(b"0\r\n\r\n")
            return True
        if isinstance(reply, Stream):
            return self._stream(reply)
        assert isinstance(reply, Respond), reply
        if reply.headers_delay and not wait(reply.headers_delay):
            return False
        body = reply.body if reply.body is not None else default_body(request.method, request.path)
        headers = {"content-type": reply.content_type, "content-length": str(len(body))}
        headers.update(reply.headers)
        if reply.trickle is None:
            send(self.head(reply.status, headers) + body)
            return True
        send(self.head(reply.status, headers))
        size, pause = reply.trickle
        for start in range(0, len(body), size):
            if start and not wait(pause):
                return False
            send(body[start : start + size])
        return True

    def _stream(self, reply: Stream) -> bool:
        send = self.sock.sendall
        sent: list[str] = []
        self.server.streams.append(sent)
        send(self.head(reply.status, {"content-type": "text/event-stream", "transfer-encoding": "chunked"}))
        if reply.first_delay and not self.wait(reply.first_delay):
            return False

        def chunk(data: bytes) -> None:
            send(b"%x\r\n%s\r\n" % (len(data), data))

        for index, token in enumerate(reply.tokens):
            if index == reply.cut_after:
                send(b"0\r\n\r\n")
                return True
            if index == reply.reset_after:
                self.wait(0.05)  # let the client read what was sent before the RST
                self.reset()
                return False
            if index == reply.break_after:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
                return False
            if index == reply.error_after:
                chunk(sse_event({"error": {"message": "upstream provider failed", "type": "upstream"}}, "error"))
                send(b"0\r\n\r\n")
                return True
            if index == reply.stall_after and reply.stall and not self.wait(reply.stall):
                return False
            chunk(sse_event({"delta": {"content": token}, "done": False}))
            sent.append(token)
        chunk(sse_event({"done": True, "logId": "log_s", "inputTokens": 3, "outputTokens": len(sent)}))
        send(b"0\r\n\r\n")
        return True

    # -- the loop -----------------------------------------------------------------------

    def serve(self) -> None:
        for _ in range(10_000):  # bounded: requests per connection
            request = self.read_request()
            if request is None:
                return
            reply = self.server.take(request)
            if not self.answer(request, reply):
                return


_REASONS = {
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultServer:
    """The server; use as a context manager or call :meth:`start` and :meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", *, echo: bool = False) -> None:
        self._sockets = LoopbackServer(self._serve, host=host, backlog=1024, name="fault-server")
        self.host = host
        self.echo = echo
        """Unscripted chats answer with the last message's words (streamed one per event)."""
        self.port: int = self._sockets.port
        self._lock = threading.Lock()
        self._script: deque[tuple[str | None, Reply]] = deque()
        self.requests: list[Received] = []
        self.streams: list[list[str]] = []
        self.faults_injected = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connections_opened(self) -> int:
        return self._sockets.accepted

    @property
    def open_connections(self) -> int:
        return self._sockets.open_connections

    # -- scripting ----------------------------------------------------------------------

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Queue replies for the next requests (to ``path`` only, when given)."""
        with self._lock:
            self._script.extend((path, reply) for reply in replies)

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def reset_records(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.streams.clear()

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_requests(self, path: str, count: int, timeout: float = 5.0) -> int:
        """Wait (bounded) until ``count`` requests to ``path`` were read; return how many were.

        A client whose timeout fired may be done before this server's thread has read the
        request it sent: count what reached the server, not what it got round to so far.
        """
        end = time.monotonic() + timeout
        while len(self.requests_to(path)) < count and time.monotonic() < end:
            time.sleep(0.005)
        return len(self.requests_to(path))

    def take(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            for item in self._script:
                if item[0] is None or item[0] == request.path:
                    self._script.remove(item)
                    reply = item[1]
                    break
            else:
                reply = _default_reply(request, self.echo)
            if reply.fault:
                self.faults_injected += 1
        return reply

    @property
    def stopping_event(self) -> threading.Event:
        return self._sockets.stopping

    @property
    def stopping(self) -> bool:
        return self._sockets.stopping.is_set()

    def drop_connections(self) -> int:
        """Close every open connection from the server side (idle keep-alive ones included)."""
        return self._sockets.drop_connections()

    def wait_idle(self, open_at_most: int = 0, timeout: float = 5.0) -> int:
        """Wait (bounded) until at most ``open_at_most`` connections are open; return the count."""
        return self._sockets.wait_idle(open_at_most, timeout)

    # -- lifecycle ----------------------------------------------------------------------

    def _serve(self, sock: socket.socket, number: int) -> None:
        _Connection(self, sock, number).serve()

    def start(self) -> FaultServer:
        self._sockets.start()
        return self

    def stop(self) -> None:
        self._sockets.stop()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def echo_tokens(text: str) -> list[str]:
    """How an echo server cuts a message into tokens: words with their leading space."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]] if text else ["(empty)"]


def _default_reply(request: Received, echo: bool) -> Reply:
    stream = _wants_stream(request)
    if not echo or request.path != "/ai/chat":
        return Stream() if stream else Respond()
    body = request.json if isinstance(request.json, dict) else {}
    messages = body.get("messages") or [{}]
    text = str(messages[-1].get("content", "")) if isinstance(messages[-1], dict) else ""
    if stream:
        return Stream(tokens=echo_tokens(text))
    return Respond(body=json.dumps({"text": text, "logId": "log_echo"}).encode())


def _wants_stream(request: Received) -> bool:
    if request.path != "/ai/chat":
        return False
    body = request.json
    return isinstance(body, dict) and body.get("stream") is True
