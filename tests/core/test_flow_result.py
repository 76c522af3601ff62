"""A flow's result hands back exactly what its parser answered, ``None`` included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from neureus import RetryPolicy
from neureus._retry import FlowResult, SendRequest, request_flow
from neureus._wire import RequestSpec

SPEC = RequestSpec("DELETE", "/ai/providers/openai/key", "delete_provider_key", None)


def finish(parse: Any) -> FlowResult:
    flow = request_flow(SPEC, policy=RetryPolicy(), max_retries=0, timeout=None, deadline=None, secrets=(), parse=parse)
    assert isinstance(next(flow), SendRequest)
    with pytest.raises(StopIteration) as stop:
        flow.send(httpx.Response(204))
    result: FlowResult = stop.value.value
    return result


def test_a_parser_that_answers_none_returns_none_not_the_raw_response() -> None:
    calls: list[httpx.Response] = []

    def parse(response: httpx.Response) -> None:
        calls.append(response)

    result = finish(parse)
    assert len(calls) == 1
    assert result.unwrap() is None
    assert result.value is None and result.error is None


@pytest.mark.parametrize("answer", [0, "", False, [], {}], ids=repr)
def test_any_falsy_answer_is_returned_as_is(answer: Any) -> None:
    assert finish(lambda response: answer).unwrap() is answer


def test_without_a_parser_the_response_itself_is_returned() -> None:
    result = finish(None)
    assert isinstance(result.unwrap(), httpx.Response) and result.unwrap().status_code == 204
    assert result.value is None
    assert result == FlowResult(result.response)  # unparsed results compare equal
    assert result != FlowResult(result.response, value=None)  # parsed to None is not "unparsed"
