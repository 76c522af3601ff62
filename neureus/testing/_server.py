"""The emulator over real HTTP on loopback: the standard library's threaded server.

One thread per connection, HTTP/1.1 keep-alive, streamed replies sent with chunked
transfer encoding and flushed event by event. Used by ``neureus emulator`` and by tests
that need a real socket (streaming delays, timeouts, pool hygiene).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._config import is_loopback_host
from ._gateway import FakeGateway, RecordedRequest
from ._sse import BreakConnection, Pause

__all__ = ["EmulatorServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # An idle keep-alive connection is dropped after this long, so threads do not pile up.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
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
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
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
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-answer (closed a stream early): not an error here.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve_quietly


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: FakeGateway, verbose: bool) -> None:
        self.gateway = gateway
        self.verbose = verbose
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


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
            self._thread = threading.Thread(target=self._server.serve_forever, name="neureus-emulator", daemon=True)
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
