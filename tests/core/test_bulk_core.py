"""The bulk scheduler's decisions, on an injected clock: no socket, no loop, no sleep."""

from __future__ import annotations

import contextlib
import json

import pytest

from neureus import BudgetExceededError, InvalidRequestError, RateLimitError
from neureus._bulk_core import (
    MAX_WAIT_SLICE,
    Call,
    Job,
    Scheduler,
    TokenBucket,
    Wait,
    checkpoint_header,
    checkpoint_record,
    estimate_job_tokens,
    inputs_digest,
    item_flow,
    normalize_inputs,
    read_checkpoint,
)
from neureus.types import ChatResponse


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scheduler(clock: Clock, **options: object) -> Scheduler:
    return Scheduler(clock=clock, lock=contextlib.nullcontext(), **options)  # type: ignore[arg-type]


def started_within(s: Scheduler, clock: Clock, seconds: float, tokens: int = 1, step: float = 0.01) -> int:
    """How many calls the scheduler lets start over ``seconds`` of fake time, asked greedily."""
    started = 0
    end = clock.now + seconds
    while clock.now < end:
        if s.admit(tokens) == 0.0:
            started += 1
        else:
            clock.now += step
    return started


def test_requests_per_minute_spread_evenly_over_the_minute() -> None:
    clock = Clock()
    s = scheduler(clock, requests_per_minute=120)
    # Two a second on average, at most one second's worth at once: 1 + 120 over a minute.
    assert started_within(s, clock, 60.0) <= 121
    assert started_within(s, clock, 60.0) >= 118
    # Any single second after the first holds at most about 2.
    clock2 = Clock()
    s2 = scheduler(clock2, requests_per_minute=120)
    counts = [started_within(s2, clock2, 1.0) for _ in range(10)]
    assert max(counts[1:]) <= 3


def test_runs_made_back_to_back_do_not_add_up_to_more_than_the_rate() -> None:
    # A Ray worker runs one chat_many per batch: 12 runs of 10 calls at 120 a minute.
    clock = Clock()
    start = clock.now
    for _ in range(12):
        s = scheduler(clock, requests_per_minute=120)
        started = 0
        while started < 10:
            wait = s.admit(1)
            if wait == 0.0:
                started += 1
            else:
                clock.now += wait
    # 120 calls at 2 a second take 60 s; each run may start one call at once: 12 more.
    assert clock.now - start >= (120 - 12) / 2


def test_a_slow_rate_still_allows_one_call_then_waits() -> None:
    clock = Clock()
    s = scheduler(clock, requests_per_minute=6)
    assert s.admit(1) == 0.0
    wait = s.admit(1)
    assert wait == pytest.approx(10.0)
    clock.now += wait
    assert s.admit(1) == 0.0


def test_tokens_per_minute_counts_estimates_and_settles_to_actual_use() -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=600)  # 10 tokens a second
    assert s.admit(10) == pytest.approx(0.9)  # a new bucket holds one token, not a second's worth
    clock.now += 0.9
    assert s.admit(10) == 0.0
    assert s.admit(10) == pytest.approx(1.0)
    # The call used 40, not 10: the debt of 30 must be waited out.
    s.settle(10, 40)
    assert s.admit(10) == pytest.approx(4.0)
    clock.now += 4.0
    assert s.admit(10) == 0.0


def test_a_call_bigger_than_a_second_of_tokens_waits_for_a_full_bucket_then_goes() -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=60)  # 1 token a second, bucket of 1
    assert s.admit(500) == 0.0  # a full bucket lets it go, leaving a debt
    assert s.admit(1) == pytest.approx(500.0)


def test_the_cooldown_stops_every_caller_until_it_ends() -> None:
    clock = Clock()
    s = scheduler(clock)
    s.cool_down(2.0)
    assert s.admit(1) == pytest.approx(2.0)
    s.cool_down(0.5)  # a shorter one never shortens it
    assert s.admit(1) == pytest.approx(2.0)
    clock.now += 2.0
    assert s.admit(1) == 0.0


def test_the_budget_refuses_once_spending_reaches_it() -> None:
    spent = [0.0]
    s = scheduler(Clock(), max_spend_usd=0.5, spent=lambda: spent[0])
    assert s.budget_error() is None
    spent[0] = 0.5
    error = s.budget_error()
    assert isinstance(error, BudgetExceededError)
    assert (error.spent_usd, error.budget_usd) == (0.5, 0.5)
    assert scheduler(Clock()).budget_error() is None


def test_item_flow_waits_in_slices_then_calls_and_returns_the_item() -> None:
    clock = Clock()
    s = scheduler(clock)
    s.cool_down(1.0)
    flow = item_flow(s, Job(3, "hi", {"messages": []}))
    waits = 0
    action = next(flow)
    while isinstance(action, Wait):
        assert action.seconds <= MAX_WAIT_SLICE
        clock.now += action.seconds
        waits += 1
        action = flow.send(None)
    assert waits == 4
    assert action == Call({"messages": []})
    reply = ChatResponse(text="ok")
    with pytest.raises(StopIteration) as stop:
        flow.send(reply)
    item = stop.value.value
    assert (item.index, item.input, item.response, item.error) == (3, "hi", reply, None)


def test_item_flow_keeps_an_error_and_stops_when_the_run_stops() -> None:
    s = scheduler(Clock())
    flow = item_flow(s, Job(0, "x", {}))
    assert isinstance(next(flow), Call)
    error = RateLimitError("429", status_code=429)
    with pytest.raises(StopIteration) as stop:
        flow.send(error)
    assert stop.value.value.error is error and not stop.value.value.ok
    s.stop()
    with pytest.raises(StopIteration) as stopped:
        next(item_flow(s, Job(1, "y", {})))
    assert stopped.value.value is None


def test_item_flow_refuses_without_calling_when_the_budget_is_spent() -> None:
    s = scheduler(Clock(), max_spend_usd=0.0)
    with pytest.raises(StopIteration) as stop:
        next(item_flow(s, Job(0, "x", {})))
    assert isinstance(stop.value.value.error, BudgetExceededError)


def test_inputs_become_chat_keywords_with_the_item_winning() -> None:
    jobs = normalize_inputs(
        ["hi", [{"role": "user", "content": "a"}], {"messages": [], "model": "m2"}],
        {"model": "m1", "prefer_async": True},
    )
    assert [job.payload for job in jobs] == [
        {"model": "m1", "prefer_async": True, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m1", "prefer_async": True, "messages": [{"role": "user", "content": "a"}]},
        {"model": "m2", "prefer_async": True, "messages": []},
    ]
    assert [job.index for job in jobs] == [0, 1, 2]


@pytest.mark.parametrize(
    ("inputs", "keywords", "names"),
    [
        (["ok", 42], {}, "inputs[1] is int"),
        (["ok", None], {}, "inputs[1] is NoneType"),
        ([{"model": "x"}], {}, "inputs[0] is a dict without 'messages'"),
        ([{"messages": [], "colour": 1}], {}, "inputs[0]: unknown chat() keyword(s) 'colour'"),
        (["ok"], {"stream": True}, "stream=True is not supported"),
        (["ok"], {"temprature": 1}, "unknown chat() keyword(s) 'temprature'"),
        ("one prompt", {}, "Wrap a single input in a list"),
    ],
)
def test_bad_inputs_are_refused_naming_what_is_wrong(inputs: object, keywords: dict, names: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        normalize_inputs(inputs, keywords)  # type: ignore[arg-type]
    assert names in str(caught.value)


def test_token_estimate_counts_texts_and_max_tokens() -> None:
    payload = {"messages": [{"role": "user", "content": "x" * 40}], "system_prompt": "y" * 8, "max_tokens": 100}
    assert estimate_job_tokens(payload) == 10 + 2 + 100
    assert estimate_job_tokens({"messages": []}) == 1


def test_the_digest_covers_inputs_and_keywords_but_not_timeouts() -> None:
    base = inputs_digest(normalize_inputs(["a", "b"], {"model": "m"}))
    assert base == inputs_digest(normalize_inputs(["a", "b"], {"model": "m", "timeout": 5, "deadline": 9}))
    assert base != inputs_digest(normalize_inputs(["a", "c"], {"model": "m"}))
    assert base != inputs_digest(normalize_inputs(["b", "a"], {"model": "m"}))
    assert base != inputs_digest(normalize_inputs(["a", "b"], {"model": "other"}))
    assert base != inputs_digest(normalize_inputs(["a", "b", "c"], {"model": "m"}))


def _file(count: int = 3, *records: bytes, digest: str = "d") -> bytes:
    return checkpoint_header(digest, count) + b"".join(records)


def test_a_checkpoint_round_trips_its_records() -> None:
    reply = ChatResponse(text="hello", cost_usd=0.01)
    data = _file(3, checkpoint_record(2, reply), checkpoint_record(0, reply))
    state = read_checkpoint(data, digest="d", count=3, path="cp.jsonl")
    assert not state.fresh and state.keep_bytes == len(data)
    assert sorted(state.done) == [0, 2]
    assert ChatResponse.model_validate(state.done[2]) == reply


def test_a_torn_last_line_is_ignored_and_cut() -> None:
    whole = _file(3, checkpoint_record(1, ChatResponse(text="a")))
    torn = whole + b'{"index":2,"respo'
    state = read_checkpoint(torn, digest="d", count=3, path="cp.jsonl")
    assert list(state.done) == [1]
    assert state.keep_bytes == len(whole)


def test_an_empty_or_torn_header_file_starts_fresh() -> None:
    assert read_checkpoint(b"", digest="d", count=1, path="p").fresh
    assert read_checkpoint(b'{"neureus_check', digest="d", count=1, path="p").fresh


def test_a_checkpoint_for_other_inputs_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="written for other inputs"):
        read_checkpoint(_file(3, digest="other"), digest="d", count=3, path="cp.jsonl")


@pytest.mark.parametrize(
    "data",
    [
        b"hello world\n",
        b'{"neureus_checkpoint": 99}\n',
        _file(3) + b"not json\n" + checkpoint_record(0, ChatResponse(text="a")),
        _file(3) + json.dumps({"index": 7, "response": {}}).encode() + b"\n",
        _file(3) + json.dumps({"index": 0}).encode() + b"\n",
    ],
    ids=["not-a-checkpoint", "other-version", "damaged-line", "no-such-item", "no-response"],
)
def test_a_damaged_or_foreign_file_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        read_checkpoint(data, digest="d", count=3, path="cp.jsonl")


def test_the_token_bucket_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(60, now=0.0)
    assert bucket.capacity == 1.0
    assert bucket.wait_for(1, now=1e6) == 0.0
    bucket.give_back(100)
    assert bucket.level == 1.0


def test_the_digest_reads_values_json_cannot_carry_by_their_content() -> None:
    from types import MappingProxyType

    from neureus import ChatMessage

    def digest(value: object) -> str:
        return inputs_digest(normalize_inputs([[{"role": "user", "content": "a"}]], {"extra_body": {"v": value}}))

    # A model by its fields, a read-only mapping by its items, a set whatever its order.
    model = digest(ChatMessage(role="user", content="x"))
    assert model == digest(ChatMessage(role="user", content="x")) != digest(ChatMessage(role="user", content="y"))
    assert (
        digest(MappingProxyType({"k": 1})) == digest(MappingProxyType({"k": 1})) != digest(MappingProxyType({"k": 2}))
    )
    assert digest({3, 1, 2}) == digest({2, 3, 1}) != digest({1, 2})
    assert digest(frozenset({"a"})) == digest({"a"})
    assert digest(range(3)) == digest(range(3)) != digest(range(4))  # anything else by its repr
