"""A fast HTTP/1.1 loopback server for the benchmarks, run in its own process.

Bound to 127.0.0.1 on a free port (port 0), started and stopped by the benchmark script
(:class:`ServerProcess`). It is a bare ``asyncio.Protocol``: requests are parsed just
enough (request line, ``Content-Length``), keep-alive is honoured, and every answer is
rendered once and cached, so a stream of N events costs the server one ``write`` of
pre-rendered bytes. The server is never the bottleneck: it does far less work per event
than any client measured against it.

Routing is by a path prefix, so each client points its ``base_url`` at it::

    /{dialect}/{n_events}/{delay_ms}/...   dialect: neureus | openai | anthropic

A request whose body has ``"stream": true`` gets an SSE answer (``Transfer-Encoding:
chunked``, one chunk per event, as a real gateway flushes them); any other gets the
dialect's small chat JSON answer. With ``delay_ms > 0`` the events are written one at a
time, ``delay_ms`` apart (the 1,000-streams benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _payloads import CHAT_JSON, STREAMS

_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"x-request-id: req_bench\r\ntransfer-encoding: chunked\r\n\r\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_cache: dict[tuple[str, int, bool, bool], bytes | list[bytes]] = {}


def _answer(dialect: str, n: int, stream: bool, split: bool) -> bytes | list[bytes]:
    key = (dialect, n, stream, split) if stream else (dialect, 0, False, False)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    if stream:
        events = [_chunk(e) for e in STREAMS[dialect](n)]
        answer: bytes | list[bytes] = events if split else _SSE_HEAD + b"".join(events) + b"0\r\n\r\n"
    else:
        body = CHAT_JSON[dialect]
        answer = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
    _cache[key] = answer
    return answer


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.task: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._process()

    def _process(self) -> None:
        while not self.busy:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buf) < total:
                return
            body = bytes(buf[end + 4 : total])
            del buf[:total]
            path = head[head.find(b" ") + 1 : head.find(b" http/")].decode()
            self._respond(path, body)

    def _respond(self, path: str, body: bytes) -> None:
        assert self.transport is not None
        parts = path.split("/")
        try:
            dialect, n, delay_ms = parts[1], int(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            self.transport.write(_NOT_FOUND)
            return
        if dialect not in STREAMS:
            self.transport.write(_NOT_FOUND)
            return
        stream = b'"stream":true' in body or b'"stream": true' in body
        if stream and delay_ms > 0:
            self.busy = True
            self.task = asyncio.ensure_future(self._slow(dialect, n, delay_ms / 1000))
            return
        answer = _answer(dialect, n, stream, False)
        assert isinstance(answer, bytes)
        self.transport.write(answer)

    async def _slow(self, dialect: str, n: int, delay: float) -> None:
        transport = self.transport
        assert transport is not None
        events = _answer(dialect, n, True, True)
        try:
            transport.write(_SSE_HEAD)
            for i, event in enumerate(events):
                if i:
                    await asyncio.sleep(delay)
                if transport.is_closing():
                    return
                transport.write(event)  # type: ignore[arg-type]
            transport.write(b"0\r\n\r\n")
        finally:
            self.busy = False
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(ready_fd: int | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


class ServerProcess:
    """Run the server in a child process for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError("benchmark server failed to start")
        self.port = int(line)
        return self

    def url(self, dialect: str, n: int = 0, delay_ms: int = 0) -> str:
        return f"http://127.0.0.1:{self.port}/{dialect}/{n}/{delay_ms}"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(None))
