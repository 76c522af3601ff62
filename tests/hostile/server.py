"""A hostile HTTP/1.1 server on 127.0.0.1: raw sockets, one thread per connection.

Each request is answered by the next scripted *act* (a callable given the connection and
the parsed request; it writes whatever bytes it likes and returns whether to keep the
connection). With nothing scripted it answers ``200 {"text": "ok"}``. Every request is
recorded in ``requests``, so a test can check what another origin received (nothing,
for a redirect that must not be followed).

Acts for the attacks of API.md's "hostile world": headers trickled a line at a time,
stacked content-encodings and compression bombs, an endless body, a reset after reading
the request, redirects, 429 with a long ``Retry-After``, ``x-should-retry``. Every wait is
bounded and :meth:`HostileServer.stop` wakes every handler and joins it (the accept loop
and request reader are tests/_sockets.py's). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

from tests import _sockets
from tests._sockets import LoopbackServer, Reader

__all__ = ["Conn", "HostileServer", "Request", "bomb", "encode", "json_body"]


@dataclasses.dataclass
class Request:
    """One request as read (header names lowercase)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Conn:
    """The server side of one connection, handed to acts."""

    def __init__(self, server: HostileServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self._reader = Reader(sock, server._stopping)

    def send(self, data: bytes) -> bool:
        """Write ``data``; ``False`` once the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def pause(self, seconds: float) -> bool:
        """Sleep; ``False`` (early) once the server stops or the client has gone."""
        return _sockets.pause(self.sock, seconds, self.server._stopping)

    def head(self, status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> bool:
        all_headers = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
        return self.send(self.head(status, all_headers) + body)

    def reset(self) -> bool:
        _sockets.reset(self.sock)
        return False

    def read_request(self) -> Request | None:
        raw = self._reader.read()
        if raw is None:
            return None
        return Request(raw.method, raw.target, raw.headers, raw.body, self.number)


Act = Callable[[Conn, Request], bool]


def json_body(data: Any = None) -> bytes:
    return json.dumps({"text": "ok"} if data is None else data).encode()


def encode(data: bytes, encodings: list[str]) -> bytes:
    """``data`` with each content-coding applied in order (the header lists them so)."""
    for name in encodings:
        if name == "gzip":
            data = gzip.compress(data, 9)
        elif name == "deflate":
            data = zlib.compress(data, 9)
        elif name == "br":
            import brotli

            data = brotli.compress(data)
        else:
            raise ValueError(name)
    return data


def bomb(decoded_size: int, encodings: list[str]) -> bytes:
    """A valid body of zeros that decodes to ``decoded_size`` bytes (a multiple of 1 MiB)
    through ``encodings`` (the first gzip or deflate), built without holding it decoded.

    After a full flush deflate forgets its history, so each further MiB of zeros compresses
    to the same bytes: the stream is that unit repeated, then a trailer over the whole.
    """
    first, rest = encodings[0], encodings[1:]
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if first == "gzip" else 15)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()
    count = decoded_size >> 20
    check = 0 if first == "gzip" else 1
    for _ in range(count):
        check = (zlib.crc32 if first == "gzip" else zlib.adler32)(block, check)
    if first == "gzip":
        trailer = struct.pack("<II", check, decoded_size & 0xFFFFFFFF)
        end = end[:-8] + trailer
    else:
        end = end[:-4] + struct.pack(">I", check)
    return encode(head + unit * (count - 1) + end, rest)


# --- acts -------------------------------------------------------------------------------


def ok(body: bytes | None = None, status: int = 200, headers: dict[str, str] | None = None) -> Act:
    def act(conn: Conn, request: Request) -> bool:
        return conn.respond(status, json_body() if body is None else body, headers)

    return act


def trickled_headers(count: int, pause: float, log: list[int] | None = None) -> Act:
    """The status line, then ``count`` header lines ``pause`` seconds apart, then a body.

    ``log`` receives how many header lines went out (``count`` when the answer was whole).
    """

    def act(conn: Conn, request: Request) -> bool:
        sent = 0
        try:
            if not conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"):
                return False
            for i in range(count):
                if not conn.pause(pause) or not conn.send(f"x-slow-{i}: {i}\r\n".encode()):
                    return False
                sent += 1
            body = json_body()
            return conn.send(f"content-length: {len(body)}\r\n\r\n".encode() + body)
        finally:
            if log is not None:
                log.append(sent)

    return act


def wait_for(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    """Poll ``condition`` until true or ``seconds`` pass (bounded, for acts still running)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def encoded(body: bytes, encodings: list[str], *, status: int = 200, raw: bytes | None = None) -> Act:
    """``body`` sent with ``content-encoding`` listing ``encodings`` (``raw`` overrides the bytes)."""
    payload = encode(body, encodings) if raw is None else raw

    def act(conn: Conn, request: Request) -> bool:
        return conn.respond(status, payload, {"content-encoding": ", ".join(encodings)})

    return act


def endless(piece: bytes = b"[" * 1024, pause: float = 0.0, encodings: list[str] | None = None) -> Act:
    """A chunked body that never ends (until the client leaves or the server stops)."""

    def act(conn: Conn, request: Request) -> bool:
        headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
        if encodings:
            headers["content-encoding"] = ", ".join(encodings)
        if not conn.send(conn.head(200, headers)):
            return False
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31) if encodings == ["gzip"] else None
        chunk_count = 0
        while not conn.server._stopping.is_set() and chunk_count < 10_000_000:
            data = piece if compressor is None else compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if not conn.send(b"%x\r\n%s\r\n" % (len(data), data)):
                return False
            chunk_count += 1
            if pause and not conn.pause(pause):
                return False
        return False

    return act


def reset() -> Act:
    """Read the request, then reset the connection without answering."""
    return lambda conn, request: conn.reset()


def redirect(location: str, status: int = 307) -> Act:
    return ok(b"", status, {"location": location})


def closed_after_answer(act: Act) -> Act:
    def wrapped(conn: Conn, request: Request) -> bool:
        act(conn, request)
        return False

    return wrapped


class HostileServer:
    """Scripted hostile answers on 127.0.0.1 (``tls=`` an ``ssl.SSLContext`` to serve HTTPS)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._sockets = LoopbackServer(self._serve, name="hostile-server")
        self._stopping = self._sockets.stopping
        self.port: int = self._sockets.port
        self.tls = tls
        self.acts: deque[Act] = deque()
        self.default: Act = ok()
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._sockets.accepted

    @property
    def open_connections(self) -> int:
        """Connections open now (their handlers still running)."""
        return self._sockets.open_connections

    def script(self, *acts: Act) -> HostileServer:
        self.acts.extend(acts)
        return self

    def __enter__(self) -> HostileServer:
        self._sockets.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._sockets.stop()

    def _serve(self, sock: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                return
            self._sockets.track(number, sock)
        conn = Conn(self, sock, number)
        for _ in range(10_000):  # bounded: requests per connection
            request = conn.read_request()
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
                act = self.acts.popleft() if self.acts else self.default
            if not act(conn, request):
                return
