"""Load, for correctness only (no timing assertions; peak RSS is a benchmark's job).

- One sync client shared by 32 threads, each doing chats and streams against a loopback
  server: every reply is the one asked for, every stream complete and in order.
- One async client running many concurrent streams (all open at the same time, then
  read): 200 in the default run, 1,000 in the dedicated run ``pytest -m slow tests/test_load.py``.

The server (``tests.faults.server.FaultServer`` in echo mode) answers each chat with the
words of its message, so a reply crossed between requests would be caught.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import neureus
from tests.faults.server import FaultServer, Raw, Reply, Reset, Respond, echo_tokens

pytestmark = pytest.mark.network

API_KEY = "nru_test_LOAD0123456789abcdef"
FAST = neureus.RetryPolicy(initial_wait=0.001, max_wait=0.004)


@pytest.fixture
def echo_server() -> Iterator[FaultServer]:
    with FaultServer(echo=True) as server:
        yield server


def message(worker: int, number: int) -> str:
    return f"worker {worker} request {number} " + " ".join(f"w{worker}x{number}y{k}" for k in range(8))


def in_use(client: Any) -> int:
    pool = client._http._transport._pool
    return len([c for c in pool.connections if not (c.is_idle() or c.is_closed())]) + len(pool._requests)


FAULT_MIX: list[Reply] = [Reset(), Respond(503), Raw(b""), Respond(429, headers={"retry-after-ms": "1"})]


@pytest.mark.parametrize("faults", [0, 48], ids=["clean", "with_faults"])
def test_one_sync_client_shared_by_32_threads(echo_server: FaultServer, faults: int) -> None:
    """With faults: the first 48 requests (whichever they are) reset, 503, close or 429;
    every call still ends with the right answer, through its retries."""
    threads, rounds = 32, 10
    errors: list[BaseException] = []
    done = [0] * threads
    echo_server.script(*(FAULT_MIX * (faults // len(FAULT_MIX))))
    with neureus.Neureus(
        api_key=API_KEY, base_url=echo_server.url, retry_policy=FAST, timeout=30.0, max_retries=8
    ) as client:

        def work(worker: int) -> None:
            try:
                for number in range(rounds):
                    text = message(worker, number)
                    if number % 2:
                        with client.ai.stream([{"role": "user", "content": text}]) as stream:
                            tokens = list(stream)
                        assert tokens == echo_tokens(text), (tokens, text)
                        assert stream.done and stream.text == text
                    else:
                        reply = client.ai.chat([{"role": "user", "content": text}])
                        assert reply.text == text
                    done[worker] += 1
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        pool = [threading.Thread(target=work, args=(i,), name=f"load-{i}") for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in pool), "a worker is stuck"
        assert not errors, errors[:3]
        assert done == [rounds] * threads
        assert in_use(client) == 0
        assert echo_server.pending() == 0
        assert len(echo_server.requests) == threads * rounds + faults
    assert echo_server.wait_idle(0, timeout=10) == 0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


async def concurrent_streams(server: FaultServer, count: int, faults: int = 0) -> None:
    all_open = anyio.Event()
    opened = 0
    results: dict[int, list[str]] = {}
    server.script(*(FAULT_MIX * (faults // len(FAULT_MIX))))
    async with neureus.AsyncNeureus(
        api_key=API_KEY, base_url=server.url, retry_policy=FAST, timeout=60.0, max_retries=8
    ) as client:

        async def one(number: int) -> None:
            nonlocal opened
            text = message(number, 0)
            async with client.ai.stream([{"role": "user", "content": text}]) as stream:
                opened += 1  # the first event has arrived: this stream is open
                if opened == count:
                    all_open.set()
                with anyio.fail_after(120):
                    await all_open.wait()
                results[number] = [token async for token in stream]
                assert stream.done and stream.text == text

        with anyio.fail_after(300):
            async with anyio.create_task_group() as group:
                for number in range(count):
                    group.start_soon(one, number)
        assert sorted(results) == list(range(count))
        for number, tokens in results.items():
            assert tokens == echo_tokens(message(number, 0))
        assert in_use(client) == 0
        assert server.pending() == 0
        assert len(server.streams) == count  # every stream written once: none retried after its first event
        assert len(server.requests) == count + faults
    assert server.wait_idle(0, timeout=20) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("faults", [0, 48], ids=["clean", "with_faults"])
async def test_one_async_client_200_concurrent_streams(echo_server: FaultServer, faults: int) -> None:
    await concurrent_streams(echo_server, 200, faults)


@pytest.mark.slow
@pytest.mark.anyio
async def test_one_async_client_1000_concurrent_streams(
    echo_server: FaultServer, request: pytest.FixtureRequest
) -> None:
    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("the 1,000-stream run is dedicated: pytest -m slow tests/test_load.py")
    await concurrent_streams(echo_server, 1000)
