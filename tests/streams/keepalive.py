"""A raw-socket SSE server on 127.0.0.1 that keeps its connections alive and counts them.

Unlike :mod:`tests.streams.server` (which always answers ``connection: close``), every
connection here serves requests one after another until the client hangs up, so a test
can tell a reused connection (``connections`` stays put) from a new one. Each request
takes the next :class:`Reply` (or the default one): its ``parts`` are written as they are
(a float is a pause, which ends early, and is recorded, when the client hangs up; a
``threading.Event`` is a pause until it is set, at most ``GATE_LIMIT`` seconds), then,
unless the client left, the body's terminating chunk. ``end_with_last`` sends that
terminating chunk in the same write as the last part, as a server that ends a stream
right after its ``done`` event does.

Every wait is bounded and ends early when the server stops or the peer leaves.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections import deque

from .._sockets import LoopbackServer, Reader, pause
from .server import done, token

__all__ = ["KeepAliveServer", "Reply", "chunk"]

END = b"0\r\n\r\n"
GATE_LIMIT = 10.0
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclasses.dataclass
class Reply:
    parts: list[bytes | float | threading.Event] = dataclasses.field(default_factory=lambda: [token("hi"), done()])
    end_with_last: bool = True
    # filled in by the server
    left_early: bool = False
    """The client hung up during one of the pauses (it did not wait for the body's end)."""
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)


class KeepAliveServer:
    """Use as a context manager; ``reply()`` queues the answers."""

    def __init__(self) -> None:
        self._server = LoopbackServer(self._serve, name="keepalive")
        self.port: int = self._server.port
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._server.accepted

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def _paused(self, sock: socket.socket, wait: float | threading.Event) -> bool:
        """Pause; True when the peer left meanwhile (or the server stops)."""
        stopping = self._server.stopping
        if isinstance(wait, float):
            return not pause(sock, wait, stopping)
        end = time.monotonic() + GATE_LIMIT
        while not wait.is_set() and time.monotonic() < end:
            if not pause(sock, 0.02, stopping):
                return True
        return False

    def _answer(self, sock: socket.socket, reply: Reply) -> bool:
        """Write one answer; False when the connection is over."""
        pending = HEAD
        for part in reply.parts:
            if isinstance(part, (float, threading.Event)):
                sock.sendall(pending)
                pending = b""
                if self._paused(sock, part):
                    reply.left_early = True
                    return False
                continue
            pending += chunk(part)
            if not reply.end_with_last:
                sock.sendall(pending)
                pending = b""
        sock.sendall(pending + END)
        return True

    def _serve(self, sock: socket.socket, _number: int) -> None:
        reader = Reader(sock, self._server.stopping)
        while reader.read() is not None:
            with self._lock:
                self.requests += 1
                reply = self._replies.popleft() if self._replies else Reply()
            try:
                if not self._answer(sock, reply):
                    return
            finally:
                reply.finished.set()

    def __enter__(self) -> KeepAliveServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
