"""Closed clients and loops, fork, pickling: the client survives how programs really run."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from neureus import AsyncNeureus, Neureus, NeureusError

from . import server as acts
from .conftest import FAST, KEY, MESSAGES
from .server import Conn, HostileServer, Request

pytestmark = pytest.mark.network


def _echo(conn: Conn, request: Request) -> bool:
    """Answer with the request's own message, so a crossed reply shows."""
    content = request.json()["messages"][-1]["content"]
    return conn.respond(200, acts.json_body({"text": content}))


@pytest.mark.anyio
async def test_a_closed_client_says_so(api, hostile: HostileServer) -> None:
    client = api.real_client(api_key=KEY, base_url=hostile.url)
    await api.run(client.ai.chat(MESSAGES))
    await api.close(client)
    with pytest.raises(NeureusError, match="closed"):
        await api.run(client.ai.chat(MESSAGES))
    assert len(hostile.requests) == 1


def test_an_async_client_outlives_its_event_loop(hostile: HostileServer) -> None:
    # Notebooks and scripts call asyncio.run more than once; the first run leaves a
    # keep-alive connection bound to a loop that is closed by the second.
    client = AsyncNeureus(api_key=KEY, base_url=hostile.url, max_retries=0)
    first = asyncio.run(client.ai.chat(MESSAGES))
    second = asyncio.run(client.ai.chat(MESSAGES))
    assert first.text == second.text == "ok"

    import trio

    assert trio.run(client.ai.chat, MESSAGES).text == "ok"
    asyncio.run(client.aclose())
    assert len(hostile.requests) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_replies_never_cross(hostile: HostileServer) -> None:
    hostile.default = _echo
    client = Neureus(api_key=KEY, base_url=hostile.url, max_retries=0)
    client.ai.chat([{"role": "user", "content": "warm"}])  # a pooled keep-alive connection
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report crossed replies through the pipe, never return to pytest
        crossed = 0
        try:
            for i in range(40):
                crossed += client.ai.chat([{"role": "user", "content": f"child {i}"}]).text != f"child {i}"
            os.write(write_end, json.dumps({"crossed": crossed}).encode())
        except BaseException as exc:  # reported to the parent
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    crossed = 0
    try:
        for i in range(40):
            crossed += client.ai.chat([{"role": "user", "content": f"parent {i}"}]).text != f"parent {i}"
    finally:
        _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        child = json.loads(pipe.read() or b"{}")
    client.close()
    assert status == 0
    assert child == {"crossed": 0}
    assert crossed == 0
    parent_connections = {r.connection for r in hostile.requests if r.json()["messages"][-1]["content"][:5] == "paren"}
    child_connections = {r.connection for r in hostile.requests if r.json()["messages"][-1]["content"][:5] == "child"}
    assert not parent_connections & child_connections


def _roundtrip(client: object) -> object:
    return pickle.loads(pickle.dumps(client))


@pytest.mark.parametrize("cls", [Neureus, AsyncNeureus])
def test_a_client_pickles_to_its_configuration(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEUREUS_API_KEY", raising=False)
    client = cls(
        api_key=KEY,
        base_url="http://127.0.0.1:9",
        timeout=7,
        max_retries=5,
        deadline=30.0,
        surface="batch",
        max_response_bytes=1 << 20,
        default_headers={"x-team": "a"},
    )
    copy = _roundtrip(client)
    assert type(copy) is cls
    for name in ("api_key", "base_url", "timeout", "max_retries", "deadline", "max_response_bytes"):
        assert getattr(copy, name) == getattr(client, name), name
    assert copy._config.surface == "batch" and dict(copy._config.default_headers) == {"x-team": "a"}
    assert copy._http is not client._http  # its own pool


@pytest.mark.parametrize("cls", [Neureus, AsyncNeureus])
def test_a_key_from_the_environment_does_not_travel(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUREUS_API_KEY", "nk_from_the_sender_env_000000")
    client = cls(base_url="http://127.0.0.1:9")
    data = pickle.dumps(client)
    assert b"nk_from_the_sender_env" not in data
    monkeypatch.setenv("NEUREUS_API_KEY", "nk_from_the_receiver_env_1111")
    assert pickle.loads(data).api_key == "nk_from_the_receiver_env_1111"
    # with_options(api_key=...) passes one explicitly: it travels.
    assert pickle.loads(pickle.dumps(client.with_options(api_key=KEY))).api_key == KEY


def _worker_chat(client: Neureus, text: str) -> tuple[str, str]:
    with client:
        return client.ai.chat([{"role": "user", "content": text}]).text, os.environ.get("NEUREUS_API_KEY", "")


def test_a_client_works_in_a_spawned_process_pool(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile.default = _echo
    monkeypatch.setenv("NEUREUS_API_KEY", "nk_env_key_for_the_workers_00")
    from_env = Neureus(base_url=hostile.url, max_retries=0, retry_policy=FAST)
    explicit = Neureus(api_key=KEY, base_url=hostile.url, max_retries=0, retry_policy=FAST)
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_worker_chat, [from_env, explicit], ["one", "two"], timeout=60))
    assert [r[0] for r in results] == ["one", "two"]
    keys = sorted(r.headers["authorization"] for r in hostile.requests)
    assert keys == sorted([f"Bearer {KEY}", "Bearer nk_env_key_for_the_workers_00"])
    from_env.close()
    explicit.close()


if sys.platform == "win32":  # pragma: no cover
    pytestmark = [pytestmark, pytest.mark.skip(reason="fork")]


def test_a_client_closed_between_retries_says_so(hostile: HostileServer) -> None:
    # The first attempt fails and, before the retry, the client is closed (the policy's
    # jitter runs exactly then): the retry meets a closed pool (httpx's RuntimeError in 0.1).
    from neureus import RetryPolicy

    def close_then_jitter() -> float:
        client.close()
        return 0.0

    hostile.script(acts.ok(b'{"error": "busy"}', 503))
    policy = RetryPolicy(initial_wait=0.001, jitter=close_then_jitter)
    client = Neureus(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=policy)
    with pytest.raises(NeureusError, match="closed"):
        client.ai.chat(MESSAGES)
    assert len(hostile.requests) == 1
