"""Typing test for ``client.ai.chat``'s overloads: checked by ``mypy --strict`` in CI.

Never run, only type-checked (``.ci/run``: ``mypy --strict neureus tests/typing``). Each
``assert_type`` pins what a user's type checker infers; each ``type: ignore[...]`` pins a
mistake that must stay an error (``warn_unused_ignores`` turns an accepted mistake into a
failure of this check).
"""

from __future__ import annotations

from typing_extensions import assert_type

from neureus import AsyncNeureus, Neureus
from neureus._streaming import AsyncChatStream, ChatStream
from neureus.types import ChatResponse, MessageParam

MESSAGES: list[MessageParam] = [{"role": "user", "content": "Hi"}]


def sync_calls(client: Neureus, flag: bool) -> None:
    assert_type(client.ai.chat(MESSAGES), ChatResponse)
    assert_type(client.ai.chat(MESSAGES, stream=False), ChatResponse)
    assert_type(client.ai.chat(MESSAGES, stream=True), ChatStream)
    # A plain bool (a CLI flag, a setting): the union, as openai-python types it.
    assert_type(client.ai.chat(MESSAGES, stream=flag), ChatResponse | ChatStream)
    assert_type(client.ai.chat(MESSAGES, model="m", stream=flag, temperature=0.5), ChatResponse | ChatStream)
    assert_type(client.ai.stream(MESSAGES), ChatStream)
    reply = client.ai.chat(MESSAGES, stream=flag)
    if isinstance(reply, ChatStream):
        assert_type(reply, ChatStream)
    else:
        assert_type(reply.text, str)


async def async_calls(client: AsyncNeureus, flag: bool) -> None:
    assert_type(await client.ai.chat(MESSAGES), ChatResponse)
    assert_type(await client.ai.chat(MESSAGES, stream=True), AsyncChatStream)
    assert_type(await client.ai.chat(MESSAGES, stream=flag), ChatResponse | AsyncChatStream)
    assert_type(client.ai.stream(MESSAGES), AsyncChatStream)


def mistakes(client: Neureus, flag: bool) -> None:
    # Still errors: the union has no .choices without narrowing (a stream has none);
    # stream takes a bool only; messages are a list of messages, not a string.
    print(client.ai.chat(MESSAGES, stream=flag).choices)  # type: ignore[union-attr]
    client.ai.chat(MESSAGES, stream="yes")  # type: ignore[call-overload]
    client.ai.chat("Hi", stream=flag)  # type: ignore[arg-type]
