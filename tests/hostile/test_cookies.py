"""The SDK's own pool keeps no cookies: a ``Set-Cookie`` never comes back on a later call.

The gateway authenticates by key. A cookie planted by a hostile server, a proxy or a
misconfigured gateway would otherwise ride along on every later call of that client (a
session to fixate, an identifier to track). A caller-owned ``http_client`` keeps its own
cookie policy.
"""

from __future__ import annotations

import httpx
import pytest

from . import server as acts
from .conftest import FAST, KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def _plant(conn, request):  # type: ignore[no-untyped-def]
    cookie = "session=planted; Path=/; Max-Age=3600"
    return conn.respond(200, acts.json_body({"text": "ok"}), {"set-cookie": cookie})


def _stream(conn, request):  # type: ignore[no-untyped-def]
    body = b'data: {"delta": {"content": "ok"}, "done": false}\n\ndata: {"done": true, "logId": "log_1"}\n\n'
    headers = {"content-type": "text/event-stream", "content-length": str(len(body))}
    return conn.send(conn.head(200, headers) + body)


async def test_a_planted_cookie_is_never_sent_back(api, hostile: HostileServer) -> None:
    hostile.script(_plant, acts.ok(), acts.ok(), _stream)
    client = api.real_client(api_key=KEY, base_url=hostile.url, retry_policy=FAST)
    for _ in range(3):
        assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"
    assert await api.collect(client.ai.stream(MESSAGES)) == ["ok"]
    assert len(hostile.requests) == 4
    assert [request.headers.get("cookie") for request in hostile.requests] == [None] * 4


async def test_a_callers_http_client_keeps_its_own_cookie_policy(api, hostile: HostileServer) -> None:
    # Not the SDK's to change: httpx's client stores the cookie and sends it back.
    hostile.script(_plant)
    http = (httpx.AsyncClient if api.is_async else httpx.Client)()
    client = api.real_client(api_key=KEY, base_url=hostile.url, http_client=http, retry_policy=FAST)
    try:
        for _ in range(2):
            await api.run(client.ai.chat(MESSAGES))
    finally:
        await api.close(http)
    assert [request.headers.get("cookie") for request in hostile.requests] == [None, "session=planted"]
