"""A raw-socket SSE server on 127.0.0.1 that does what real servers and proxies do after
(and instead of) a clean end: keeps pinging, holds the connection open, sends more.

Each request takes the next scripted :class:`Script`: its ``parts`` are written one chunk
each (a float in ``parts`` is a pause; a ``threading.Event`` waits until the test sets it,
so a test that needs "the server has not sent the rest yet" needs no clock); then, for ``hold`` seconds, ``hold_bytes`` every
``hold_every`` seconds (keep-alive pings, empty deltas, ...), and only then the end of the
body. What the client did is recorded per script: whether it closed the connection while
the server was still holding it open (``closed_early``), and how many hold writes went out.

Every wait is bounded and ends early when the server stops or the peer leaves (the accept
loop and request reader are tests/_sockets.py's).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from tests._sockets import IDLE_LIMIT, LoopbackServer, pause, read_request

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
    parts: Sequence[bytes | float | threading.Event]
    content_type: str = "text/event-stream"
    status: int = 200
    hold: float = 0.0
    hold_bytes: bytes = b": ping\n\n"
    hold_every: float = 0.05
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # filled in by the server
    closed_early: bool = False
    hold_writes: int = 0
    written: int = 0
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)


class SSEServer:
    """Use as a context manager; ``script()`` queues the replies."""

    def __init__(self) -> None:
        self._sockets = LoopbackServer(self._serve, name="sse-server")
        self._stopping = self._sockets.stopping
        self.port: int = self._sockets.port
        self._lock = threading.Lock()
        self._script: deque[Script] = deque()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *scripts: Script) -> None:
        with self._lock:
            self._script.extend(scripts)

    # -- one connection ----------------------------------------------------------------

    def _held(self, sock: socket.socket, part: float | threading.Event) -> bool:
        """Wait for ``part`` (seconds, or an event set by the test); False if the peer left first."""
        if isinstance(part, float):
            return pause(sock, part, self._stopping)
        for _ in range(int(IDLE_LIMIT / 0.02)):  # bounded: an event never set ends the reply
            if part.is_set():
                return True
            if not pause(sock, 0.02, self._stopping):
                return False
        return False

    def _serve(self, sock: socket.socket, number: int) -> None:
        script: Script | None = None
        try:
            if read_request(sock, self._stopping) is None:
                return
            with self._lock:
                self.requests += 1
                script = self._script.popleft() if self._script else Script([token("hi"), done()])
            head = (
                f"HTTP/1.1 {script.status} OK\r\ncontent-type: {script.content_type}\r\n"
                "transfer-encoding: chunked\r\nconnection: close\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in script.headers.items())
                + "\r\n"
            )
            sock.sendall(head.encode())
            for part in script.parts:
                if not isinstance(part, bytes):
                    if not self._held(sock, part):
                        script.closed_early = True
                        return
                    continue
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                script.written += 1
            end = time.monotonic() + script.hold
            while time.monotonic() < end:
                if not pause(sock, script.hold_every, self._stopping):
                    script.closed_early = True
                    return
                sock.sendall(b"%x\r\n%s\r\n" % (len(script.hold_bytes), script.hold_bytes))
                script.hold_writes += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            if script is not None:
                script.closed_early = True
        finally:
            if script is not None:
                script.finished.set()

    def __enter__(self) -> SSEServer:
        self._sockets.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sockets.stop()
