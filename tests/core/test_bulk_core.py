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


# With no throttle the cooldown is read without the lock: both paths decide the same.
@pytest.mark.parametrize("limits", [{}, {"requests_per_minute": 6000.0, "tokens_per_minute": 1e6}])
def test_the_cooldown_stops_every_caller_until_it_ends(limits: dict[str, float]) -> None:
    clock = Clock()
    s = scheduler(clock, **limits)
    assert s.admit(1) == 0.0  # never cooled down: go now (0.0, not a negative wait)
    s.cool_down(2.0)
    assert s.admit(1) == pytest.approx(2.0)
    s.cool_down(0.5)  # a shorter one never shortens it
    assert s.admit(1) == pytest.approx(2.0)
    clock.now += 1.5
    assert s.admit(1) == pytest.approx(0.5)  # under a second left still waits
    clock.now += 0.5
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


# -- what each refusal says, word for word: the user reads these to fix the call ------------

_KEYWORDS = (
    "compress, deadline, debug, extra_body, extra_headers, max_tokens, model, prefer_async, surface, "
    "system_prompt, temperature, timeout"
)


@pytest.mark.parametrize(
    ("inputs", "keywords", "message"),
    [
        (
            [{"messages": [], "size": 1, "colour": 2}],
            {},
            f"inputs[0]: unknown chat() keyword(s) 'colour', 'size'; the keywords are {_KEYWORDS}.",
        ),
        (
            ["ok"],
            {"temprature": 1},
            f"chat_many: unknown chat() keyword(s) 'temprature'; the keywords are {_KEYWORDS}.",
        ),
        (
            ["ok", 4.5],
            {},
            "inputs[1] is float; each input must be a str (one user message), a list of messages, "
            "or a dict of chat() keywords.",
        ),
        (
            "one prompt",
            {},
            "inputs must be an iterable of inputs (a list of prompts, say); got one str. Wrap a single input in a list.",
        ),
        (
            [{"model": "m"}],
            {},
            "inputs[0] is a dict without 'messages'; a dict input holds chat() keywords, "
            "e.g. {'messages': [{'role': 'user', 'content': 'Hi'}], 'model': 'gpt-4o-mini'}.",
        ),
    ],
)
def test_each_input_refusal_says_exactly_what_to_fix(inputs: object, keywords: dict, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        normalize_inputs(inputs, keywords)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_stream_false_is_accepted_and_not_passed_on() -> None:
    jobs = normalize_inputs(["a", {"messages": [], "stream": False, "model": "m"}], {"stream": False})
    assert [job.payload for job in jobs] == [
        {"messages": [{"role": "user", "content": "a"}]},
        {"messages": [], "model": "m"},
    ]
    # Each job keeps the input as given, for the result's items.
    assert [job.input for job in jobs] == ["a", {"messages": [], "stream": False, "model": "m"}]


def test_the_token_estimate_reads_message_objects_and_skips_what_is_not_text() -> None:
    from neureus import ChatMessage

    class NoContent:
        role = "user"

    messages = [
        ChatMessage(role="user", content="x" * 8),  # 2
        NoContent(),  # nothing to count
        {"role": "user", "content": [{"type": "text", "text": "y" * 400}]},  # not a str: not counted
        {"role": "user", "content": None},
    ]
    assert estimate_job_tokens({"messages": messages, "max_tokens": 10}) == 2 + 10
    # No max_tokens: only the texts; no messages at all: the system prompt alone.
    assert estimate_job_tokens({"messages": [{"role": "user", "content": "x" * 40}]}) == 10
    assert estimate_job_tokens({"messages": [{"role": "user", "content": "x" * 40}], "max_tokens": None}) == 10
    assert estimate_job_tokens({"system_prompt": "y" * 8}) == 2


def test_a_model_is_digested_as_its_json_form() -> None:
    import datetime

    from pydantic import BaseModel

    class Tag(BaseModel):
        day: datetime.date

    def digest(value: object) -> str:
        return inputs_digest(normalize_inputs(["a"], {"extra_body": {"tag": value}}))

    # The same request whether the caller passes the model or the JSON it is sent as.
    assert digest(Tag(day=datetime.date(2026, 1, 2))) == digest({"day": "2026-01-02"})


def test_the_digest_ignores_key_order_and_counts_the_inputs() -> None:
    one = inputs_digest(normalize_inputs([{"messages": [], "model": "m", "temperature": 0.5}], {}))
    other = inputs_digest(normalize_inputs([{"temperature": 0.5, "model": "m", "messages": []}], {}))
    assert one == other
    assert inputs_digest(normalize_inputs(["a", "b", "c"], {})).endswith(":3")
    assert inputs_digest([]).endswith(":0")


def test_the_checkpoint_format_is_stable() -> None:
    # A file written by this version must resume under the next one: the header's digest,
    # the header and the record lines are pinned byte for byte (changing any of them needs a
    # new CHECKPOINT_VERSION).
    jobs = normalize_inputs(["a", {"messages": [{"role": "user", "content": "b"}], "temperature": 0.5}], {"model": "m"})
    digest = inputs_digest(jobs)
    assert digest == "sha256:36f424fb74166a2e3f0c8a4a85147ef5a437c2294a3191962c937ad2beda32e0:2"
    assert checkpoint_header(digest, 2) == (
        b'{"neureus_checkpoint": 1, "inputs": 2, "digest": "' + digest.encode() + b'"}\n'
    )
    # The response as the gateway's wire data (its field names), without empty fields.
    record = checkpoint_record(1, ChatResponse(text="hi", cost_usd=0.01, input_tokens=3))
    assert record == b'{"index":1,"response":{"text":"hi","choices":[],"inputTokens":3,"costUsd":0.01}}\n'


def test_checkpoint_refusals_say_which_file_and_line() -> None:
    record = checkpoint_record(0, ChatResponse(text="a"))
    cases = [
        (
            b"hello\n",
            "cp.jsonl is not a neureus checkpoint file (its first line is not a checkpoint header); "
            "pass a new path, or delete the file.",
        ),
        (
            checkpoint_header("other", 5),
            "The checkpoint cp.jsonl was written for other inputs or chat keywords (5 inputs then, 3 now); "
            "resuming would mix two runs. Pass another checkpoint path, or delete the file to start over.",
        ),
        (
            _file(3, record, b"not json\n"),
            "The checkpoint cp.jsonl is damaged at line 3; delete it (or that line) to go on.",
        ),
        (
            _file(3, record, b'{"index":3,"response":{}}\n'),  # indexes run 0..2
            "The checkpoint cp.jsonl is damaged at line 3: no such item 3.",
        ),
    ]
    for data, message in cases:
        with pytest.raises(InvalidRequestError) as caught:
            read_checkpoint(data, digest="d", count=3, path="cp.jsonl")
        assert str(caught.value) == message


def test_nothing_whole_to_keep_starts_fresh_from_byte_zero() -> None:
    for data in (b"", b'{"neureus_check'):
        state = read_checkpoint(data, digest="d", count=1, path="p")
        assert (state.done, state.keep_bytes, state.fresh) == ({}, 0, True)


def test_the_budget_refusal_says_how_to_finish() -> None:
    error = scheduler(Clock(), max_spend_usd=0.25, spent=lambda: 0.3).budget_error()
    assert str(error) == (
        "Not started: this run has spent $0.3 of its max_spend_usd=$0.25. "
        "Run it again with a higher budget (and the same checkpoint) to finish."
    )


# -- the throttle through item_flow: what a call takes and gives back ----------------------


def run_flow(s: Scheduler, clock: Clock, job: Job, outcome: object) -> tuple[float, object]:
    """Drive one item on the fake clock: (seconds waited before its call, the finished item)."""
    start = clock.now
    flow = item_flow(s, job)
    action = next(flow)
    while isinstance(action, Wait):
        clock.now += action.seconds
        action = flow.send(None)
    assert action.payload == job.payload
    waited = clock.now - start
    with pytest.raises(StopIteration) as stop:
        flow.send(outcome)
    return waited, stop.value.value


def test_an_item_waits_for_its_estimate_and_settles_to_what_it_used() -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=600)  # 10 tokens a second, a new bucket holds 1
    waited, item = run_flow(s, clock, Job(0, "a", {"messages": []}, tokens=10), ChatResponse(text="x"))
    assert waited == pytest.approx(0.9)
    assert (item.index, item.input, item.error) == (0, "a", None)
    # No token counts in the answer: the estimate stands, so the bucket is empty again.
    assert s.admit(10) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("input_tokens", "output_tokens", "debt"),
    [(30, 10, 30.0), (None, 40, 30.0), (40, None, 30.0), (0, 25, 15.0)],
)
def test_an_item_settles_its_input_and_output_tokens(
    input_tokens: int | None, output_tokens: int | None, debt: float
) -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=600)
    clock.now += 1.0  # a full bucket: 10 tokens
    reply = ChatResponse(text="x", input_tokens=input_tokens, output_tokens=output_tokens)
    waited, item = run_flow(s, clock, Job(4, "b", {"messages": []}, tokens=10), reply)
    assert waited == 0.0 and item.response is reply
    # Estimated 10, used 40 (or 25): the bucket owes 30 (or 15), then refills at 10 a second.
    assert s.admit(10) == pytest.approx((debt + 10) / 10)


def test_a_failed_item_gives_back_nothing_and_keeps_its_place() -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=600)
    clock.now += 1.0
    error = RateLimitError("429", status_code=429)
    waited, item = run_flow(s, clock, Job(7, "c", {"messages": []}, tokens=10), error)
    assert (waited, item.index, item.input, item.response, item.error) == (0.0, 7, "c", None, error)
    assert s.admit(10) == pytest.approx(1.0)  # the estimate was spent, no more


def test_a_job_without_an_estimate_takes_nothing_up_front() -> None:
    clock = Clock()
    s = scheduler(clock, tokens_per_minute=60)  # 1 token a second, a new bucket holds 1
    s.settle(1, 1.5)  # half a token left: not enough for an estimate of one
    waited, _ = run_flow(s, clock, Job(0, "d", {"messages": []}), ChatResponse(text="x", output_tokens=1))
    assert waited == 0.0
    assert s.admit(1) == pytest.approx(1.5)  # the token it used, found afterwards, left half a token of debt


def test_a_refused_item_keeps_its_place() -> None:
    s = scheduler(Clock(), max_spend_usd=0.0)
    with pytest.raises(StopIteration) as stop:
        next(item_flow(s, Job(5, "e", {})))
    item = stop.value.value
    assert (item.index, item.input, item.response) == (5, "e", None)


def test_a_fast_rate_allows_a_seconds_worth_at_once_but_not_more() -> None:
    clock = Clock()
    s = scheduler(clock, requests_per_minute=120)
    assert s.admit(1) == 0.0  # a new bucket lets one go at once
    assert s.admit(1) == pytest.approx(0.5)
    clock.now += 10.0  # idle: the bucket fills to a second's worth, two
    assert [s.admit(1) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_a_call_admitted_as_the_cooldown_ends_is_counted() -> None:
    clock = Clock()
    s = scheduler(clock, requests_per_minute=6)
    s.cool_down(2.0)
    clock.now += 2.0  # exactly the end
    assert s.admit(1) == 0.0
    assert s.admit(1) == pytest.approx(10.0)


def test_a_shortfall_within_the_float_tolerance_is_no_wait() -> None:
    bucket = TokenBucket(120, now=0.0)  # holds 1.0
    assert bucket.wait_for(1.0 + 1e-9, now=0.0) == 0.0
    assert bucket.wait_for(1.0 + 1e-6, now=0.0) == pytest.approx(5e-7)


def test_an_answer_without_token_counts_finishes_its_item() -> None:
    # embed_many's batches answer with an EmbeddingsResponse, which has no token fields.
    from neureus.types import EmbeddingsResponse

    reply = EmbeddingsResponse(embeddings=[[1.0, 0.0]])
    _, item = run_flow(scheduler(Clock()), Clock(), Job(2, ["t"], {"input": ["t"]}), reply)
    assert (item.index, item.input, item.response, item.error) == (2, ["t"], reply, None)
