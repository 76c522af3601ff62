"""instructor over neureus (docs/structured-output.md): its markdown-JSON mode with a
three-line ``create`` adapter, sync and async, re-asking through our client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from neureus.testing import FakeGateway

from ..conftest import Api

instructor = pytest.importorskip("instructor")
pytestmark = pytest.mark.anyio


class City(BaseModel):
    name: str
    population: int


CHAT_KEYWORDS = ("model", "temperature", "max_tokens", "system_prompt")


async def test_instructor_validates_and_retries_through_neureus(api: Api, gateway: FakeGateway) -> None:
    client = api.client()
    gateway.queue_reply("not json")
    gateway.queue_reply("```json\n" + json.dumps({"name": "Paris", "population": 3}) + "\n```")

    def keywords(options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k in CHAT_KEYWORDS}

    if api.is_async:

        async def create(messages: list[dict[str, str]], **options: Any) -> Any:
            return await client.ai.chat(messages, **keywords(options))

    else:

        def create(messages: list[dict[str, str]], **options: Any) -> Any:  # type: ignore[misc]
            return client.ai.chat(messages, **keywords(options))

    patched = instructor.patch(create=create, mode=instructor.Mode.MD_JSON)
    city = await api.run(
        patched(
            messages=[{"role": "user", "content": "Paris?"}], response_model=City, max_retries=2, model="gpt-4o-mini"
        )
    )
    assert isinstance(city, City) and city.model_dump() == {"name": "Paris", "population": 3}
    first, second = gateway.requests_to("/ai/chat")
    assert first.json["model"] == "gpt-4o-mini"
    assert second.json["messages"][-2] == {"role": "assistant", "content": "not json"}
