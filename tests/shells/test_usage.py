"""The usage ledger (``client.usage``, ``client.track()``) and the client's spending budget."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import anyio
import pytest

from neureus import BudgetExceededError, Usage
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio

PRICED = "claude-opus-4-8"  # 0.015 / 0.075 US dollars per 1k tokens in the emulator's catalog


async def test_usage_counts_calls_tokens_and_the_gateways_cost(api: Api) -> None:
    client = api.client()
    assert client.usage == Usage()
    replies = [
        await api.run(client.ai.chat(MESSAGES, model=PRICED)),
        await api.run(client.ai.chat(MESSAGES, model=PRICED)),
        await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini")),
    ]
    await api.run(client.ai.list_models())  # counted as a call, priced at nothing
    usage = client.usage
    assert usage.calls == 4 and usage.failed_calls == 0 and usage.retries == 0
    assert usage.input_tokens == sum(r.input_tokens for r in replies)
    assert usage.output_tokens == sum(r.output_tokens for r in replies)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.cost_usd == pytest.approx(sum(r.cost_usd for r in replies)) and usage.cost_usd > 0
    assert usage.estimated_cost_usd == 0
    assert set(usage.by_model) == {PRICED, "gpt-4o-mini"}
    assert usage.by_model[PRICED].calls == 2
    assert usage.by_model[PRICED].cost_usd == pytest.approx(replies[0].cost_usd + replies[1].cost_usd)


async def test_failures_and_retries_are_counted(api: Api) -> None:
    client = api.client(max_retries=2)
    api.gateway.queue_error(503)
    api.gateway.queue_error(429, headers={"retry-after": "0"})
    await api.run(client.ai.chat(MESSAGES))  # two retries, then success
    api.gateway.queue_error(400)
    with pytest.raises(Exception, match="400"):
        await api.run(client.ai.chat(MESSAGES))
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.retries) == (2, 1, 2)


async def test_client_usage_is_a_snapshot(api: Api) -> None:
    client = api.client()
    before = client.usage
    await api.run(client.ai.chat(MESSAGES))
    assert before.calls == 0 and client.usage.calls == 1


async def test_track_counts_only_what_starts_inside_the_block(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.chat(MESSAGES, model=PRICED))
    with client.track() as outer:
        reply = await api.run(client.ai.chat(MESSAGES, model=PRICED))
        with client.track() as inner:
            await api.run(client.with_options(timeout=5).ai.chat(MESSAGES, model=PRICED))  # a copy shares the ledger
        assert inner.calls == 1 and outer.calls == 2  # live while the block is open
    await api.run(client.ai.chat(MESSAGES))
    assert outer.calls == 2 and inner.calls == 1
    assert outer.cost_usd == pytest.approx(2 * reply.cost_usd)
    assert client.usage.calls == 4


async def test_a_bulk_runs_worker_calls_count_in_the_scope_that_started_it(api: Api) -> None:
    client = api.client()
    other = api.client()
    with client.track() as usage, other.track() as elsewhere:
        result = await api.run(client.ai.chat_many(["a", "b", "c", "d"], concurrency=3, progress=False))
    assert usage.calls == 4 == result.usage.calls
    assert elsewhere.calls == 0  # another client's scope does not see these calls


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"], indirect=True)
async def test_concurrent_tasks_count_in_the_scope_that_started_them(api: Api) -> None:
    client = api.client()
    entered, outsider_done = anyio.Event(), anyio.Event()

    async def outsider() -> None:  # started before the block, runs while it is open
        await entered.wait()
        await client.ai.chat(MESSAGES)
        outsider_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(outsider)
        with client.track() as usage:
            entered.set()
            async with anyio.create_task_group() as children:
                for _ in range(3):
                    children.start_soon(client.ai.chat, MESSAGES)
            await outsider_done.wait()
    assert usage.calls == 3
    assert client.usage.calls == 4


async def test_a_streams_cost_is_estimated_from_cached_catalog_prices(api: Api) -> None:
    client = api.client()
    stream = await api.run(client.ai.stream(MESSAGES, model=PRICED))
    await api.collect(stream)
    unpriced = client.usage
    assert unpriced.calls == 1 and unpriced.output_tokens == stream.output_tokens > 0
    assert unpriced.cost_usd == 0  # no price list fetched yet: nothing to estimate from
    estimate = await api.run(client.ai.estimate_cost(MESSAGES, model=PRICED))  # caches the prices
    with client.track() as usage:
        stream = await api.run(client.ai.stream(MESSAGES, model=PRICED))
        text = "".join(await api.collect(stream))
    assert text and usage.calls == 1
    assert usage.input_tokens == stream.input_tokens and usage.output_tokens == stream.output_tokens
    expected = stream.input_tokens / 1000 * 0.015 + stream.output_tokens / 1000 * 0.075
    assert usage.cost_usd == pytest.approx(expected) and usage.estimated_cost_usd == pytest.approx(expected)
    assert estimate.input_tokens >= 1
    # The same reply, not streamed, costs what the gateway says; nothing is estimated.
    with client.track() as plain:
        await api.run(client.ai.chat(MESSAGES, model=PRICED))
    assert plain.estimated_cost_usd == 0 and plain.cost_usd > 0


async def test_a_stream_closed_before_done_counts_the_call_but_no_tokens(api: Api) -> None:
    client = api.client()
    api.gateway.queue_stream(["a", "b", "c"])
    stream = await api.run(client.ai.stream(MESSAGES))
    await api.close(stream)
    assert client.usage.calls == 1 and client.usage.output_tokens == 0


async def test_the_client_budget_refuses_a_call_before_sending_it(api: Api) -> None:
    client = api.client(max_spend_usd=0.0009)
    await api.run(client.ai.chat(MESSAGES, model=PRICED))  # about 0.00093: the budget is now reached
    sent = len(api.gateway.requests)
    with pytest.raises(BudgetExceededError) as caught:
        await api.run(client.ai.chat(MESSAGES, model=PRICED))
    assert caught.value.budget_usd == 0.0009 and caught.value.spent_usd >= 0.0009
    assert "max_spend_usd" in str(caught.value)
    with pytest.raises(BudgetExceededError):
        await api.run(client.ai.embeddings("text"))
    assert len(api.gateway.requests) == sent
    await api.run(client.ai.list_models())  # free calls still go
    raised = client.with_options(max_spend_usd=1.0)
    await api.run(raised.ai.chat(MESSAGES))
    with pytest.raises(BudgetExceededError):
        await api.run(client.with_options(max_spend_usd=0).ai.chat(MESSAGES))


async def test_a_budgeted_bulk_run_on_a_spent_client_fails_each_item_without_sending(api: Api) -> None:
    client = api.client(max_spend_usd=0)
    result = await api.run(client.ai.chat_many(["a", "b"], progress=False))
    assert all(isinstance(e, BudgetExceededError) for e in result.errors.values()) and len(result.errors) == 2
    assert api.gateway.requests == []


def test_usage_values_copy_pickle_add_and_compare() -> None:
    a = Usage(calls=2, input_tokens=10, output_tokens=5, cost_usd=0.5, by_model={"m": Usage(calls=2, cost_usd=0.5)})
    b = Usage(
        calls=1, failed_calls=1, retries=3, cost_usd=0.25, estimated_cost_usd=0.25, by_model={"n": Usage(calls=1)}
    )
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a and a.copy() == a
    total = a + b
    assert (total.calls, total.failed_calls, total.retries, total.total_tokens) == (3, 1, 3, 15)
    assert total.cost_usd == 0.75 and total.estimated_cost_usd == 0.25
    assert set(total.by_model) == {"m", "n"}
    assert (a + a).by_model["m"].calls == 4
    assert a != b and a.__eq__(object()) is NotImplemented and a.__add__(1) is NotImplemented
    assert "calls=2" in repr(a) and "by_model=['m']" in repr(a)
    a.by_model["m"].calls = 99  # by_model hands out copies
    assert a.by_model["m"].calls == 2


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns about fork() with threads
def test_a_forked_child_counts_even_if_the_ledger_was_locked_at_fork(gateway: Any) -> None:
    import os
    import time

    client = gateway.client()
    client.ai.chat(MESSAGES)
    with client._ledger._lock:  # another thread could hold it at the moment of fork()
        pid = os.fork()
        if pid == 0:  # the child: would hang forever on the inherited, held lock
            try:
                client.ai.chat(MESSAGES)
                os._exit(0 if client.usage.calls == 2 else 1)
            finally:
                os._exit(2)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung on the ledger's lock")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.usage.calls == 1  # the child's call is the child's


async def test_the_budget_is_shown_on_the_client(api: Api) -> None:
    client = api.client(max_spend_usd=2.5)
    assert client.max_spend_usd == 2.5 and api.client().max_spend_usd is None
    assert client.with_options(max_spend_usd=None).max_spend_usd is None


# -- what each answer's fields count for, and where the ledger files them -------------------


async def test_a_streams_final_event_gives_its_cost_counted_under_the_model_asked_for(api: Api) -> None:
    records: list[Any] = []
    client = api.client(hooks=[records.append])
    api.gateway.queue_stream(["a", "b"], final={"costUsd": 0.5, "model": "answered-model"})
    api.gateway.queue_stream(["c"], final={"cost_usd": 0.25, "model": 5})
    with client.track() as usage:
        for _ in range(2):
            await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    assert usage.calls == 2 and usage.retries == 0
    assert usage.cost_usd == pytest.approx(0.75) and usage.estimated_cost_usd == 0
    # A stream counts under the model asked for (as its price estimate would), in the block too.
    assert list(usage.by_model) == [PRICED] and list(client.usage.by_model) == [PRICED]
    assert (usage.by_model[PRICED].calls, usage.by_model[PRICED].cost_usd) == (2, pytest.approx(0.75))
    # The hook's record says which model answered, when the event says so as a string.
    ends = [r for r in records if r.event == "on_stream_end"]
    assert [(r.response_model, r.cost_usd) for r in ends] == [("answered-model", 0.5), (None, 0.25)]


async def test_stream_estimates_add_up(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.list_models())  # caches the prices
    with client.track() as usage:
        for tokens in (["a", "b"], ["c", "d", "e"]):
            api.gateway.queue_stream(tokens)
            await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    expected = usage.input_tokens / 1000 * 0.015 + usage.output_tokens / 1000 * 0.075
    assert usage.calls == 2 and usage.output_tokens > 0
    assert usage.estimated_cost_usd == pytest.approx(expected) == pytest.approx(usage.cost_usd)


async def test_a_stream_without_a_model_counts_under_default(api: Api) -> None:
    client = api.client()
    await api.collect(await api.run(client.ai.stream(MESSAGES)))
    await api.collect(await api.run(client.ai.stream(MESSAGES, extra_body={"model": ""})))
    assert list(client.usage.by_model) == ["default"] and client.usage.by_model["default"].calls == 2


async def test_an_answer_counts_under_the_model_that_answered_with_its_own_token_fields(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.list_models())  # caches the prices: a cost the gateway gives still wins
    api.gateway.queue_error(
        200,
        {
            "text": "hi",
            "model": PRICED,
            "inputTokens": 1000,
            "outputTokens": 5,
            "usage": {"prompt_tokens": 99, "completion_tokens": 99},
            "costUsd": 0,
        },
    )
    api.gateway.queue_error(200, {"text": "hi", "model": 5, "inputTokens": 1, "costUsd": 0})  # not a model id
    with client.track() as usage:
        await api.run(client.ai.chat(MESSAGES, model="claude-haiku"))
        await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini"))
    assert (usage.input_tokens, usage.output_tokens) == (1001, 5)
    assert usage.cost_usd == 0 and usage.estimated_cost_usd == 0  # the gateway said 0: nothing estimated
    assert sorted(usage.by_model) == sorted([PRICED, "gpt-4o-mini"])
    assert usage.by_model[PRICED].input_tokens == 1000 and usage.by_model["gpt-4o-mini"].input_tokens == 1


async def test_embeddings_counts_come_from_the_answers_fields_or_its_usage(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.embeddings("plain"))  # the emulator's answer has no output tokens, no cost
    assert (client.usage.output_tokens, client.usage.cost_usd) == (0, 0)
    api.gateway.queue_error(
        200,
        {"embeddings": [[1.0]], "model": "emb-1", "inputTokens": "5", "outputTokens": 4, "usage": {"prompt_tokens": 7}},
    )
    with client.track() as usage:
        await api.run(client.ai.embeddings("x", model="emb-0"))
    # inputTokens is not a number: the usage block's count stands in; nothing priced, nothing estimated.
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (7, 4, 0)
    assert list(usage.by_model) == ["emb-1"]


async def test_catalog_prices_that_are_missing_or_negative_estimate_nothing(api: Api) -> None:
    api.gateway.models = [
        {"id": "no-price", "name": "n", "provider": "p", "type": "chat"},
        {"id": "negative", "name": "n", "provider": "p", "type": "chat", "inputCostPer1k": -1, "outputCostPer1k": -1},
    ]
    client = api.client()
    await api.run(client.ai.list_models())
    for model in ("no-price", "negative"):
        await api.collect(await api.run(client.ai.stream(MESSAGES, model=model)))
    usage = client.usage
    assert usage.output_tokens > 0 and usage.cost_usd == 0 and usage.estimated_cost_usd == 0


async def test_failures_add_up_and_a_free_call_that_fails_has_no_model(api: Api) -> None:
    client = api.client(max_retries=0)
    for _ in range(2):
        api.gateway.queue_error(400)
        with pytest.raises(Exception, match="400"):
            await api.run(client.ai.chat(MESSAGES, model=PRICED))
    api.gateway.queue_error(400)
    with pytest.raises(Exception, match="400"):
        await api.run(client.ai.list_models())
    usage = client.usage
    assert (usage.calls, usage.failed_calls) == (3, 2 + 1)
    assert list(usage.by_model) == [PRICED] and usage.by_model[PRICED].failed_calls == 2
    assert usage.unpriced_calls == 0  # a call with no answer cost nothing to price


async def test_only_a_429_out_of_retries_cools_the_run_down_and_only_within_the_policys_cap(api: Api) -> None:
    from neureus import RetryPolicy

    waits: list[float] = []
    client = api.client(max_retries=0, retry_policy=RetryPolicy(max_retry_after=0.5))
    with client._ledger.track(on_rate_limit=waits.append):
        api.gateway.queue_error(503, headers={"retry-after-ms": "1"})  # a 503 may ask to wait too
        with pytest.raises(Exception, match="503"):
            await api.run(client.ai.chat(MESSAGES))
        assert waits == []
        api.gateway.queue_error(429, headers={"retry-after-ms": "500"})  # exactly the cap
        with pytest.raises(Exception, match="429"):
            await api.run(client.ai.chat(MESSAGES))
        assert waits == [0.5]


async def test_retries_after_no_answer_or_a_503_cool_nothing_down(api: Api) -> None:
    waits: list[float] = []
    client = api.client(max_retries=2)
    with client._ledger.track(on_rate_limit=waits.append) as usage:
        api.gateway.queue_failure("connect")
        api.gateway.queue_error(503, headers={"retry-after-ms": "1"})
        await api.run(client.ai.chat(MESSAGES))
    assert waits == [] and (usage.calls, usage.retries, usage.failed_calls) == (1, 2, 0)


async def test_a_call_whose_deadline_runs_out_before_it_is_sent_is_one_failed_call(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neureus import APITimeoutError
    from neureus._transport import _TransportBase

    now = [0.0]

    def clock() -> float:  # every reading is a minute later: the deadline is gone before sending
        now[0] += 60.0
        return now[0]

    monkeypatch.setattr(_TransportBase, "_clock", staticmethod(clock))
    client = api.client(deadline=30)
    with pytest.raises(APITimeoutError):
        await api.run(client.ai.chat(MESSAGES))
    assert api.gateway.requests == []
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.retries) == (1, 1, 0)


async def test_the_budget_refusal_says_how_to_go_on(api: Api) -> None:
    client = api.client(max_spend_usd=0)
    with pytest.raises(BudgetExceededError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert str(caught.value) == (
        "This client has spent $0 of its max_spend_usd=$0; no new call starts. "
        "Raise the budget with client.with_options(max_spend_usd=...) to go on."
    )


@pytest.mark.parametrize("model", [None, "not-listed"])
async def test_the_refusal_of_a_stream_it_cannot_price_says_how_to_go_on(api: Api, model: str | None) -> None:
    client = api.client(max_spend_usd=2)
    with pytest.raises(BudgetExceededError) as caught:
        await api.run(client.ai.stream(MESSAGES, model=model))
    named = "the gateway's default model" if model is None else "model 'not-listed'"
    assert str(caught.value) == (
        f"This client has max_spend_usd=$2, and a streamed reply carries no cost: {named} has no "
        "price in the catalog this client has fetched, so this stream's spending could not be "
        "counted; it was not started. Call client.ai.list_models() once (the client keeps the "
        "prices), pass a model the catalog prices, or use chat() without streaming (its answer "
        "carries its cost)."
    )


def test_usages_that_differ_only_by_model_are_not_equal() -> None:
    one = Usage(calls=1, by_model={"a": Usage(calls=1)})
    assert one != Usage(calls=1, by_model={"b": Usage(calls=1)})
    assert one != Usage(calls=1) and one == Usage(calls=1, by_model={"a": Usage(calls=1)})


@pytest.mark.parametrize("call", ["chat", "list_models"])
async def test_an_answer_parsed_past_the_deadline_fails_counting_its_retries_and_priced_tokens(
    api: Api, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    import time

    from neureus import APITimeoutError, _wire
    from neureus._transport import _TransportBase

    offset = [0.0]
    monkeypatch.setattr(_TransportBase, "_clock", staticmethod(lambda: time.monotonic() + offset[0]))
    parser = "parse_chat" if call == "chat" else "parse_model_list"
    real_parse = getattr(_wire, parser)

    def slow_parse(response: Any) -> Any:
        offset[0] += 60.0  # reading this answer "took" a minute
        return real_parse(response)

    monkeypatch.setattr(_wire, parser, slow_parse)
    client = api.client(deadline=30, max_retries=1)
    api.gateway.queue_error(503, headers={"retry-after-ms": "1"})
    # Token counts on a free call's answer are not counted (only chat and embeddings are priced).
    answer = {"text": "hi", "inputTokens": 5} if call == "chat" else {"models": [], "inputTokens": 5}
    api.gateway.queue_error(200, answer)
    with pytest.raises(APITimeoutError):
        await api.run(client.ai.chat(MESSAGES) if call == "chat" else client.ai.list_models())
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.retries) == (1, 1, 1)
    assert usage.input_tokens == (5 if call == "chat" else 0)
    # The chat answer said no cost and the client knows no price: unpriced; a free call never is.
    assert usage.unpriced_calls == (1 if call == "chat" else 0)


def test_the_at_fork_hook_frees_every_ledgers_lock(gateway: Any) -> None:
    # What os.fork() runs in the child, run here where mutation testing can see it (the forked
    # test above checks it in a real child).
    import threading

    from neureus._usage import _after_fork_in_child

    client = gateway.client()
    client.ai.chat(MESSAGES)
    with client._ledger._lock:  # held, as by another thread at the moment of fork()
        _after_fork_in_child()
        worker = threading.Thread(target=client.ai.chat, args=(MESSAGES,), daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the call waited on the lock held before the fork"
    assert client.usage.calls == 2


async def test_each_models_counts_add_up_like_the_totals(api: Api) -> None:
    client = api.client(max_retries=1)
    await api.run(client.ai.list_models())  # caches the prices: the streams' costs are estimated
    with client.track() as usage:
        for _ in range(2):
            api.gateway.queue_error(503, headers={"retry-after-ms": "1"})
            api.gateway.queue_stream(["a", "b"])
            await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    assert (usage.calls, usage.retries) == (2, 2) and usage.output_tokens > 0
    for per_model in (usage.by_model[PRICED], client.usage.by_model[PRICED]):
        assert (per_model.calls, per_model.retries, per_model.input_tokens, per_model.output_tokens) == (
            usage.calls,
            usage.retries,
            usage.input_tokens,
            usage.output_tokens,
        )
        assert per_model.estimated_cost_usd == pytest.approx(usage.estimated_cost_usd) and usage.estimated_cost_usd > 0


# A catalog with the shapes a price can take: priced, free, listed without prices, listed
# with an input price only, and listed with prices no one can bill (negative, a string).
ODD_CATALOG = [
    {"id": "priced", "name": "n", "provider": "p", "type": "chat", "inputCostPer1k": 0.01, "outputCostPer1k": 0.02},
    {"id": "free", "name": "n", "provider": "p", "type": "chat", "inputCostPer1k": 0, "outputCostPer1k": 0},
    {"id": "no-price", "name": "n", "provider": "p", "type": "chat"},
    {"id": "input-only", "name": "n", "provider": "p", "type": "chat", "inputCostPer1k": 0.01},
    {"id": "negative", "name": "n", "provider": "p", "type": "chat", "inputCostPer1k": -1, "outputCostPer1k": -1},
]


async def test_a_stream_and_estimate_cost_price_a_model_the_same_way(api: Api) -> None:
    # One rule for both: where estimate_cost refuses a model, a stream on it is not priced
    # at $0 but counted as unpriced; where it prices one, the stream costs the same rate.
    api.gateway.models = ODD_CATALOG
    client = api.client()
    await api.run(client.ai.list_models())  # the client now knows the catalog
    for model in ("priced", "free", "no-price", "input-only", "negative", "not-listed"):
        try:
            estimate = await api.run(client.ai.estimate_cost(MESSAGES, model=model, max_output_tokens=10))
        except ValueError:
            estimate = None
        with client.track() as usage:
            stream = await api.run(client.ai.stream(MESSAGES, model=model))
            await api.collect(stream)
        assert stream.output_tokens > 0
        if estimate is None:
            assert (usage.unpriced_calls, usage.cost_usd, usage.estimated_cost_usd) == (1, 0, 0), model
        else:
            rate_in = estimate.input_cost_usd / estimate.input_tokens
            rate_out = estimate.output_cost_usd / estimate.output_tokens
            expected = stream.input_tokens * rate_in + stream.output_tokens * rate_out
            assert usage.unpriced_calls == 0, model
            assert usage.cost_usd == pytest.approx(expected) == pytest.approx(usage.estimated_cost_usd), model
    assert client.usage.unpriced_calls == 4 and client.usage.by_model["no-price"].unpriced_calls == 1


async def test_a_budgeted_client_refuses_a_stream_it_could_not_price_before_sending(api: Api) -> None:
    # A streamed reply carries no cost: on a client with max_spend_usd, a stream the client
    # cannot price would spend without counting, so it is refused before anything is sent.
    api.gateway.models = ODD_CATALOG
    client = api.client(max_spend_usd=1.0)
    with pytest.raises(BudgetExceededError, match=r"list_models\(\)") as caught:
        await api.run(client.ai.stream(MESSAGES, model="priced"))  # the catalog is not known yet
    assert caught.value.budget_usd == 1.0 and caught.value.spent_usd == 0
    assert api.gateway.requests == []
    await api.run(client.ai.list_models())
    for model in ("no-price", "input-only", "negative", "not-listed"):
        with pytest.raises(BudgetExceededError, match=repr(model)):
            await api.run(client.ai.stream(MESSAGES, model=model))
    with pytest.raises(BudgetExceededError):
        await api.run(client.ai.stream(MESSAGES))  # the gateway picks the model: no price known
    assert len(api.gateway.requests) == 1  # the catalog only
    for model in ("priced", "free"):
        await api.collect(await api.run(client.ai.stream(MESSAGES, model=model)))
    await api.run(client.ai.chat(MESSAGES, model="no-price"))  # not streamed: the gateway says what it cost
    usage = client.usage
    assert usage.unpriced_calls == 0 and usage.estimated_cost_usd > 0
    unbudgeted = client.with_options(max_spend_usd=None)  # the same ledger, no budget: counted as unpriced
    await api.collect(await api.run(unbudgeted.ai.stream(MESSAGES, model="no-price")))
    assert client.usage.unpriced_calls == 1


async def test_a_budget_counts_a_priced_stream_and_stops_the_next_call(api: Api) -> None:
    api.gateway.models = ODD_CATALOG
    client = api.client(max_spend_usd=1e-9)
    await api.run(client.ai.list_models())
    await api.collect(await api.run(client.ai.stream(MESSAGES, model="priced")))
    assert client.usage.cost_usd > 1e-9
    with pytest.raises(BudgetExceededError):
        await api.run(client.ai.stream(MESSAGES, model="priced"))


async def test_embeddings_without_a_cost_are_priced_by_the_same_rule(api: Api) -> None:
    api.gateway.models = [{"id": "emb", "name": "e", "provider": "p", "type": "embedding", "inputCostPer1k": 0.1}]
    client = api.client()
    await api.run(client.ai.list_models())
    with client.track() as usage:
        await api.run(client.ai.embeddings(["some text to embed"], model="emb"))
    assert usage.input_tokens > 0 and usage.unpriced_calls == 0
    assert usage.cost_usd == pytest.approx(usage.input_tokens / 1000 * 0.1) == pytest.approx(usage.estimated_cost_usd)
    with client.track() as unknown:
        await api.run(client.ai.embeddings(["some text to embed"], model="not-listed"))
    assert (unknown.unpriced_calls, unknown.cost_usd) == (1, 0)


def test_a_usage_pickled_without_the_unpriced_counter_loads_with_zero() -> None:
    usage = Usage(calls=2, unpriced_calls=1)
    state = usage.__getstate__()
    del state["unpriced_calls"]
    old = Usage.__new__(Usage)
    old.__setstate__(state)
    assert old.unpriced_calls == 0 and old.calls == 2
    assert pickle.loads(pickle.dumps(usage)) == usage and "unpriced_calls=1" in repr(usage)
    assert (usage + usage).unpriced_calls == 2


async def test_counts_no_float_can_hold_are_not_a_price_and_never_break_the_call(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.list_models())  # PRICED has prices: the ledger would estimate
    huge = 10**400
    api.gateway.queue_error(200, {"text": "hi", "inputTokens": huge, "outputTokens": 1}, path="/ai/chat")
    api.gateway.queue_error(200, {"text": "hi", "inputTokens": 1, "outputTokens": 1, "costUsd": huge}, path="/ai/chat")
    api.gateway.queue_stream(["a"], final={"inputTokens": 3, "outputTokens": huge})
    api.gateway.queue_stream(["b"], final={"inputTokens": 3, "outputTokens": 4, "costUsd": huge})
    with client.track() as usage:
        await api.run(client.ai.chat(MESSAGES, model=PRICED))
        await api.run(client.ai.chat(MESSAGES, model=PRICED))
        await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
        await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    assert usage.calls == 4 and usage.failed_calls == 0
    # A huge cost is no cost (its call is estimated); the counts too large to price are unpriced.
    assert usage.unpriced_calls == 2 and 0 < usage.cost_usd < 1 and usage.estimated_cost_usd == usage.cost_usd


async def test_free_calls_count_as_calls_under_no_model_and_never_unpriced(api: Api) -> None:
    client = api.client()
    await api.run(client.ai.list_providers())
    await api.run(client.ai.create_widget_key())
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.unpriced_calls, usage.cost_usd, usage.by_model) == (2, 0, 0, 0, {})
