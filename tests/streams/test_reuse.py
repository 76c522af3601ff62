"""A stream hands its connection back to the pool at ``done`` only when the body's end has
already arrived with it, and never waits for the end (API.md "Streams end at done").

Sync, asyncio and trio, against a keep-alive server that counts its connections. The
attacks come first: a server that sends ``done`` and then holds the body open (silent, or
trickling pings, or ending it a moment later) must see the client hang up while it still
holds it, and the next stream must open a new connection. Only a server that writes
``done`` and the body's terminating chunk together gets its connection reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, READ_TIMEOUT, client_on
from .keepalive import KeepAliveServer, Reply
from .server import data, done, token

pytestmark = pytest.mark.anyio

HOLD = READ_TIMEOUT / 4  # held open longer than the fail-safe allows, shorter than a read timeout


@pytest.fixture
def keep_alive() -> Iterator[KeepAliveServer]:
    with KeepAliveServer() as server:
        yield server


async def collect(api: Api, stream: Any) -> list[str]:
    with anyio.fail_after(FAIL_SAFE):
        return await api.collect(stream)


HELD_AFTER_DONE: dict[str, list[bytes | float]] = {
    "silent": [token("Hel"), token("lo"), done(), HOLD],
    "trickling": [token("Hel"), token("lo"), done(), *[0.05, b": ping\n\n"] * 40, HOLD],
    "ended-a-moment-later": [token("Hel"), token("lo"), done(), 0.3],
    "more-data-with-done": [token("Hel"), token("lo"), done() + token("MORE"), HOLD],
    "another-chunk-with-done": [token("Hel"), token("lo"), done(), token("MORE"), HOLD],
}


@pytest.mark.parametrize("held", list(HELD_AFTER_DONE), ids=list(HELD_AFTER_DONE))
async def test_a_body_held_open_after_done_is_never_waited_for(
    api: Api, keep_alive: KeepAliveServer, held: str
) -> None:
    attack = Reply(HELD_AFTER_DONE[held])
    keep_alive.reply(attack)
    client = client_on(api, keep_alive.url)
    stream = client.ai.stream(MESSAGES)
    assert await collect(api, stream) == ["Hel", "lo"]
    assert stream.done and stream.log_id == "log_first"
    # The client hung up while the server was still holding the body open...
    assert attack.finished.wait(FAIL_SAFE) and attack.left_early
    # ...so that connection is gone, and the next stream opens a new one.
    assert await collect(api, client.ai.stream(MESSAGES)) == ["hi"]
    assert (keep_alive.connections, keep_alive.requests) == (2, 2)


async def test_done_with_the_bodys_end_in_one_write_keeps_the_connection(api: Api, keep_alive: KeepAliveServer) -> None:
    replies = [Reply([token(f"t{i}"), 0.01, token("!"), done()]) for i in range(5)]
    keep_alive.reply(*replies)
    client = client_on(api, keep_alive.url)
    for i in range(5):
        stream = client.ai.stream(MESSAGES)
        assert await collect(api, stream) == [f"t{i}", "!"]
        assert stream.done and stream.output_tokens == 2
    assert (keep_alive.connections, keep_alive.requests) == (1, 5)
    assert not any(reply.left_early for reply in replies)


async def test_a_first_event_that_is_done_keeps_the_connection_too(api: Api, keep_alive: KeepAliveServer) -> None:
    keep_alive.reply(Reply([done()]), Reply([data({"delta": {"content": "x"}, "done": True, "logId": "l"})]))
    client = client_on(api, keep_alive.url)
    assert await collect(api, client.ai.stream(MESSAGES)) == []
    assert await collect(api, client.ai.stream(MESSAGES)) == ["x"]
    assert (keep_alive.connections, keep_alive.requests) == (1, 2)


async def test_events_and_until_done_keep_the_connection(api: Api, keep_alive: KeepAliveServer) -> None:
    client = client_on(api, keep_alive.url)
    stream = await api.run(client.ai.stream(MESSAGES))
    with anyio.fail_after(FAIL_SAFE):
        if api.is_async:
            seen = [event async for event in stream.events()]
            assert await stream.until_done() == "hi"
        else:
            seen = list(stream.events())
            assert stream.until_done() == "hi"
    assert len(seen) == 2
    assert await collect(api, client.ai.stream(MESSAGES)) == ["hi"]
    assert (keep_alive.connections, keep_alive.requests) == (1, 2)


async def test_a_stream_left_before_done_never_keeps_the_connection(api: Api, keep_alive: KeepAliveServer) -> None:
    left = Reply([token("a"), 0.01, token("b"), HOLD, done()])
    keep_alive.reply(left)
    client = client_on(api, keep_alive.url)
    stream = await api.run(client.ai.stream(MESSAGES))
    with anyio.fail_after(FAIL_SAFE):
        if api.is_async:
            assert await stream.__anext__() == "a"
        else:
            assert next(stream) == "a"
    await api.close(stream)
    assert left.finished.wait(FAIL_SAFE) and left.left_early
    assert await collect(api, client.ai.stream(MESSAGES)) == ["hi"]
    assert keep_alive.connections == 2


async def test_a_caller_owned_pool_is_never_read_past_done(api: Api, keep_alive: KeepAliveServer) -> None:
    """A caller's own httpx client has no read that cannot wait (only the async cancel scope
    gives one there): the sync stream closes at done as before, the async one still reuses."""
    import httpx

    http = httpx.AsyncClient(timeout=READ_TIMEOUT) if api.is_async else httpx.Client(timeout=READ_TIMEOUT)
    attack = Reply([token("a"), done(), HOLD])
    keep_alive.reply(attack, Reply([token("b"), 0.01, done()]))
    client = client_on(api, keep_alive.url, http_client=http)
    try:
        assert await collect(api, client.ai.stream(MESSAGES)) == ["a"]
        assert attack.finished.wait(FAIL_SAFE) and attack.left_early
        assert await collect(api, client.ai.stream(MESSAGES)) == ["b"]
        assert await collect(api, client.ai.stream(MESSAGES)) == ["hi"]
        assert keep_alive.connections == (2 if api.is_async else 3)
    finally:
        await api.close(http)
