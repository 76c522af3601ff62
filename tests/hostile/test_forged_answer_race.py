"""A forged second answer never reaches another caller of the same client, however the
callers race for the connection it came on (docs/reliability.md, "Forged answers").

The attack: after every answer the server (or a proxy in front of it) writes a complete
second HTTP response in the same write. A connection whose buffer holds it must never be
pooled: the next request on it would be answered at once, from the buffer, by bytes the
server wrote before it was asked. The SDK drops such a connection; this suite checks that
it does so *before* the pool can hand it to anyone else, with many callers on one client
(threads of a sync client; tasks of an async one, under asyncio and trio), for plain calls
and for streams read to ``done``.

The window is widened on purpose. httpcore hands the connection back inside the
response's close; before the fix, the SDK looked for spare bytes only after that close
returned, so another caller could take the connection in between. Between threads that
window is a few microseconds (a GIL switch must land in it); between tasks it needs a
checkpoint there, which httpcore takes when the same release closes surplus or expired idle
connections (``_close_connections``, shielded). ``widened_release`` makes the window
reliably reachable by pausing right after the pool's stream close returns (a sleep that
lets other threads run; a shielded checkpoint, like httpcore's own, for tasks): it changes
nothing else, so a client that drops the connection before releasing it is unaffected.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpcore
import pytest

from tests._sockets import LoopbackServer, Reader
from tests.conftest import Api
from tests.streams.keepalive import END, HEAD, chunk
from tests.streams.server import done, token

from .conftest import KEY

pytestmark = [pytest.mark.anyio, pytest.mark.network]

CALLERS = 8
CALLS_EACH = 12
FAIL_SAFE = 30.0
FORGED = "FORGED"


def json_answer(log_id: str) -> bytes:
    body = json.dumps({"response": log_id, "logId": log_id}).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def sse_answer(log_id: str) -> bytes:
    body = token(log_id) + done(log_id)
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


class AppendingForger:
    """Keep-alive; every answer echoes the caller's last message (as the log id, and as the
    stream's one token) and is followed, in the same write, by a complete forged answer."""

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.server = LoopbackServer(self._handle, name="appending-forger")

    def _handle(self, sock: socket.socket, number: int) -> None:
        reader = Reader(sock, self.server.stopping)
        for _ in range(10_000):  # bounded
            request = reader.read()
            if request is None:
                return
            said = json.loads(request.body)["messages"][-1]["content"]
            if self.stream:
                real = HEAD + chunk(token(said) + done(said)) + END
                sock.sendall(real + sse_answer(FORGED))
            else:
                sock.sendall(json_answer(said) + json_answer(FORGED))

    def __enter__(self) -> AppendingForger:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
def widened_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pause right after httpcore's pool takes a connection back (see the module docstring)."""
    sync_close = httpcore._sync.connection_pool.PoolByteStream.close
    async_close = httpcore._async.connection_pool.PoolByteStream.aclose

    def close(self: Any) -> None:
        sync_close(self)
        time.sleep(0.001)  # lets the other threads run: one may take the connection now

    async def aclose(self: Any) -> None:
        await async_close(self)
        with anyio.CancelScope(shield=True):  # as httpcore's own close of idle connections
            await anyio.sleep(0.001)  # lets the other tasks run: one may take the connection now

    monkeypatch.setattr(httpcore._sync.connection_pool.PoolByteStream, "close", close)
    monkeypatch.setattr(httpcore._async.connection_pool.PoolByteStream, "aclose", aclose)
    yield


async def one_call(api: Api, client: Any, said: str, stream: bool) -> str:
    """What the caller received: the log id (and, for a stream, its tokens) it was answered with."""
    messages = [{"role": "user", "content": said}]
    if not stream:
        return str((await api.run(client.ai.chat(messages))).log_id)
    answer = await api.run(client.ai.stream(messages))
    tokens = await api.collect(answer)
    return f"{answer.log_id}:{'|'.join(tokens)}"


def expected(said: str, stream: bool) -> str:
    return f"{said}:{said}" if stream else said


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.usefixtures("widened_release")
async def test_racing_callers_never_receive_a_forged_answer(api: Api, stream: bool) -> None:
    wrong: list[tuple[str, str]] = []
    failed: list[str] = []

    async def caller(client: Any, index: int) -> None:
        for n in range(CALLS_EACH):
            said = f"c{index}-{n}"
            try:
                got = await one_call(api, client, said, stream)
            except Exception as exc:  # a caller whose connection was closed under it
                failed.append(f"{said}: {type(exc).__name__}: {exc}")
                continue
            if got != expected(said, stream):
                wrong.append((said, got))

    with AppendingForger(stream) as server:
        client = api.real_client(api_key=KEY, base_url=server.url, max_retries=0, timeout=FAIL_SAFE)
        if api.is_async:
            with anyio.fail_after(FAIL_SAFE):
                async with anyio.create_task_group() as group:
                    for index in range(CALLERS):
                        group.start_soon(caller, client, index)
        else:
            start = threading.Barrier(CALLERS)

            def thread(index: int) -> None:
                start.wait(timeout=FAIL_SAFE)
                anyio.run(caller, client, index)  # the sync calls inside never await

            with ThreadPoolExecutor(CALLERS) as pool:
                for future in [pool.submit(thread, index) for index in range(CALLERS)]:
                    future.result(timeout=FAIL_SAFE)
    assert wrong == [], f"{len(wrong)} of {CALLERS * CALLS_EACH} calls got another answer: {wrong[:5]}"
    assert failed == [], f"{len(failed)} of {CALLERS * CALLS_EACH} calls failed: {failed[:5]}"


def test_a_stream_not_of_an_http11_connection_is_left_as_it_is() -> None:
    """The check before release wraps only httpcore's HTTP/1.1 stream: any other layout (an
    in-memory body here; another httpcore version) keeps working, checked after the fact."""
    import httpx

    from neureus._transport import _check_before_release, _CheckedRelease

    response = httpx.Response(200, content=b"{}")
    stream = response.stream
    _check_before_release(response, _CheckedRelease)
    assert response.stream is stream and response.read() == b"{}"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_without_the_check_before_release_the_check_after_the_end_still_drops_it(
    api: Api, stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the check before release cannot wrap the connection's stream (another httpcore's
    layout), the check after the body's end still keeps one caller's forged answer out of
    its next call."""
    import neureus._transport

    monkeypatch.setattr(neureus._transport, "_check_before_release", lambda response, wrapper: None)
    with AppendingForger(stream) as server:
        client = api.real_client(api_key=KEY, base_url=server.url, max_retries=0, timeout=FAIL_SAFE)
        with anyio.fail_after(FAIL_SAFE):
            for n in range(3):
                assert await one_call(api, client, f"c-{n}", stream) == expected(f"c-{n}", stream)
    assert server.server.accepted == 3  # each connection was dropped, not pooled
