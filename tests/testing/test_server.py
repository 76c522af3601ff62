from __future__ import annotations

import httpx
import pytest

from neureus import APIConnectionError, Neureus, RetryPolicy
from neureus.testing import EmulatorServer, FakeGateway

MESSAGES = [{"role": "user", "content": "Hello"}]


def test_refuses_a_public_host() -> None:
    with pytest.raises(ValueError, match="not a loopback"):
        EmulatorServer(host="0.0.0.0")


def test_serves_every_endpoint_over_real_http() -> None:
    gateway = FakeGateway()
    with EmulatorServer(gateway) as server:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
            assert client.ai.chat(MESSAGES).text
            assert [t for t in client.ai.stream(MESSAGES)]
            assert client.ai.list_models(provider="openai").models
            assert client.ai.embeddings(["a", "b"]).embeddings
            client.ai.set_provider_key("openai", "sk-local-000000001")
            assert client.ai.list_providers().configured == ["openai"]
            widget = client.ai.create_widget_key()
            assert client.ai.revoke_widget_key(widget.key).revoked
        assert [r.path for r in gateway.requests][:3] == ["/ai/chat", "/ai/chat", "/ai/models"]
        assert len(gateway.requests) == 8


def test_emulated_failure_drops_the_connection() -> None:
    gateway = FakeGateway()
    gateway.queue_failure("reset", times=5)
    with (
        EmulatorServer(gateway) as server,
        Neureus(
            api_key="nru_local_0123456789",
            base_url=server.base_url,
            max_retries=1,
            retry_policy=RetryPolicy(initial_wait=0.001, max_wait=0.002),
        ) as client,
        pytest.raises(APIConnectionError),
    ):
        client.ai.list_models()


def test_html_error_pages_travel_as_is() -> None:
    gateway = FakeGateway()
    gateway.queue_error(502, b"<html><title>Bad Gateway</title></html>")
    with EmulatorServer(gateway) as server:
        response = httpx.get(server.base_url + "/ai/models", headers={"authorization": "Bearer k"})
    assert response.status_code == 502 and response.headers["content-type"] == "text/html"
    assert b"Bad Gateway" in response.content


def test_serves_on_ipv6_loopback() -> None:
    try:
        server = EmulatorServer(FakeGateway(), host="::1")
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with server, Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
        assert server.base_url.startswith("http://[::1]:")
        assert client.ai.list_models().models


# ---- fast and quiet (issue 13) -------------------------------------------------------------

import contextlib  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from neureus.testing import _server  # noqa: E402

CHAT_BODY = b'{"messages": [{"role": "user", "content": "Hello"}], "stream": true}'


def connection_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "neureus-emulator-connection"]


def wait_until_idle(server: EmulatorServer) -> None:
    """Until every connection the server accepted is handled and closed (bounded: 5 s)."""
    inner = server._server
    for _ in range(500):
        with inner._workers_lock:
            if inner._idle_workers == inner._workers:
                return
        time.sleep(0.01)
    raise AssertionError("the emulator's connections were not done within 5 s")


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a killed process or `head` closing a pipe does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def raw_request(head: bytes, body: bytes = b"") -> bytes:
    return head + b"\r\nhost: x\r\nauthorization: Bearer nru_local\r\n\r\n" + body


def read_answer(sock: socket.socket, *, whole: bool = False) -> bytes:
    """The answer's head (and with ``whole``, its content-length body too)."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data or (whole and len(data.partition(b"\r\n\r\n")[2]) < body_length(data)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def body_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_sets_tcp_nodelay_on_every_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    original = _server._Handler.finish

    def finish(self: Any) -> None:
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        original(self)

    monkeypatch.setattr(_server._Handler, "finish", finish)
    with EmulatorServer(FakeGateway()) as server:
        with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
            client.ai.list_models()
            assert list(client.ai.stream(MESSAGES))
        with httpx.Client() as other:
            other.get(server.base_url + "/ai/models", headers={"authorization": "Bearer k"})
        wait_until_idle(server)
    assert seen and all(seen), seen


def test_answers_a_plain_request_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # Headers and body in one segment: the other half of the ~40 ms Nagle/delayed-ACK stall.
    writes: list[int] = []
    original = _server._Handler.setup

    def setup(self: Any) -> None:
        original(self)
        write = self.wfile.write

        def counting_write(data: bytes) -> int:
            writes.append(len(data))
            return int(write(data))

        self.wfile.write = counting_write

    monkeypatch.setattr(_server._Handler, "setup", setup)
    with EmulatorServer(FakeGateway()) as server, httpx.Client() as client:
        response = client.get(server.base_url + "/ai/models", headers={"authorization": "Bearer k"})
    assert response.status_code == 200 and response.json()["models"]
    assert len(writes) == 1


def test_a_burst_of_new_connections_is_queued_not_dropped() -> None:
    # Not serving yet, so nothing is accepted: every connection waits in the listen backlog.
    # With socketserver's default backlog of 5, the 7th connect would time out.
    server = EmulatorServer(FakeGateway())
    sockets: list[socket.socket] = []
    try:
        for _ in range(100):
            sockets.append(socket.create_connection((server.host, server.port), timeout=1))
        server.start()
        for sock in sockets[:3]:  # queued connections are then served as usual
            sock.sendall(raw_request(b"GET /ai/models HTTP/1.1"))
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_quiet_when_a_client_stops_reading_a_stream_early(capsys: pytest.CaptureFixture[str]) -> None:
    gateway = FakeGateway()
    with EmulatorServer(gateway) as server:
        for delay in (0.0, 0.005):
            gateway.queue_stream([f"token {i} " * 50 for i in range(300)], delay=delay)
            with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
                with client.ai.stream(MESSAGES) as stream:
                    for _token in stream:
                        break  # stop reading early; closing the client resets the connection
        # `neureus chat ... | head -c 5`: the reader dies mid-stream, with an RST.
        gateway.queue_stream([f"token {i} " * 50 for i in range(300)], delay=0.005)
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(raw_request(b"POST /ai/chat HTTP/1.1\r\ncontent-length: %d" % len(CHAT_BODY), CHAT_BODY))
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        reset(sock)
        # A keep-alive connection reset between two requests: the answer was read whole, so
        # the server is back waiting for the next request line when the RST arrives.
        for _ in range(3):
            sock = socket.create_connection((server.host, server.port), timeout=5)
            sock.sendall(raw_request(b"GET /ai/models HTTP/1.1"))
            assert read_answer(sock, whole=True).startswith(b"HTTP/1.1 200")
            reset(sock)
        wait_until_idle(server)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize(
    "length",
    [b"abc", b"-5", b"1, 2", b"0x10", b"\xd9\xa3", b"99999999999999999999999999 1"],
    ids=["word", "negative", "list", "hex", "arabic-digit", "spaces"],
)
def test_a_malformed_content_length_gets_a_400(length: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = FakeGateway()
    with EmulatorServer(gateway) as server:
        with contextlib.closing(socket.create_connection((server.host, server.port), timeout=5)) as sock:
            sock.sendall(raw_request(b"POST /ai/chat HTTP/1.1\r\ncontent-length: " + length, CHAT_BODY))
            answer = read_answer(sock)
            rest = b""
            while chunk := sock.recv(65536):  # the server closes the connection after it
                rest += chunk
        wait_until_idle(server)
        # The emulator still serves afterwards.
        with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
            assert client.ai.chat(MESSAGES).text
    head, _, body = (answer + rest).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"malformed content-length" in body
    assert len(gateway.requests_to("/ai/chat")) == 1  # the refused request never reached it
    assert capsys.readouterr().err == ""


def test_a_chunked_request_body_is_refused_not_misread(capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatorServer(FakeGateway()) as server:
        with contextlib.closing(socket.create_connection((server.host, server.port), timeout=5)) as sock:
            chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CHAT_BODY), CHAT_BODY)
            sock.sendall(raw_request(b"POST /ai/chat HTTP/1.1\r\ntransfer-encoding: chunked", chunked))
            assert read_answer(sock).startswith(b"HTTP/1.1 411 ")
    assert capsys.readouterr().err == ""


def test_connection_threads_are_reused_and_released_on_stop() -> None:
    before = set(connection_threads())
    with EmulatorServer(FakeGateway()) as server:
        for _ in range(5):  # one connection after another: one worker serves them all
            with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
                assert client.ai.chat(MESSAGES).text
            wait_until_idle(server)
        assert len(set(connection_threads()) - before) == 1
    for _ in range(500):  # stop() releases the parked workers: a test suite leaks no thread
        if not set(connection_threads()) - before:
            break
        time.sleep(0.01)
    assert not set(connection_threads()) - before
