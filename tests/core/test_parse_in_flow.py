"""The request flow parses a successful answer once, within the deadline (clock injected)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from neureus import APIResponseValidationError, APITimeoutError, RetryPolicy
from neureus._retry import FlowResult, SendRequest, request_flow
from neureus._wire import RequestSpec, parse_chat

SPEC = RequestSpec("POST", "/ai/chat", "chat", {"messages": []})
BODY = b'{"text": "' + b"word " * 100_000 + b'", "inputTokens": 3, "outputTokens": 100000}'


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def run(parse: Any, clock: Clock, deadline: float | None = 5.0) -> FlowResult:
    flow = request_flow(
        SPEC,
        policy=RetryPolicy(),
        max_retries=0,
        timeout=None,
        deadline=deadline,
        secrets=(),
        clock=clock,
        parse=parse,
    )
    action = next(flow)
    assert isinstance(action, SendRequest)
    with pytest.raises(StopIteration) as stop:
        flow.send(httpx.Response(200, content=BODY))
    result: FlowResult = stop.value.value
    return result


def test_the_answer_is_parsed_once_in_the_flow() -> None:
    calls: list[httpx.Response] = []

    def parse(response: httpx.Response) -> Any:
        calls.append(response)
        return parse_chat(response)

    result = run(parse, Clock())
    assert len(calls) == 1 and result.error is None
    assert result.value.output_tokens == 100_000 and result.unwrap() is result.value


@pytest.mark.parametrize("took", [4.9, 5.1])
def test_an_answer_parsed_past_the_deadline_is_a_timeout(took: float) -> None:
    clock = Clock()

    def slow_parse(response: httpx.Response) -> Any:
        clock.now += took  # the decoding's time, on the injected clock
        return parse_chat(response)

    result = run(slow_parse, clock)
    assert result.value is not None and result.value.input_tokens == 3  # parsed either way
    if took < 5:
        assert result.error is None
        return
    assert isinstance(result.error, APITimeoutError) and "decoded" in str(result.error)
    with pytest.raises(APITimeoutError):
        result.unwrap()


def test_without_a_deadline_parsing_is_never_late() -> None:
    clock = Clock()

    def slow_parse(response: httpx.Response) -> Any:
        clock.now += 1e9
        return parse_chat(response)

    assert run(slow_parse, clock, deadline=None).error is None


def test_an_answer_that_does_not_parse_is_carried_to_the_caller() -> None:
    def bad(response: httpx.Response) -> Any:
        raise APIResponseValidationError("chat: not valid JSON")

    result = run(bad, Clock())
    assert result.value is None and isinstance(result.error, APIResponseValidationError)
    with pytest.raises(APIResponseValidationError):
        result.unwrap()


def test_no_parser_hands_back_the_response() -> None:
    result = run(None, Clock())
    assert result.value is None and result.error is None
    assert isinstance(result.unwrap(), httpx.Response)


def _from_raw_json(operation: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the records said when they were read from the raw JSON body (before parse-once)."""

    def whole(value: object) -> int | None:
        return value if type(value) is int else None

    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    input_tokens = whole(data.get("inputTokens"))
    if input_tokens is None:
        input_tokens = whole(usage.get("prompt_tokens"))
    output_tokens = whole(data.get("outputTokens"))
    if output_tokens is None:
        output_tokens = whole(usage.get("completion_tokens"))
    cost, model, log_id, text = data.get("costUsd"), data.get("model"), data.get("logId"), data.get("text")
    if not isinstance(text, str):
        choices = data.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        "response_model": model if isinstance(model, str) else None,
        "log_id": log_id if isinstance(log_id, str) else None,
        "output_text": text if operation == "chat" and isinstance(text, str) else None,
    }


CHAT_BODIES = [
    {"text": "hi", "inputTokens": 3, "outputTokens": 5, "costUsd": 0.25, "model": "m", "logId": "log_1"},
    {"text": "", "inputTokens": 0, "outputTokens": 0, "costUsd": 0},
    {"choices": [{"message": {"role": "assistant", "content": "from choices"}}], "usage": {"prompt_tokens": 7}},
    {"text": "both", "inputTokens": 2, "usage": {"prompt_tokens": 9, "completion_tokens": 4}, "cached": True},
    {"choices": [], "usage": {"completion_tokens": 1}, "costUsd": 1},
    {},
]
EMBEDDING_BODIES = [
    {"embeddings": [[0.1]], "model": "e", "usage": {"prompt_tokens": 4}},
    {"data": [{"embedding": [0.1], "index": 0}], "inputTokens": 6, "costUsd": 0.5, "logId": "log_e"},
    {"embedding": [1.0]},
]


@pytest.mark.parametrize(
    ("operation", "body"), [("chat", b) for b in CHAT_BODIES] + [("embeddings", b) for b in EMBEDDING_BODIES]
)
def test_record_counts_from_the_parsed_answer_match_the_raw_json(operation: str, body: dict[str, Any]) -> None:
    """Differential: the records' counts, now read from the parsed model, are what they were
    when read from the raw JSON body."""
    import json

    from neureus._hooks import _usage_from_answer
    from neureus._usage import answer_counts
    from neureus._wire import parse_embeddings

    response = httpx.Response(200, content=json.dumps(body).encode())
    answer = parse_chat(response) if operation == "chat" else parse_embeddings(response)
    counts = answer_counts(operation, answer)  # as the ledger reads them (the records take its reading)
    assert _usage_from_answer(operation, answer, counts) == _from_raw_json(operation, body)
