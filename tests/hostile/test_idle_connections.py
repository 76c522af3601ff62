"""A connection the server closed, or wrote to unasked, while it sat idle in the pool is
never used for the next call: that call goes out once, on a fresh connection, with no
retry needed (the sync pool checks a connection when it is about to carry a request, not
at every sweep of the pool; see ``neureus._idle_check``)."""

from __future__ import annotations

import threading

import pytest

from neureus import Neureus

from . import server as acts
from .conftest import KEY, MESSAGES
from .server import Conn, HostileServer, Request

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def _answer_then_time_out(conn: Conn, request: Request) -> bool:
    # What nginx and others do to a keep-alive connection left idle: an unasked 408, then close.
    conn.respond(200, acts.json_body({"text": "ok"}))
    conn.pause(0.05)
    conn.send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    return False


def _answer_then_close(conn: Conn, request: Request) -> bool:
    conn.respond(200, acts.json_body({"text": "ok"}))
    conn.pause(0.05)
    return False


@pytest.mark.parametrize("act", [_answer_then_time_out, _answer_then_close], ids=["unasked-408", "closed"])
async def test_a_connection_spoiled_while_idle_is_never_used(api, hostile: HostileServer, act) -> None:  # type: ignore[no-untyped-def]
    hostile.script(act)
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0)
    assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"
    assert acts.wait_for(lambda: hostile.open_connections == 0)  # spoiled and closed by the server
    assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"
    assert [request.connection for request in hostile.requests] == [1, 2]


def test_threads_never_use_connections_spoiled_while_idle(hostile: HostileServer) -> None:
    # Many idle connections at once, every one spoiled, then as many calls at once.
    hostile.script(*[_answer_then_time_out] * 8)
    barrier = threading.Barrier(8, timeout=10)
    errors: list[BaseException] = []

    with Neureus(api_key=KEY, base_url=hostile.url, max_retries=0) as client:

        def call() -> None:
            try:
                barrier.wait()
                assert client.ai.chat(MESSAGES).text == "ok"
            except BaseException as exc:  # reported below
                errors.append(exc)

        for _ in range(2):
            threads = [threading.Thread(target=call) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=20)
            assert acts.wait_for(lambda: hostile.open_connections == 0 or len(hostile.requests) == 16)
    assert errors == []
    assert len(hostile.requests) == 16
    assert len({request.connection for request in hostile.requests}) == 16  # none sent on a spoiled one
