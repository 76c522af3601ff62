"""``client.ai.parse`` through both clients: validation, re-asking, the errors, bad input."""

from __future__ import annotations

import json
import pickle
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

import neureus
from neureus import InvalidRequestError, LengthFinishReasonError, OutputValidationError, ParsedChatResponse
from neureus.testing import FakeGateway

from ..conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio


class City(BaseModel):
    name: str
    population: int


PARIS = {"name": "Paris", "population": 2102650}


async def test_a_bare_json_reply_validates_first_time(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_reply(json.dumps(PARIS))
    client = api.client()
    result = await api.run(client.ai.parse(MESSAGES, City, model="gpt-4o-mini", temperature=0))
    assert isinstance(result, ParsedChatResponse)
    assert result.parsed == City(**PARIS)
    assert result.attempts == 1 and len(result.responses) == 1
    assert result.text == json.dumps(PARIS) and result.log_id == result.response.log_id
    sent = gateway.last_request.json
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0
    system, user = sent["messages"]
    assert system["role"] == "system" and '"population"' in system["content"]  # the schema is asked for
    assert json.loads(system["content"].split("\n", 1)[1]) == City.model_json_schema()
    assert user == MESSAGES[0]
    assert repr(result) == f"ParsedChatResponse(parsed={City(**PARIS)!r}, attempts=1)"


async def test_a_failure_is_re_asked_with_the_error_and_usage_is_summed(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_reply('Sure! Here it is: {"name": "Paris", "population": "many"}')
    gateway.queue_reply("```json\n" + json.dumps(PARIS) + "\n```")
    client = api.client()
    result = await api.run(client.ai.parse(MESSAGES, City))
    assert result.parsed.population == 2102650 and result.attempts == 2
    first, second = gateway.requests_to("/ai/chat")
    assert len(second.json["messages"]) == len(first.json["messages"]) + 2
    assistant, correction = second.json["messages"][-2:]
    assert assistant == {"role": "assistant", "content": first_reply_text(result)}
    assert correction["role"] == "user" and "population" in correction["content"]
    assert "valid integer" in correction["content"]
    assert result.input_tokens == sum(r.input_tokens for r in result.responses)
    assert result.output_tokens == sum(r.output_tokens for r in result.responses)


def first_reply_text(result: ParsedChatResponse[Any]) -> str:
    return result.responses[0].text


async def test_running_out_of_attempts_keeps_the_raw_replies(api: Api, gateway: FakeGateway) -> None:
    for reply in ("no json here", "[1, 2]", '{"name": "Paris"}'):
        gateway.queue_reply(reply)
    client = api.client()
    with pytest.raises(OutputValidationError) as caught:
        await api.run(client.ai.parse(MESSAGES, City, max_attempts=3))
    error = caught.value
    assert error.raw_replies == ["no json here", "[1, 2]", '{"name": "Paris"}']
    assert error.attempts == 3 and len(error.errors) == 3
    assert "3 attempt(s)" in str(error) and ".raw_replies" in str(error)
    assert len(gateway.requests_to("/ai/chat")) == 3
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.raw_replies, again.errors, str(again)) == (
        OutputValidationError,
        error.raw_replies,
        error.errors,
        str(error),
    )
    assert isinstance(error, neureus.NeureusError)


async def test_a_type_adapter_works_too(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_reply("The numbers are [3, 1, 2].")
    client = api.client()
    result = await api.run(client.ai.parse(MESSAGES, TypeAdapter(list[int])))
    assert result.parsed == [3, 1, 2]


def _length_transport(request: httpx.Request) -> httpx.Response:
    body = {
        "text": '{"name": "Par',
        "choices": [{"message": {"role": "assistant", "content": '{"name": "Par'}, "finish_reason": "length"}],
        "inputTokens": 5,
        "outputTokens": 3,
    }
    return httpx.Response(200, json=body)


async def test_a_reply_cut_at_max_tokens_raises_at_once(api: Api) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _length_transport(request)

    transport = httpx.MockTransport(handler)
    http = httpx.AsyncClient(transport=transport) if api.is_async else httpx.Client(transport=transport)
    client = api.real_client(api_key="nru_test_0000", base_url="https://gateway.neureus.test", http_client=http)
    with pytest.raises(LengthFinishReasonError, match="max_tokens") as caught:
        await api.run(client.ai.parse(MESSAGES, City, max_tokens=3))
    assert len(calls) == 1  # not re-asked: a longer answer needs a larger max_tokens
    assert caught.value.response is not None and caught.value.response.output_tokens == 3
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.response == caught.value.response and str(again) == str(caught.value)
    await api.close(http)


@pytest.mark.parametrize(
    ("response_model", "max_attempts", "match"),
    [
        (dict, 3, "pydantic model"),
        (City(**PARIS), 3, "pydantic model"),
        ("City", 3, "pydantic model"),
        (City, 0, "max_attempts"),
        (City, True, "max_attempts"),
        (City, 2.5, "max_attempts"),
    ],
    ids=["dict", "instance", "str", "zero", "bool", "float"],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    api: Api, gateway: FakeGateway, response_model: Any, max_attempts: Any, match: str
) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError, match=match):
        await api.run(client.ai.parse(MESSAGES, response_model, max_attempts=max_attempts))
    assert gateway.requests == []


async def test_bad_chat_keywords_are_refused_before_anything_is_sent(api: Api, gateway: FakeGateway) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError):
        await api.run(client.ai.parse(MESSAGES, City, temperature=5))
    assert gateway.requests == []
