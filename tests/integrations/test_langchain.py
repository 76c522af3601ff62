"""What the standard LangChain suites do not pin: stop sequences on the client side (across
token boundaries), the metadata, structured output through parse, embeddings in chunks."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from neureus.langchain import ChatNeureus, NeureusEmbeddings, _StopFilter
from neureus.testing import FakeGateway

from ..conftest import Api

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[("sync", "asyncio"), ("async", "asyncio")], ids=["sync", "asyncio"])
def flavor(request: pytest.FixtureRequest) -> tuple[str, str]:
    # LangChain's async API runs on asyncio only (its callback managers use it), not trio.
    return request.param  # type: ignore[no-any-return]


def _llm(api: Api, **options: Any) -> ChatNeureus:
    client = api.client()
    key = "async_client" if api.is_async else "client"
    return ChatNeureus(model="gpt-4o-mini", **{key: client}, **options)


async def _invoke(api: Api, llm: Any, value: Any, **kwargs: Any) -> Any:
    return await (llm.ainvoke(value, **kwargs) if api.is_async else api.run(llm.invoke(value, **kwargs)))


async def _stream(api: Api, llm: ChatNeureus, value: Any, **kwargs: Any) -> list[AIMessageChunk]:
    if api.is_async:
        return [chunk async for chunk in llm.astream(value, **kwargs)]
    return list(llm.stream(value, **kwargs))


async def test_invoke_maps_messages_usage_and_metadata(api: Api, gateway: FakeGateway) -> None:
    llm = _llm(api, temperature=0.5, max_tokens=20, system_prompt="be brief")
    messages = [SystemMessage("sys"), HumanMessage("hi"), AIMessage("hello"), ToolMessage("42", tool_call_id="t")]
    reply = await _invoke(api, llm, messages)
    sent = gateway.last_request.json
    assert sent["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "42"},
    ]
    assert (sent["model"], sent["temperature"], sent["maxTokens"], sent["systemPrompt"]) == (
        "gpt-4o-mini",
        0.5,
        20,
        "be brief",
    )
    assert isinstance(reply, AIMessage) and reply.content.startswith("Hello from the Neureus emulator")
    assert reply.usage_metadata is not None
    assert (
        reply.usage_metadata["total_tokens"]
        == reply.usage_metadata["input_tokens"] + reply.usage_metadata["output_tokens"]
    )
    meta = reply.response_metadata
    assert meta["model_name"] == "gpt-4o-mini" and meta["log_id"].startswith("log_") and reply.id == meta["log_id"]


async def test_stop_cuts_the_reply_on_the_client(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_reply("one two STOP three")
    reply = await _invoke(api, _llm(api), "x", stop=["STOP", "never"])
    assert reply.content == "one two "
    assert "stop" not in gateway.last_request.json  # the gateway has no stop field
    gateway.queue_reply("alpha beta")
    assert (await _invoke(api, _llm(api, stop=["beta"]), "x")).content == "alpha "


async def test_a_stream_stops_at_a_sequence_split_across_tokens(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_stream(["Hello ", "wor", "ld! And ", "more"])
    chunks = await _stream(api, _llm(api), "x", stop=["world"])
    text = "".join(str(c.content) for c in chunks)
    assert text == "Hello "
    assert chunks[-1].response_metadata["finish_reason"] == "stop"
    assert gateway.open_streams == 0  # the connection was released at the stop


async def test_a_stream_ends_with_usage_and_the_log_id(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_stream(["a", "b"])
    chunks = await _stream(api, _llm(api), "x")
    assert "".join(str(c.content) for c in chunks) == "ab"
    last = chunks[-1]
    assert last.usage_metadata is not None and last.usage_metadata["output_tokens"] > 0
    assert last.response_metadata["log_id"].startswith("log_")
    assert last.response_metadata["model_name"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("stop", "tokens", "expected"),
    [
        (None, ["ab", "cd"], "abcd"),
        (["c"], ["ab", "cd"], "ab"),
        (["bc"], ["ab", "cd"], "a"),
        (["xyz"], ["abx", "yq"], "abxyq"),
        (["xyz"], ["ab", "xy", "z!"], "ab"),
        ([""], ["ab"], "ab"),
    ],
)
def test_stop_filter(stop: list[str] | None, tokens: list[str], expected: str) -> None:
    cutter = _StopFilter(stop)
    out = ""
    for token in tokens:
        out += cutter.feed(token)
        if cutter.stopped:
            break
    out += cutter.flush()
    assert out == expected


class Joke(BaseModel):
    setup: str
    punchline: str


JOKE = {"setup": "Why?", "punchline": "Because."}


async def test_with_structured_output_goes_through_parse(api: Api, gateway: FakeGateway) -> None:
    gateway.queue_reply("nope")
    gateway.queue_reply(json.dumps(JOKE))
    structured = _llm(api).with_structured_output(Joke)
    assert await _invoke(api, structured, "a joke") == Joke(**JOKE)
    assert len(gateway.requests_to("/ai/chat")) == 2  # re-asked once
    gateway.queue_reply(json.dumps(JOKE))
    raw = await _invoke(api, _llm(api).with_structured_output(Joke, include_raw=True, method="json_mode"), "a joke")
    assert raw["parsed"] == Joke(**JOKE) and raw["parsing_error"] is None
    assert isinstance(raw["raw"], AIMessage) and raw["raw"].response_metadata["attempts"] == 1


async def test_with_structured_output_takes_a_json_schema(api: Api, gateway: FakeGateway) -> None:
    schema = {"title": "joke", "type": "object", "properties": {"setup": {"type": "string"}}, "required": ["setup"]}
    gateway.queue_reply(json.dumps({"setup": "s"}))
    assert await _invoke(api, _llm(api).with_structured_output(schema), "a joke") == {"setup": "s"}
    system = gateway.last_request.json["messages"][0]["content"]
    assert json.loads(system.split("\n", 1)[1])["properties"] == {"setup": {"type": "string"}}


async def test_embeddings_are_sent_in_chunks_in_order(api: Api, gateway: FakeGateway) -> None:
    client = api.client()
    key = "async_client" if api.is_async else "client"
    embeddings = NeureusEmbeddings(model="text-embedding-3-small", chunk_size=2, **{key: client})
    texts = ["a", "b", "c", "d", "e"]
    if api.is_async:
        vectors = await embeddings.aembed_documents(texts)
        one = await embeddings.aembed_query("c")
    else:
        vectors = embeddings.embed_documents(texts)
        one = embeddings.embed_query("c")
    assert [len(r.json["input"]) for r in gateway.requests_to("/ai/embeddings")] == [2, 2, 1, 1]
    assert len(vectors) == 5 and vectors[2] == one


def test_own_clients_are_built_from_the_options_and_closed(gateway: FakeGateway) -> None:
    llm = ChatNeureus(api_key="nru_test_0000000000000000key", base_url="http://127.0.0.1:9", timeout=5, max_retries=0)
    client = llm._sync_client()
    assert client is llm._sync_client()
    assert (client.base_url, client.max_retries, client.timeout.read) == ("http://127.0.0.1:9", 0, 5)
    assert "nru_test_0000000000000000key" not in repr(llm)
    llm.close()
    assert client.is_closed


async def test_streaming_invoke_feeds_callbacks_and_content_blocks_become_text(api: Api, gateway: FakeGateway) -> None:
    from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

    tokens: list[str] = []

    class Sync(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    class Async(AsyncCallbackHandler):
        async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    gateway.queue_stream(["one ", "two ", "STOP", " three"])
    message = HumanMessage(
        content=[{"type": "text", "text": "a "}, "b", {"type": "image_url", "image_url": {"url": "x"}}]
    )
    llm = _llm(api, streaming=True)
    config = {"callbacks": [Async() if api.is_async else Sync()]}
    reply = await _invoke(api, llm, [message], stop=["STOP"], config=config)
    assert reply.content == "one two "
    assert "".join(tokens) == "one two "
    assert gateway.last_request.json["messages"] == [{"role": "user", "content": "a b"}]


class TypedJoke(typing.TypedDict):  # typing's, which pydantic refuses before 3.12: the fallback
    setup: str


async def test_structured_output_streams_once_and_takes_typed_dicts_and_v1_models(
    api: Api, gateway: FakeGateway
) -> None:
    from pydantic import v1

    class V1Joke(v1.BaseModel):
        setup: str

    gateway.queue_reply(json.dumps({"setup": "s"}))
    structured = _llm(api).with_structured_output(TypedJoke)
    if api.is_async:
        chunks = [chunk async for chunk in structured.astream("a joke")]
    else:
        chunks = list(structured.stream("a joke"))
    assert chunks == [{"setup": "s"}]
    gateway.queue_reply(json.dumps({"setup": 5}))  # pydantic v1 coerces an int to str
    gateway.queue_reply(json.dumps({}))
    gateway.queue_reply(json.dumps({"setup": "v1"}))
    gateway.queue_reply(json.dumps({"setup": "v1"}))
    first = await _invoke(api, _llm(api).with_structured_output(V1Joke), "a joke")
    assert isinstance(first, V1Joke) and first.setup == "5"
    second = await _invoke(api, _llm(api).with_structured_output(V1Joke), "a joke")
    assert isinstance(second, V1Joke) and second.setup == "v1"  # the empty object was re-asked
    assert len(gateway.requests_to("/ai/chat")) == 4


async def test_aclose_closes_both_clients_it_made() -> None:
    llm = ChatNeureus(api_key="nru_test_0000000000000000key", base_url="http://127.0.0.1:9")
    sync, asynchronous = llm._sync_client(), llm._async_client()
    assert llm._async_client() is asynchronous
    await llm.aclose()
    assert sync.is_closed and asynchronous.is_closed
