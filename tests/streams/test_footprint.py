"""What one open async stream keeps alive, next to raw httpx + httpx-sse on the same server.

docs/performance.md ("Peak RSS of 1,000 streams"): an earlier profile read 8
``asyncio.Event`` objects per neureus stream against 2 for raw httpx; measured with every
stream open at once, both make the same ones (httpcore's and anyio's, per connection) and
the SDK adds none. These tests pin that, by counts, never by time: ``STREAMS`` concurrent
streams are held open by the server after their first token (a gate), the objects are
counted there, then the gate opens and every stream ends normally.

Asyncio only: ``asyncio.Event`` is what the profile counted (trio's pool makes no such
objects).
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import httpx_sse

import neureus
from tests.conftest import MESSAGES

from .keepalive import KeepAliveServer, Reply
from .server import done, token

STREAMS = 20
LIMIT = 30.0  # seconds any one wait may take before the test calls it hung


def _live_events() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is asyncio.Event)


class _Count:
    """``asyncio.Event`` objects made while it is installed (every one, whoever makes it)."""

    def __init__(self) -> None:
        self.made = 0
        self._init = asyncio.Event.__init__

    def __enter__(self) -> _Count:
        original = self._init

        def counting(event: asyncio.Event, *args: Any, **kwargs: Any) -> None:
            self.made += 1
            original(event, *args, **kwargs)

        asyncio.Event.__init__ = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.Event.__init__ = self._init  # type: ignore[method-assign]


One = Callable[[Callable[[], None]], Awaitable[int]]


def _measure(
    start: Callable[[], tuple[One, Callable[[], Awaitable[None]]]], server: KeepAliveServer
) -> tuple[int, int]:
    """(Events made, Events alive with every stream open) for ``STREAMS`` streams of the
    client ``start()`` builds on the loop (a stream function, and its client's closer)."""
    gate = threading.Event()
    server.reply(*[Reply([token("a"), gate, token("b"), done()]) for _ in range(STREAMS)])

    async def main() -> tuple[int, int]:
        opened = 0
        all_open = asyncio.Event()

        def first_token() -> None:
            nonlocal opened
            opened += 1
            if opened == STREAMS:
                all_open.set()

        one, aclose = start()
        before = _live_events()
        with _Count() as count:
            tasks = [asyncio.ensure_future(one(first_token)) for _ in range(STREAMS)]
            try:
                await asyncio.wait_for(all_open.wait(), LIMIT)
                alive = _live_events() - before - 1  # less this test's own all_open
            finally:
                gate.set()
            tokens = await asyncio.wait_for(asyncio.gather(*tasks), LIMIT)
        await aclose()
        assert tokens == [2] * STREAMS
        return count.made, alive

    return asyncio.run(main())


def test_an_open_stream_keeps_no_more_events_alive_than_raw_httpx() -> None:
    with KeepAliveServer() as server:

        def start_raw() -> tuple[One, Callable[[], Awaitable[None]]]:
            http = httpx.AsyncClient(timeout=LIMIT)

            async def one(first_token: Callable[[], None]) -> int:
                n = 0
                url = server.url + "/ai/chat"
                async with httpx_sse.aconnect_sse(http, "POST", url, json={"messages": MESSAGES}) as es:
                    async for sse in es.aiter_sse():
                        if not json.loads(sse.data).get("done"):
                            n += 1
                            if n == 1:
                                first_token()
                return n

            return one, http.aclose

        def start_sdk() -> tuple[One, Callable[[], Awaitable[None]]]:
            client = neureus.AsyncNeureus(api_key="nru_local_0123456789", base_url=server.url, timeout=LIMIT)

            async def one(first_token: Callable[[], None]) -> int:
                n = 0
                async for _ in client.ai.stream(MESSAGES):
                    n += 1
                    if n == 1:
                        first_token()
                return n

            return one, client.aclose

        raw_made, raw_alive = _measure(start_raw, server)
        sdk_made, sdk_alive = _measure(start_sdk, server)
        assert server.connections == 2 * STREAMS  # every stream had its own connection, in both
    # Each connection makes a few (httpcore's pool and anyio's socket stream); none is the SDK's.
    assert raw_alive > 0 and raw_made >= raw_alive
    assert sdk_alive <= raw_alive, (sdk_alive, raw_alive)
    assert sdk_made <= raw_made, (sdk_made, raw_made)
