"""A connection handed back to the pool at ``done`` never answers the next call with bytes
that came before it was asked (API.md "Streams end at done", docs/streaming.md "the HTTP/1.1
connection goes back to the pool").

The attack: a server (or a proxy in front of it) writes ``done``, the body's terminating
chunk and a whole second HTTP response in one write. The stream reads the body's end at
``done`` without waiting, so those spare bytes sit in the connection's buffer; pooled, they
would be read as the answer to the next request, which the server never saw. Raw httpx
reading a body to its end has the same exposure (it pools that connection); the SDK drops
such a connection instead. Sync, asyncio and trio; the SDK's pool and a caller-owned one.
A plain (unstreamed) call read to its end is held to the same rule.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from tests._sockets import LoopbackServer, Reader
from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, READ_TIMEOUT, client_on
from .keepalive import END, HEAD, chunk
from .server import done, token

pytestmark = pytest.mark.anyio


def forged_answer() -> bytes:
    body = token("FORGED") + done("log_forged")
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(body)
    return head + body


def sse_with_length(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


FIRST_ANSWERS = {
    # done, the terminating chunk and a forged second response in one write
    "chunked": HEAD + chunk(token("a")) + chunk(done()) + END + forged_answer(),
    # a Content-Length body whose last bytes are done, then the forged response
    "content-length": sse_with_length(token("a") + done()) + forged_answer(),
}


class ForgingServer:
    """Each connection's first request gets the attack; later ones on it get ``REAL``."""

    def __init__(self, first: bytes) -> None:
        self.first = first
        self.requests: list[tuple[int, int]] = []
        self.server = LoopbackServer(self._handle, name="forging")

    def _handle(self, sock: socket.socket, number: int) -> None:
        reader = Reader(sock, self.server.stopping)
        for count in range(1, 100):  # bounded: a test makes a handful of requests
            if reader.read() is None:
                return
            self.requests.append((number, count))
            if count == 1:
                sock.sendall(self.first)
            else:
                sock.sendall(HEAD + chunk(token("REAL")) + chunk(done("log_real")) + END)

    def __enter__(self) -> ForgingServer:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@contextlib.asynccontextmanager
async def pool_options(api: Api, own_pool: bool) -> AsyncIterator[dict[str, Any]]:
    """The client options for the SDK's own pool, or for a caller-owned one (closed after)."""
    if own_pool:
        yield {}
        return
    import httpx

    http: Any = httpx.AsyncClient(timeout=READ_TIMEOUT) if api.is_async else httpx.Client(timeout=READ_TIMEOUT)
    try:
        yield {"http_client": http}
    finally:
        await api.close(http)


async def collect(api: Api, stream: Any) -> list[str]:
    with anyio.fail_after(FAIL_SAFE):
        return await api.collect(stream)


@pytest.mark.parametrize("framing", list(FIRST_ANSWERS))
@pytest.mark.parametrize("own_pool", [True, False], ids=["sdk-pool", "caller-pool"])
async def test_bytes_after_the_end_never_answer_the_next_call(api: Api, framing: str, own_pool: bool) -> None:
    async with pool_options(api, own_pool) as options:
        with ForgingServer(FIRST_ANSWERS[framing]) as server:
            client = client_on(api, server.url, **options)
            first = await api.run(client.ai.stream(MESSAGES))
            assert await collect(api, first) == ["a"]
            assert first.done and first.log_id == "log_first"
            second = await api.run(client.ai.stream(MESSAGES))
            # A new connection, asked for real: its first answer, never the forged one.
            assert await collect(api, second) == ["a"]
            assert second.log_id == "log_first"
            assert server.requests == [(1, 1), (2, 1)]


async def test_done_then_a_chunk_only_partly_arrived_drops_the_connection(api: Api) -> None:
    partial = HEAD + chunk(token("a")) + chunk(done()) + b'40\r\ndata: {"delta"'
    with ForgingServer(partial) as server:
        client = client_on(api, server.url)
        assert await collect(api, client.ai.stream(MESSAGES)) == ["a"]
        assert await collect(api, client.ai.stream(MESSAGES)) == ["a"]
        assert server.requests == [(1, 1), (2, 1)]


def json_answer(log_id: str) -> bytes:
    body = json.dumps({"response": log_id, "logId": log_id}).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("own_pool", [True, False], ids=["sdk-pool", "caller-pool"])
async def test_bytes_after_a_plain_answer_never_answer_the_next_call(api: Api, own_pool: bool) -> None:
    async with pool_options(api, own_pool) as options:
        with ForgingServer(json_answer("real") + json_answer("FORGED")) as server:
            client = client_on(api, server.url, **options)
            with anyio.fail_after(FAIL_SAFE):
                assert (await api.run(client.ai.chat(MESSAGES))).log_id == "real"
                assert (await api.run(client.ai.chat(MESSAGES))).log_id == "real"
            assert server.requests == [(1, 1), (2, 1)]


class EchoServer:
    """Keep-alive: every stream's one token is the last message the request sent, and its
    end comes with ``done`` (so each connection goes back to the pool)."""

    def __init__(self) -> None:
        self.server = LoopbackServer(self._handle, name="echo")

    def _handle(self, sock: socket.socket, number: int) -> None:
        reader = Reader(sock, self.server.stopping)
        for _ in range(10_000):  # bounded
            request = reader.read()
            if request is None:
                return
            said = json.loads(request.body)["messages"][-1]["content"]
            sock.sendall(HEAD + chunk(token(said) + token("!")) + chunk(done()) + END)

    def __enter__(self) -> EchoServer:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()


WORKERS = 6
STREAMS_EACH = 8


def said(worker: int, n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"w{worker}-{n}"}]


def test_threads_streaming_on_reused_connections_each_get_their_own_reply() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import neureus

    with EchoServer() as server:
        url = f"http://127.0.0.1:{server.server.port}"
        with neureus.Neureus(
            api_key="nru_local_0123456789", base_url=url, max_retries=0, timeout=READ_TIMEOUT
        ) as client:
            start = threading.Barrier(WORKERS)

            def worker(index: int) -> list[bool]:
                start.wait(timeout=FAIL_SAFE)
                mine = []
                for n in range(STREAMS_EACH):
                    stream = client.ai.stream(said(index, n))
                    if n % 3 == 2:  # left after its first token: that connection is dropped
                        mine.append(next(stream) == f"w{index}-{n}")
                        stream.close()
                    else:
                        mine.append(list(stream) == [f"w{index}-{n}", "!"] and stream.done)
                return mine

            with ThreadPoolExecutor(WORKERS) as pool:
                results = list(pool.map(worker, range(WORKERS)))
        assert results == [[True] * STREAMS_EACH] * WORKERS
        assert server.server.accepted < WORKERS * STREAMS_EACH  # connections were reused


async def test_tasks_streaming_on_reused_connections_each_get_their_own_reply(api: Api) -> None:
    if not api.is_async:
        pytest.skip("the sync flavour is the threads test above")
    with EchoServer() as server:
        client = client_on(api, f"http://127.0.0.1:{server.server.port}")
        results: dict[int, list[bool]] = {}

        async def worker(index: int) -> None:
            mine = results.setdefault(index, [])
            for n in range(STREAMS_EACH):
                stream = await client.ai.stream(said(index, n))
                if n % 3 == 2:
                    mine.append(await stream.__anext__() == f"w{index}-{n}")
                    await stream.aclose()
                else:
                    mine.append([t async for t in stream] == [f"w{index}-{n}", "!"] and stream.done)
                await anyio.sleep(0)

        with anyio.fail_after(FAIL_SAFE):
            async with anyio.create_task_group() as group:
                for index in range(WORKERS):
                    group.start_soon(worker, index)
        assert results == {index: [True] * STREAMS_EACH for index in range(WORKERS)}
        assert server.server.accepted < WORKERS * STREAMS_EACH


async def test_a_scope_cancelled_at_done_leaves_the_pool_clean(api: Api) -> None:
    """Cancelled right after the last token, the stream's next pull takes ``done`` and hands
    the connection back inside the cancelled scope: nothing is left checked out, and the
    next call on that pool gets its own reply."""
    if not api.is_async:
        pytest.skip("cancellation is an async notion")
    with EchoServer() as server:
        client = client_on(api, f"http://127.0.0.1:{server.server.port}")
        for n in range(3):
            stream = await client.ai.stream(said(0, n))
            with anyio.fail_after(FAIL_SAFE), anyio.CancelScope() as scope:
                async for piece in stream:
                    if piece == "!":
                        scope.cancel()
            assert stream.done and stream.text == f"w0-{n}!"
        pool = client._http._transport._transport._pool  # the SDK's lazy transport's httpcore pool
        assert [c for c in pool.connections if not c.is_idle()] == []
        assert await collect(api, client.ai.stream(said(1, 0))) == ["w1-0", "!"]
        assert server.server.accepted == 1  # each stream's connection went back to the pool
