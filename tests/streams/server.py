"""A raw-socket SSE server on 127.0.0.1 that does what real servers and proxies do after
(and instead of) a clean end: keeps pinging, holds the connection open, sends more.

Each request takes the next scripted :class:`Script`: its ``parts`` are written one chunk
each (a float in ``parts`` is a pause); then, for ``hold`` seconds, ``hold_bytes`` every
``hold_every`` seconds (keep-alive pings, empty deltas, ...), and only then the end of the
body. What the client did is recorded per script: whether it closed the connection while
the server was still holding it open (``closed_early``), and how many hold writes went out.

Every wait is bounded and ends early when the server stops or the peer leaves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import socket
import threading
import time
from collections import deque
from typing import Any

__all__ = ["SSEServer", "Script", "data", "done", "token"]


def data(payload: Any, event: str | None = None) -> bytes:
    """One SSE event whose data is ``payload`` as JSON (or as it is, for ``bytes``)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + body + b"\n\n"


def token(text: str) -> bytes:
    return data({"delta": {"content": text}, "done": False})


def done(log_id: str = "log_first", output_tokens: int = 2) -> bytes:
    return data({"done": True, "logId": log_id, "inputTokens": 3, "outputTokens": output_tokens})


@dataclasses.dataclass
class Script:
    parts: list[bytes | float]
    content_type: str = "text/event-stream"
    status: int = 200
    hold: float = 0.0
    hold_bytes: bytes = b": ping\n\n"
    hold_every: float = 0.05
    # filled in by the server
    closed_early: bool = False
    hold_writes: int = 0
    written: int = 0
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)


class SSEServer:
    """Use as a context manager; ``script()`` queues the replies."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._script: deque[Script] = deque()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *scripts: Script) -> None:
        with self._lock:
            self._script.extend(scripts)

    # -- one connection ----------------------------------------------------------------

    def _read_request(self, sock: socket.socket) -> bool:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk or len(buffer) > 65536:
                return False
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            rest += chunk
        return True

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

    def _serve(self, sock: socket.socket) -> None:
        script: Script | None = None
        try:
            sock.settimeout(10)
            if not self._read_request(sock):
                return
            with self._lock:
                self.requests += 1
                script = self._script.popleft() if self._script else Script([token("hi"), done()])
            head = (
                f"HTTP/1.1 {script.status} OK\r\ncontent-type: {script.content_type}\r\n"
                "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )
            sock.sendall(head.encode())
            for part in script.parts:
                if isinstance(part, float):
                    if self._peer_left(sock, part):
                        script.closed_early = True
                        return
                    continue
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                script.written += 1
            end = time.monotonic() + script.hold
            while time.monotonic() < end:
                if self._peer_left(sock, script.hold_every):
                    script.closed_early = True
                    return
                sock.sendall(b"%x\r\n%s\r\n" % (len(script.hold_bytes), script.hold_bytes))
                script.hold_writes += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            if script is not None:
                script.closed_early = True
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            if script is not None:
                script.finished.set()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def __enter__(self) -> SSEServer:
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
