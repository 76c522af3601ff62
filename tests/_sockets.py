"""The raw-socket plumbing of the test suites' misbehaving servers, written once.

:class:`LoopbackServer` owns a listener on a loopback address and one thread per accepted
connection; the suite's server (tests/faults, tests/hostile, tests/streams) only says
what to do with a connection. Everything here is bounded: the accept loop wakes every
50 ms to see whether it should stop, :func:`read_request` gives up after an idle limit,
:func:`pause` wakes when the server stops or the peer leaves, and :meth:`LoopbackServer.stop`
shuts every connection down and joins every thread it started, failing loudly if one
is still running (a handler that cannot be stopped is a bug in the test harness).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LoopbackServer", "RawRequest", "pause", "read_request", "reset"]

MAX_HEADER_BYTES = 64 * 1024
IDLE_LIMIT = 10.0
"""How long a connection may sit without a request (or a stalled body) before the server drops it."""
_TICK = 0.02


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (RST) rather than an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def pause(sock: socket.socket, seconds: float, stopping: threading.Event) -> bool:
    """Wait ``seconds``; ``False`` as soon as the server stops or the peer has closed its side.

    Bytes the peer sends meanwhile (a pipelined request) are left unread for the next read.
    """
    end = time.monotonic() + seconds
    for _ in range(1_000_000):  # bounded: each turn waits up to a tick
        remaining = end - time.monotonic()
        if remaining <= 0:
            return True
        if stopping.is_set():
            return False
        try:
            readable, _, _ = select.select([sock], [], [], min(remaining, _TICK))
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return False
        except (OSError, ValueError):
            return False
        if readable:  # data, not EOF: do not spin on it
            stopping.wait(min(remaining, _TICK))
    return True


class RawRequest:
    """One HTTP/1.1 request as read off the wire (header names lowercase)."""

    __slots__ = ("body", "headers", "method", "target")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class Reader:
    """Reads requests off one keep-alive connection, keeping what follows each one."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.buffer = b""

    def _more(self, deadline: float) -> bool:
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.05)
                if not ready:
                    continue
                data = self.sock.recv(65536)
            except (OSError, ValueError):
                return False
            if not data:
                return False
            self.buffer += data
            return True
        return False

    def read(self) -> RawRequest | None:
        """The next request; ``None`` when the peer left, the server stops, or it is malformed."""
        deadline = time.monotonic() + IDLE_LIMIT
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES or not self._more(deadline):
                return None
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return None
        deadline = time.monotonic() + IDLE_LIMIT
        while len(self.buffer) < length:
            if not self._more(deadline):
                return None
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawRequest(method, target, headers, body)


def read_request(sock: socket.socket, stopping: threading.Event) -> RawRequest | None:
    """One request off a connection that carries only one (nothing after it is kept)."""
    return Reader(sock, stopping).read()


Handler = Callable[[socket.socket, int], Any]
"""Serves one accepted connection (the socket and its number, from 1); the socket is closed after."""


class LoopbackServer:
    """A listener on a loopback address and one thread per connection, all joined by :meth:`stop`."""

    def __init__(
        self, handler: Handler, *, host: str = "127.0.0.1", backlog: int = 128, name: str = "loopback"
    ) -> None:
        if not host.startswith("127."):
            raise ValueError("test servers only bind loopback addresses")
        self._handler = handler
        self._name = name
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(backlog)
        self._listener.settimeout(0.05)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.stopping = threading.Event()
        self.accepted = 0
        self._lock = threading.Lock()
        self._live: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)

    # -- connections --------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def track(self, number: int, sock: socket.socket) -> None:
        """Make ``sock`` the one :meth:`stop` shuts down for connection ``number`` (a TLS wrapper, say)."""
        with self._lock:
            if number in self._live:
                self._live[number] = sock

    def drop_connections(self) -> int:
        """Shut every open connection down from the server's side; return how many there were."""
        with self._lock:
            live = list(self._live.values())
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(live)

    def wait_idle(self, open_at_most: int = 0, timeout: float = 5.0) -> int:
        """Wait (bounded) until at most ``open_at_most`` connections are open; return the count."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            count = self.open_connections
            if count <= open_at_most:
                return count
            time.sleep(0.005)
        return self.open_connections

    # -- lifecycle ----------------------------------------------------------------------

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            self._handler(sock, number)
        except (OSError, ValueError):
            pass  # the peer left, or stop() closed the socket under the handler
        finally:
            with self._lock:
                current = self._live.pop(number, sock)
            for each in {id(sock): sock, id(current): current}.values():
                with contextlib.suppress(OSError):
                    each.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IDLE_LIMIT)
            with self._lock:
                self.accepted += 1
                number = self.accepted
                self._live[number] = sock
            thread = threading.Thread(
                target=self._serve, args=(sock, number), name=f"{self._name}-{number}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def start(self) -> LoopbackServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, shut every connection down, and join every thread."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_connections()
        stuck = []
        for thread in [self._acceptor, *self._threads]:
            if thread.ident is not None:
                thread.join(5)
            if thread.is_alive():
                stuck.append(thread.name)
        if stuck:
            raise AssertionError(f"{self._name}: threads still running after stop(): {stuck}")

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
