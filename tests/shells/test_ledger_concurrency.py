"""The ledger under concurrency: exact totals from many threads and tasks, the budget
checked before each call, and hooks that cost nothing when none listens."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest

import neureus
from neureus import BudgetExceededError, HookRecord, Neureus
from neureus.testing import FakeGateway
from tests.conftest import MESSAGES, Api

PRICED = "claude-opus-4-8"
THREADS = 8
CALLS = 40


def _one_call_cost(gateway: FakeGateway) -> tuple[int, int, float]:
    with gateway.client() as probe:
        reply = probe.ai.chat(MESSAGES, model=PRICED)
    assert reply.input_tokens and reply.output_tokens and reply.cost_usd
    return reply.input_tokens, reply.output_tokens, reply.cost_usd


def test_many_threads_give_exact_totals_and_each_threads_scope_its_own(gateway: FakeGateway) -> None:
    input_tokens, output_tokens, cost = _one_call_cost(gateway)
    client = gateway.client()
    start = threading.Barrier(THREADS)

    def worker(_: int) -> tuple[int, int]:
        start.wait(timeout=30)  # every thread counts at the same time
        with client.track() as mine:
            for _ in range(CALLS):
                client.ai.chat(MESSAGES, model=PRICED)
        return mine.calls, mine.input_tokens

    with ThreadPoolExecutor(THREADS) as pool:
        scopes = list(pool.map(worker, range(THREADS)))
    total = THREADS * CALLS
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.retries) == (total, 0, 0)
    assert (usage.input_tokens, usage.output_tokens) == (total * input_tokens, total * output_tokens)
    assert usage.cost_usd == pytest.approx(total * cost)
    assert usage.by_model[PRICED].calls == total
    assert scopes == [(CALLS, CALLS * input_tokens)] * THREADS  # a scope counts its own thread's calls only
    client.close()


def test_the_budget_holds_across_threads(gateway: FakeGateway) -> None:
    _, _, cost = _one_call_cost(gateway)
    budget = cost * 10.5  # reached by the 11th call
    client = gateway.client(max_spend_usd=budget)
    sent_before = len(gateway.requests)
    refused: list[int] = []

    def worker(_: int) -> None:
        for _ in range(CALLS):
            try:
                client.ai.chat(MESSAGES, model=PRICED)
            except BudgetExceededError:
                refused.append(1)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    usage = client.usage
    sent = len(gateway.requests) - sent_before
    assert usage.calls == sent  # every call that went was counted; no refused call went
    assert usage.calls + len(refused) == THREADS * CALLS
    needed = math.ceil(budget / cost)
    # Once spending reached the budget no call started; at most the calls already in flight
    # (one per other thread) ended after it.
    assert needed <= usage.calls <= needed + THREADS - 1
    assert usage.cost_usd >= budget
    client.close()


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"], indirect=True)
async def test_many_tasks_give_exact_totals_and_scopes(api: Api) -> None:
    client = api.client()
    reply = await client.ai.chat(MESSAGES, model=PRICED)
    counts: list[int] = []

    async def task() -> None:
        with client.track() as mine:
            for _ in range(5):
                await client.ai.chat(MESSAGES, model=PRICED)
                await anyio.sleep(0)  # interleave with the other tasks
        counts.append(mine.calls)

    with client.track() as outer:
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(task)
    assert counts == [5] * 20
    assert outer.calls == 100  # the tasks started inside the block count in it too
    assert client.usage.calls == 101
    assert client.usage.output_tokens == 101 * reply.output_tokens


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"], indirect=True)
async def test_the_budget_holds_across_tasks(api: Api) -> None:
    # docs/bulk.md: with N tasks calling at once, at most N - 1 calls end after the one
    # that reached the budget; no refused call is sent.
    probe = api.client()
    cost = (await probe.ai.chat(MESSAGES, model=PRICED)).cost_usd
    assert cost
    budget = cost * 10.5  # reached by the 11th call
    client = api.client(max_spend_usd=budget)
    sent_before = len(api.gateway.requests)
    refused: list[int] = []

    async def task() -> None:
        for _ in range(CALLS):
            try:
                await client.ai.chat(MESSAGES, model=PRICED)
            except BudgetExceededError:
                refused.append(1)
            await anyio.sleep(0)  # interleave with the other tasks

    async with anyio.create_task_group() as group:
        for _ in range(THREADS):
            group.start_soon(task)
    usage = client.usage
    sent = len(api.gateway.requests) - sent_before
    assert usage.calls == sent
    assert usage.calls + len(refused) == THREADS * CALLS
    needed = math.ceil(budget / cost)
    assert needed <= usage.calls <= needed + THREADS - 1
    assert usage.cost_usd >= budget


def _count_records(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from neureus import _hooks

    built: list[str] = []
    real = _hooks.HookRecord._build.__func__  # type: ignore[attr-defined]

    def build(cls: type[HookRecord], event: str, *args: Any) -> HookRecord:
        built.append(event)
        return real(cls, event, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(_hooks.HookRecord, "_build", classmethod(build))
    return built


@pytest.mark.anyio
async def test_a_client_without_hooks_builds_no_record(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _count_records(monkeypatch)
    plain = api.client()
    await api.run(plain.ai.chat(MESSAGES, model=PRICED))
    await api.collect(await api.run(plain.ai.stream(MESSAGES, model=PRICED)))
    assert built == [] and plain.usage.calls == 2 and plain.usage.output_tokens > 0
    heard: list[str] = []
    hooked = api.client(hooks=[lambda record: heard.append(record.event)])
    await api.run(hooked.ai.chat(MESSAGES, model=PRICED))
    assert built == heard == ["on_request", "on_response"]


def test_a_global_hook_added_after_a_client_was_made_hears_its_calls(gateway: FakeGateway) -> None:
    from neureus._hooks import add_global_hook, remove_global_hook

    client: Neureus = gateway.client()
    client.ai.chat(MESSAGES)  # a client with no hooks of its own
    heard: list[str] = []

    def hook(record: HookRecord) -> None:
        heard.append(record.event)

    add_global_hook(hook)
    try:
        client.ai.chat(MESSAGES)
    finally:
        remove_global_hook(hook)
    client.ai.chat(MESSAGES)  # removed: heard no more
    assert heard == ["on_request", "on_response"]
    assert client.usage.calls == 3
    client.close()


@pytest.mark.anyio
async def test_only_a_429s_asked_for_wait_cools_a_scope_down(api: Api) -> None:
    client = api.client(max_retries=3, retry_policy=neureus.RetryPolicy(initial_wait=0, max_wait=0))
    waits: list[float] = []
    api.gateway.queue_error(429)  # no Retry-After: a backoff of the client's own, no cooldown
    api.gateway.queue_error(503)
    api.gateway.queue_error(429, headers={"retry-after-ms": "1"})
    with client.track() as plain, client._ledger.track(on_rate_limit=waits.append):
        await api.run(client.ai.chat(MESSAGES))
    assert waits == [pytest.approx(0.001)]  # the plain track() scope has no cooldown to call
    assert (plain.calls, plain.retries) == (1, 3)


@pytest.mark.anyio
async def test_many_endpoints_each_reach_their_own_url(api: Api) -> None:
    client = api.client()
    names = [f"provider-{n}" for n in range(70)]  # more paths than a client keeps parsed
    for name in names + names[:3]:  # (the last three parsed again, not kept)
        # The emulator knows two providers: the others are refused, once they have arrived.
        with pytest.raises(neureus.BadRequestError, match=name):
            await api.run(client.ai.delete_provider_key(name))
    paths = [request.path for request in api.gateway.requests]
    assert paths == [f"/ai/providers/{name}/key" for name in names + names[:3]]


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"], indirect=True)
async def test_an_async_first_call_loads_the_ledger_off_its_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from neureus import _transport

    # As in a process whose clients have made no call yet: the ledger's module is not loaded.
    monkeypatch.delitem(sys.modules, "neureus._usage")
    monkeypatch.setattr(neureus, "_usage", neureus._usage, raising=False)
    threads: list[int] = []
    real = _transport._first_async_use

    def first_use(backend: str, tls: bool = True) -> Any:
        threads.append(threading.get_ident())
        assert not tls  # the emulator's pool is the caller's: no TLS context is built for it
        return real(backend, tls)

    monkeypatch.setattr(_transport, "_first_async_use", first_use)
    client = api.client()
    await client.ai.chat(MESSAGES)
    assert threads and threads[0] != threading.get_ident()  # not on the loop's thread
    assert "neureus._usage" in sys.modules and client.usage.calls == 1
    await client.ai.chat(MESSAGES)
    assert len(threads) == 1  # once
