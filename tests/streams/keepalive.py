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

import contextlib
import dataclasses
import select
import socket
import threading
import time
from collections import deque

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
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def _read_request(self, sock: socket.socket, buffer: bytes) -> bytes | None:
        """The bytes after one whole request (None: the peer left or the server stops)."""
        while b"\r\n\r\n" not in buffer:
            chunk_ = self._recv(sock)
            if not chunk_:
                return None
            buffer += chunk_
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk_ = self._recv(sock)
            if not chunk_:
                return None
            rest += chunk_
        return rest[length:]

    def _recv(self, sock: socket.socket) -> bytes:
        while not self._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    return sock.recv(65536)
                except OSError:
                    return b""
        return b""

    def _peer_left(self, sock: socket.socket, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as the peer has closed its side."""
        end = time.monotonic() + seconds
        while not self._stopping.is_set():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([sock], [], [], min(remaining, 0.02))
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(0.005)
        return True

    def _paused(self, sock: socket.socket, pause: float | threading.Event) -> bool:
        """Pause; True when the peer left meanwhile."""
        if isinstance(pause, float):
            return self._peer_left(sock, pause)
        end = time.monotonic() + GATE_LIMIT
        while not pause.is_set() and time.monotonic() < end:
            if self._peer_left(sock, 0.02):
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

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stopping.is_set():
                rest = self._read_request(sock, buffer)
                if rest is None:
                    return
                buffer = rest
                with self._lock:
                    self.requests += 1
                    reply = self._replies.popleft() if self._replies else Reply()
                try:
                    if not self._answer(sock, reply):
                        return
                finally:
                    reply.finished.set()
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def __enter__(self) -> KeepAliveServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)
