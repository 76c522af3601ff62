"""The usage ledger and the hooks agree, answers are parsed once, and the deadline covers parsing.

The ledger follows each call in the core, inside the hooks' observer, so it has counted a
call before a hook hears of it, and counts what the records say; a successful answer is
parsed once (the records' counts come from the parsed model); an answer that is parsed
only after the deadline has run out is an ``APITimeoutError``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

import neureus
from neureus import APITimeoutError, BudgetExceededError, HookRecord
from neureus._transport import _TransportBase
from neureus.testing import FakeGateway

from ..conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio

PRICED = "claude-opus-4-8"


class Recorder:
    def __init__(self, read: Callable[[], Any] | None = None) -> None:
        self.records: list[HookRecord] = []
        self.seen: list[Any] = []
        self._read = read

    def __call__(self, record: HookRecord) -> None:
        self.records.append(record)
        if self._read is not None:
            self.seen.append(self._read())

    @property
    def events(self) -> list[str]:
        return [r.event for r in self.records]


async def test_the_ledger_hears_each_record_before_the_users_hooks(api: Api) -> None:
    holder: dict[str, Any] = {}
    hook = Recorder(lambda: holder["client"].usage.calls)
    client = holder["client"] = api.client(hooks=[hook])
    reply = await api.run(client.ai.chat(MESSAGES, model=PRICED))
    assert hook.events == ["on_request", "on_response"]
    assert hook.seen == [0, 1]  # counted by the time the user's hook hears of the answer
    response = hook.records[-1]
    usage = client.usage
    # One source for both: the ledger counted what the record says.
    assert (usage.input_tokens, usage.output_tokens) == (response.input_tokens, response.output_tokens)
    assert usage.cost_usd == pytest.approx(response.cost_usd) == pytest.approx(reply.cost_usd)
    assert usage.by_model[PRICED].calls == 1


async def test_a_budget_refusal_is_one_error_record_and_counts_nothing(api: Api) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook], max_spend_usd=0)
    with pytest.raises(BudgetExceededError):
        await api.run(client.ai.chat(MESSAGES))
    assert hook.events == ["on_error"] and hook.records[0].error_type == "BudgetExceededError"
    assert client.usage.calls == 0 and api.gateway.requests == []


async def test_a_429s_retry_after_is_on_the_record_and_cools_the_scopes_down(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook], max_retries=3)
    waits: list[float] = []
    gateway.queue_error(429, headers={"retry-after-ms": "2"})
    gateway.queue_error(503)  # a backoff, not a wait the gateway asked for: no cooldown
    gateway.queue_error(429, headers={"retry-after-ms": "1"}, times=2)
    with client._ledger.track(on_rate_limit=waits.append):
        with pytest.raises(neureus.RateLimitError):
            await api.run(client.with_options(max_retries=2).ai.chat(MESSAGES))
    retries = [r for r in hook.records if r.event == "on_retry"]
    assert [(r.status_code, r.retry_after) for r in retries] == [(429, 0.002), (503, None)]
    assert hook.records[-1].event == "on_error" and hook.records[-1].retry_after == pytest.approx(0.001)
    # The retry's asked-for wait, and the final 429's (out of retries, the others still wait).
    assert waits == [pytest.approx(0.002), pytest.approx(0.001)]
    assert (client.usage.calls, client.usage.failed_calls, client.usage.retries) == (1, 1, 2)


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count every JSON parse of an answer in the SDK: pydantic_core's ``from_json`` as each
    module imported it, and the models' ``model_validate_json``."""
    from neureus.types import ChatResponse, EmbeddingsResponse

    parses: list[str] = []
    for name, module in list(sys.modules.items()):
        real = getattr(module, "from_json", None) if name.startswith("neureus") else None
        if real is not None:

            def counted(data: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                parses.append(_name)
                return _real(data, *args, **kwargs)

            monkeypatch.setattr(module, "from_json", counted)
    for model in (ChatResponse, EmbeddingsResponse):
        real_validate = model.model_validate_json

        def validate(data: Any, *args: Any, _real: Any = real_validate, **kwargs: Any) -> Any:
            parses.append("model_validate_json")
            return _real(data, *args, **kwargs)

        monkeypatch.setattr(model, "model_validate_json", validate)
    return parses


async def test_an_answer_is_parsed_once_with_hooks_and_the_ledger(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    await api.run(client.ai.chat(MESSAGES))  # the models are built before counting starts
    await api.run(client.ai.embeddings(["a", "b"]))
    parses = _count_parses(monkeypatch)
    reply = await api.run(client.ai.chat(MESSAGES, model=PRICED))
    assert parses == ["model_validate_json"]
    vectors = await api.run(client.ai.embeddings(["a", "b"]))
    assert parses == ["model_validate_json"] * 2
    chat_record = [r for r in hook.records if r.event == "on_response" and r.operation == "chat"][-1]
    assert (chat_record.input_tokens, chat_record.output_tokens, chat_record.log_id, chat_record.output_text) == (
        reply.input_tokens,
        reply.output_tokens,
        reply.log_id,
        reply.text,
    )
    assert len(vectors) == 2 and client.usage.calls == 4


class _Clock:
    """The flow's clock: the real one, plus a jump taken while an answer is parsed."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.mark.parametrize("late", [True, False], ids=["parsed-late", "parsed-in-time"])
async def test_the_deadline_covers_parsing_the_answer(
    api: Api, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch, late: bool
) -> None:
    from neureus import _wire

    clock = _Clock()
    monkeypatch.setattr(_TransportBase, "_clock", staticmethod(clock))
    real_parse = _wire.parse_chat

    def slow_parse(response: Any) -> Any:
        reply = real_parse(response)
        if late:
            clock.offset += 60.0  # decoding this answer "took" a minute
        return reply

    monkeypatch.setattr(_wire, "parse_chat", slow_parse)
    hook = Recorder()
    client = api.client(hooks=[hook], deadline=30)
    text = "word " * 200_000  # a large, valid answer (1 MB of text)
    gateway.queue_reply(text)
    if not late:
        reply = await api.run(client.ai.chat(MESSAGES, model=PRICED))
        assert reply.text == text and hook.events[-1] == "on_response"
        assert client.usage.failed_calls == 0
        return
    with pytest.raises(APITimeoutError, match="deadline"):
        await api.run(client.ai.chat(MESSAGES, model=PRICED))
    end = hook.records[-1]
    assert hook.events == ["on_request", "on_error"] and end.error_type == "APITimeoutError"
    # The gateway answered (and billed): the failed call is counted with what it cost.
    assert end.input_tokens and end.output_tokens and end.cost_usd
    usage = client.usage
    assert (usage.calls, usage.failed_calls) == (1, 1)
    assert usage.output_tokens == end.output_tokens and usage.cost_usd == pytest.approx(end.cost_usd)


async def test_a_record_never_holds_a_key_the_server_echoes_as_request_id(api: Api, gateway: FakeGateway) -> None:
    key = "nru_live_ECHOEDKEY0123456789abcdefgh"
    gateway.api_key = key
    hook = Recorder()
    client = api.client(api_key=key, hooks=[hook], max_retries=1, retry_policy=neureus.RetryPolicy(initial_wait=0))
    gateway.queue_error(503, headers={"x-request-id": key})
    gateway.queue_error(401, headers={"x-request-id": f"req-{key}"})
    with pytest.raises(neureus.AuthenticationError):
        await api.run(client.ai.chat(MESSAGES))
    assert hook.events == ["on_request", "on_retry", "on_request", "on_error"]
    for record in hook.records:
        assert key not in repr(record) and key not in str(record.request_id)
    assert hook.records[1].request_id is not None  # redacted, not dropped


async def test_a_streams_ledger_count_comes_from_its_end_record(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b"])
    stream = await api.run(client.ai.stream(MESSAGES, model=PRICED))
    assert client.usage.calls == 1 and client.usage.output_tokens == 0  # counted when it opened
    await api.collect(stream)
    end = hook.records[-1]
    assert end.event == "on_stream_end" and end.completed
    assert (client.usage.input_tokens, client.usage.output_tokens) == (end.input_tokens, end.output_tokens)
    assert client.usage.calls == 1


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"])
async def test_a_cancelled_call_counts_as_failed_like_its_error_record(api: Api, gateway: FakeGateway) -> None:
    import anyio

    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b"], delay=30)  # the stream's second event never comes in time
    with anyio.move_on_after(0.2) as scope:
        async for _ in client.ai.stream(MESSAGES):
            pass
    assert scope.cancelled_caught
    assert hook.events == ["on_request", "on_response", "on_stream_end", "on_error"]
    assert (client.usage.calls, client.usage.failed_calls) == (1, 0)  # opened: counted then, not again
    with anyio.CancelScope() as outer:

        class Canceller:
            async def on_request(self, record: HookRecord) -> None:
                outer.cancel()
                await anyio.sleep(0)

        await client.with_options(hooks=[hook, Canceller()]).ai.chat(MESSAGES)
    assert outer.cancelled_caught and hook.records[-1].error_type == "Cancelled"
    assert (client.usage.calls, client.usage.failed_calls) == (2, 1)


# Usage blocks a hostile or broken gateway might send: each must mean the same to the ledger
# and to the hook record (a count the ledger ignores is unknown, None, on the record).
HOSTILE_USAGE = [
    {"inputTokens": -5, "outputTokens": 3, "costUsd": -1.0},
    {"costUsd": "0.5"},
    {"inputTokens": 4, "outputTokens": 2, "costUsd": float("inf")},
    {"inputTokens": 4, "outputTokens": -2, "usage": {"prompt_tokens": 9, "completion_tokens": 7}, "costUsd": 0.25},
    {"inputTokens": 10**30, "outputTokens": 1, "costUsd": 1e308},
    {"usage": {"prompt_tokens": -1, "completion_tokens": 6}},
]


@pytest.mark.parametrize("counts", HOSTILE_USAGE, ids=[str(i) for i in range(len(HOSTILE_USAGE))])
async def test_odd_usage_means_the_same_to_the_ledger_and_the_hook_record(
    api: Api, gateway: FakeGateway, counts: dict[str, Any]
) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    body = {"text": "hi", "logId": "log-1", "model": "m-1", **counts}
    gateway.queue_error(200, body, path="/ai/chat")
    await api.run(client.ai.chat(MESSAGES, model="m-1"))
    record = hook.records[-1]
    usage = client.usage
    assert record.event == "on_response"
    assert usage.input_tokens == (record.input_tokens or 0) and usage.output_tokens == (record.output_tokens or 0)
    assert usage.cost_usd == (record.cost_usd or 0.0)  # no catalog prices: nothing is estimated
    for value in (record.input_tokens, record.output_tokens, record.cost_usd):
        assert value is None or (value >= 0 and value != float("inf"))


@pytest.mark.parametrize("final", [{"inputTokens": -3, "outputTokens": 4, "costUsd": -0.5}, {"costUsd": float("nan")}])
async def test_an_odd_final_event_means_the_same_to_the_ledger_and_the_end_record(
    api: Api, gateway: FakeGateway, final: dict[str, Any]
) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b"], final=final)
    await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    end = hook.records[-1]
    usage = client.usage
    assert end.event == "on_stream_end" and end.completed
    assert usage.input_tokens == (end.input_tokens or 0) and usage.output_tokens == (end.output_tokens or 0)
    assert end.cost_usd is None or end.cost_usd >= 0


async def test_an_answers_counts_are_read_once_for_the_ledger_and_the_hooks(
    api: Api, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import neureus._hooks
    import neureus._usage

    reads: list[str] = []
    for module in (neureus._usage, neureus._hooks):
        for name in ("answer_counts", "final_counts"):
            original = getattr(module, name, None)
            if original is None:
                continue

            def counting(*args: Any, _original: Any = original, _name: str = name) -> Any:
                reads.append(_name)
                return _original(*args)

            monkeypatch.setattr(module, name, counting)
    client = api.client(hooks=[Recorder()])
    await api.run(client.ai.chat(MESSAGES, model=PRICED))
    assert reads == ["answer_counts"]
    await api.collect(await api.run(client.ai.stream(MESSAGES, model=PRICED)))
    assert reads == ["answer_counts", "final_counts"]
