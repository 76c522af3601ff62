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
