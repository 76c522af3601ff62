"""Iteration ends at ``done`` against real servers that keep the connection open after it.

- FastAPI + sse-starlette under uvicorn, with sse-starlette's own keep-alive pings;
- aiohttp, writing pings by hand.

Each server sends two tokens and the done event, then holds the connection open (pinging)
for ``HOLD`` seconds. The client's read timeout is ``READ_TIMEOUT`` (30 s) and each
iteration runs under a fail-safe of a third of it: ending at ``done`` is the only way to
pass. The server records whether the client hung up while it was still holding on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, READ_TIMEOUT, client_on

pytestmark = pytest.mark.anyio

HOLD = READ_TIMEOUT / 2
TOKENS = [{"delta": {"content": "Hel"}, "done": False}, {"delta": {"content": "lo"}, "done": False}]
DONE = {"done": True, "logId": "log_real", "inputTokens": 3, "outputTokens": 2}


class Record:
    """What the server saw of the client (shared between the server thread and the test)."""

    def __init__(self) -> None:
        self.hung_up = threading.Event()  # the client left while the server held on
        self.held_to_the_end = threading.Event()

    def reset(self) -> None:
        self.hung_up.clear()
        self.held_to_the_end.clear()


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture(scope="module")
def fastapi_server() -> Iterator[tuple[str, Record]]:
    import uvicorn
    from fastapi import FastAPI
    from sse_starlette import EventSourceResponse

    record = Record()
    app = FastAPI()

    @app.post("/ai/chat")
    async def chat() -> EventSourceResponse:
        async def events() -> AsyncIterator[dict[str, str]]:
            for payload in [*TOKENS, DONE]:
                yield {"data": json.dumps(payload)}
            try:
                await anyio.sleep(HOLD)  # sse-starlette keeps pinging meanwhile
            except BaseException:
                record.hung_up.set()  # cancelled: sse-starlette saw the client disconnect
                raise
            record.held_to_the_end.set()

        return EventSourceResponse(events(), ping=0.05)

    sock = _loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "uvicorn did not start"
    port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}", record
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def aiohttp_server() -> Iterator[tuple[str, Record]]:
    from aiohttp import web

    record = Record()

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for payload in [*TOKENS, DONE]:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())
        try:
            for _ in range(int(HOLD / 0.05)):
                await asyncio.sleep(0.05)
                await response.write(b": ping\n\n")
        except BaseException:
            record.hung_up.set()  # a write failed or the handler was cancelled: the client left
            raise
        record.held_to_the_end.set()
        return response

    app = web.Application()
    app.router.add_post("/ai/chat", chat)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handler_cancellation=True)
    loop.run_until_complete(runner.setup())
    sock = _loopback_socket()
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", record
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.run_until_complete(runner.cleanup())
    loop.close()
    sock.close()


@pytest.fixture(params=["fastapi+sse-starlette", "aiohttp"])
def real_server(request: pytest.FixtureRequest) -> tuple[str, Record]:
    name = "fastapi_server" if request.param.startswith("fastapi") else "aiohttp_server"
    served: tuple[str, Record] = request.getfixturevalue(name)
    served[1].reset()
    return served


async def test_iteration_ends_at_done_on_real_servers(api: Api, real_server: tuple[str, Record]) -> None:
    url, record = real_server
    stream: Any = client_on(api, url).ai.stream(MESSAGES)
    with anyio.fail_after(FAIL_SAFE):
        assert await api.collect(stream) == ["Hel", "lo"]
    assert stream.done and stream.log_id == "log_real" and stream.output_tokens == 2
    assert record.hung_up.wait(FAIL_SAFE)
    assert not record.held_to_the_end.is_set()


async def test_events_end_at_done_on_real_servers(api: Api, real_server: tuple[str, Record]) -> None:
    url, record = real_server
    stream: Any = await api.run(client_on(api, url).ai.stream(MESSAGES))
    with anyio.fail_after(FAIL_SAFE):
        seen = [event async for event in stream.events()] if api.is_async else list(stream.events())
    assert [json.loads(e.data) for e in seen] == [*TOKENS, DONE]
    assert record.hung_up.wait(FAIL_SAFE)
