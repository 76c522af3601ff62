"""The emulator over real HTTP on loopback: the standard library's threaded server.

One thread per connection, HTTP/1.1 keep-alive, streamed replies sent with chunked
transfer encoding and flushed event by event. Used by ``neureus emulator`` and by tests
that need a real socket (streaming delays, timeouts, pool hygiene), including users' own
test suites, so it is tuned to be fast and quiet:

- ``TCP_NODELAY`` on every connection and one write per plain answer (headers and body
  together): otherwise Nagle's algorithm and the client's delayed ACK cost ~40 ms a call;
- a listen backlog of 128, so a burst of new connections (20 concurrent async chats) is
  not made to wait for SYN retries;
- a client that goes away (closes a stream early, ``neureus chat ... | head``) ends its
  connection silently, with no traceback;
- a malformed request (a bad ``content-length``) gets a 400 answer, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._config import is_loopback_host
from ._gateway import FakeGateway, RecordedRequest
from ._sse import BreakConnection, Pause

__all__ = ["EmulatorServer"]

# A client that goes away mid-answer or between requests: the end of a conversation, not an error.
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class _BadRequest(Exception):
    """A request the emulator cannot read: answered with this status, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body_length(headers: Any) -> int:
    """The request body's length from ``content-length``: 0 when absent; ``_BadRequest`` when malformed."""
    values = headers.get_all("content-length") or []
    if headers.get("transfer-encoding"):
        # http.server cannot read a chunked request body; reading on would misparse it.
        raise _BadRequest(411, "chunked request bodies are not supported: send a content-length")
    if not values:
        return 0
    text = values[0].strip()
    # Digits only (RFC 9110): no sign, no "1, 1", no "0x10"; and every copy must agree.
    if not text.isascii() or not text.isdigit() or any(v.strip() != text for v in values):
        raise _BadRequest(400, f"malformed content-length header: {values[0][:40]!r}")
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # An idle keep-alive connection is dropped after this long, so threads do not pile up.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def setup(self) -> None:
        super().setup()
        # Small writes go out at once (an SSE event, a short JSON answer): without this,
        # Nagle's algorithm waits for the client's delayed ACK, ~40 ms per request.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except _GONE:
            # The client reset or closed the connection while we waited for its next
            # request: the normal end of a keep-alive connection, not worth a traceback.
            self.close_connection = True

    def _send_whole(self, status: int, headers: Any, body: bytes) -> None:
        # Status line, headers and body in one write: one segment per answer, not two.
        self.log_request(status)
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"server: {self.version_string()}",
            f"date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in headers),
            f"content-length: {len(body)}",
        ]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if any(name.lower() == "connection" and value.lower() == "close" for name, value in headers):
            self.close_connection = True

    def _refuse(self, error: _BadRequest) -> None:
        self.close_connection = True
        body = json.dumps({"error": str(error)}).encode()
        self._send_whole(error.status, [("content-type", "application/json"), ("connection", "close")], body)

    def _serve(self) -> None:
        try:
            length = _body_length(self.headers)
        except _BadRequest as error:
            self._refuse(error)
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        recorded = RecordedRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        answer = self.server.gateway.respond(recorded)
        if isinstance(answer, str):
            # Emulated network failure: drop the connection without an answer.
            self._abort()
            return
        if isinstance(answer.body, bytes):
            self._send_whole(answer.status, list(answer.headers.items()), answer.body)
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for chunk in answer.body:
            if isinstance(chunk, Pause):
                time.sleep(chunk.seconds)
            elif isinstance(chunk, BreakConnection):
                self._abort()
                return
            else:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve_quietly(self) -> None:
        try:
            self._serve()
        except _GONE:
            # The client went away mid-answer (closed a stream early): not an error here.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve_quietly


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default of 5 makes a burst of new connections wait for SYN retries.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: FakeGateway, verbose: bool) -> None:
        self.gateway = gateway
        self.verbose = verbose
        # Connections go to worker threads that are reused: a burst of new connections
        # does not pay one thread start (and its handshake with this thread) each.
        self._jobs: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._workers_lock = threading.Lock()
        self._idle_workers = 0
        self._workers = 0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._workers_lock:
            if self._idle_workers:
                self._idle_workers -= 1
                start = False
            else:
                self._workers += 1
                start = True
        self._jobs.put((request, client_address))
        if start:
            threading.Thread(target=self._work, name="neureus-emulator-connection", daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self.process_request_thread(*job)  # handles and closes the connection
            with self._workers_lock:
                self._idle_workers += 1

    def server_close(self) -> None:
        super().server_close()
        # Release the parked workers (a test suite starts many servers; none may leak threads).
        with self._workers_lock:
            workers, self._workers = self._workers, 0
        for _ in range(workers):
            self._jobs.put(None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A last guard for a client that vanished at a moment the handler does not cover
        # (during setup or finish); anything else is a real bug and keeps its traceback.
        if isinstance(sys.exc_info()[1], _GONE):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """Serve a :class:`FakeGateway` over HTTP on loopback, in a background thread.

    >>> from neureus.testing import EmulatorServer, FakeGateway
    >>> with EmulatorServer(FakeGateway()) as server:  # doctest: +SKIP
    ...     client = Neureus(base_url=server.base_url, api_key="nru_local")

    ``host`` must be a loopback address unless ``allow_public=True``.
    """

    def __init__(
        self,
        gateway: FakeGateway | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_public: bool = False,
        verbose: bool = False,
    ) -> None:
        if not allow_public and not is_loopback_host(host):
            raise ValueError(f"Refusing to serve the emulator on {host!r}: it is not a loopback address.")
        self.gateway = gateway if gateway is not None else FakeGateway()
        self._server = _Server((host, port), self.gateway, verbose)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The bound host."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port``, ready for ``base_url=`` or ``NEUREUS_BASE_URL``."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is None:
            # A short poll interval: stop() (every `with EmulatorServer()` block) waits for one poll.
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="neureus-emulator", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or Ctrl-C)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
