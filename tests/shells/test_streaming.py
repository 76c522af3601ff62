"""Streaming through the emulator and over a real loopback server, sync and async."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncChatStream,
    AuthenticationError,
    ChatStream,
    IncompleteStreamError,
    Neureus,
    RetryPolicy,
    StreamError,
)
from neureus.testing import EmulatorServer, FakeGateway, Pause
from neureus.testing._routes import EmulatorResponse
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.004)
TOKENS = ["Héllo", ",", " wörld", " 🌍", "!"]


async def test_tokens_in_order_with_final_fields(api: Api) -> None:
    api.gateway.queue_stream(TOKENS, final={"costUsd": 0.01})
    stream = api.client().ai.stream(MESSAGES, model="gpt-4o-mini", temperature=0.5)
    assert await api.collect(stream) == TOKENS
    assert stream.text == "".join(TOKENS) and stream.done
    assert stream.log_id and stream.log_id.startswith("log_")
    assert stream.input_tokens == 2 and stream.output_tokens == len(TOKENS)
    assert stream.final is not None and stream.final.model_extra == {"costUsd": 0.01}
    sent = api.gateway.last_request
    assert sent.json == {"messages": MESSAGES, "model": "gpt-4o-mini", "stream": True, "temperature": 0.5}
    assert sent.headers["accept"] == "text/event-stream"
    assert api.gateway.open_streams == 0


async def test_context_manager_and_until_done(api: Api) -> None:
    api.gateway.queue_stream(["a", "b", "c"])
    if api.is_async:
        async with api.client().ai.stream(MESSAGES) as stream:
            assert isinstance(stream, AsyncChatStream)
            assert stream.response.headers["content-type"] == "text/event-stream"
            assert await stream.until_done() == "abc"
    else:
        with api.client().ai.stream(MESSAGES) as sync_stream:
            assert isinstance(sync_stream, ChatStream)
            assert sync_stream.response.status_code == 200
            assert sync_stream.until_done() == "abc"
    assert api.gateway.open_streams == 0


async def test_async_awaitable_form(api: Api) -> None:
    if not api.is_async:
        pytest.skip("the awaitable form is async-only")
    api.gateway.queue_stream(["x", "y"])
    client = api.client()
    stream = client.ai.stream(MESSAGES)
    assert api.gateway.requests == []  # nothing is sent until it is awaited, entered or iterated
    with pytest.raises(RuntimeError, match="not open yet"):
        _ = stream.response
    opened = await stream
    assert opened is stream and len(api.gateway.requests) == 1
    assert [t async for t in opened] == ["x", "y"]
    api.gateway.queue_stream(["z"])
    via_chat = await client.ai.chat(MESSAGES, stream=True)
    assert [t async for t in via_chat] == ["z"]


async def test_events_iterates_the_decoded_events(api: Api) -> None:
    api.gateway.queue_stream(["a", "b"], fields=True)
    stream = await api.run(api.client().ai.stream(MESSAGES))
    events = [e async for e in stream.events()] if api.is_async else list(stream.events())
    assert [json.loads(e.data).get("done") for e in events] == [False, False, True]
    assert [e.id for e in events] == ["1", "2", "3"] and events[0].event == "message"
    assert stream.text == "ab" and stream.done


@pytest.mark.parametrize(
    "options",
    [
        {"line_ending": "lf"},
        {"line_ending": "crlf"},
        {"line_ending": "cr"},
        {"comments": True},
        {"no_space": True},
        {"multiline": True},
        {"fields": True},
        {"empty_deltas": True},
        {"chunk_size": 1},
        {"chunk_size": 2, "line_ending": "crlf"},
        {"chunk_size": 3, "line_ending": "cr", "comments": True},
        {"chunk_size": 7, "multiline": True, "fields": True, "no_space": True},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
async def test_every_sse_variant_gives_the_same_tokens(api: Api, options: dict[str, Any]) -> None:
    api.gateway.queue_stream(TOKENS, **options)
    stream = api.client().ai.stream(MESSAGES)
    assert await api.collect(stream) == TOKENS
    assert stream.done


async def test_cut_stream_raises_incomplete_with_partial_text(api: Api) -> None:
    api.gateway.queue_stream(TOKENS, cut_after=2)
    stream = api.client().ai.stream(MESSAGES)
    received: list[str] = []
    with pytest.raises(IncompleteStreamError) as info:
        if api.is_async:
            async for token in stream:
                received.append(token)
        else:
            for token in stream:
                received.append(token)
    assert received == TOKENS[:2]
    assert info.value.partial_text == "".join(TOKENS[:2]) == stream.text
    assert info.value.__cause__ is None
    assert len(api.gateway.requests) == 1  # never retried after the first event
    assert api.gateway.open_streams == 0


async def test_broken_connection_mid_stream(api: Api) -> None:
    api.gateway.queue_stream(TOKENS, break_after=3)
    with pytest.raises(IncompleteStreamError) as info:
        await api.collect(api.client().ai.stream(MESSAGES))
    assert info.value.partial_text == "".join(TOKENS[:3])
    assert isinstance(info.value.__cause__, APIConnectionError)
    assert isinstance(info.value.__cause__.__cause__, httpx.ReadError)
    assert len(api.gateway.requests) == 1


@pytest.mark.parametrize("style", ["event", "data"])
async def test_error_mid_stream(api: Api, style: str) -> None:
    api.gateway.queue_stream(TOKENS, error_after=2, error_style=style, error_message="provider overloaded")
    stream = api.client().ai.stream(MESSAGES)
    with pytest.raises(StreamError, match="provider overloaded") as info:
        await api.collect(stream)
    assert info.value.error_type == "provider_error"
    assert stream.text == "".join(TOKENS[:2])
    assert api.gateway.open_streams == 0


async def test_malformed_event_quotes_the_line(api: Api) -> None:
    api.gateway.queue_stream(TOKENS, malformed_after=1)
    with pytest.raises(APIResponseValidationError, match=r"not valid JSON: .*oops"):
        await api.collect(api.client().ai.stream(MESSAGES))
    assert api.gateway.open_streams == 0


async def test_errors_before_the_first_event_are_retried(api: Api) -> None:
    api.gateway.queue_error(503, path="/ai/chat")
    api.gateway.queue_failure("connect")
    api.gateway.queue_stream([], cut_after=0)  # a body that ends before any event
    api.gateway.queue_stream(TOKENS)
    stream = api.client(max_retries=3).ai.stream(MESSAGES)
    assert await api.collect(stream) == TOKENS  # no token delivered twice
    assert len(api.gateway.requests) == 4
    assert api.gateway.open_streams == 0


async def test_stream_that_never_starts(api: Api) -> None:
    for _ in range(3):
        api.gateway.queue_stream([], cut_after=0)
    with pytest.raises(APIConnectionError, match="before its first event"):
        await api.collect(api.client(max_retries=2).ai.stream(MESSAGES))
    assert len(api.gateway.requests) == 3 and api.gateway.open_streams == 0


async def test_auth_error_before_the_stream_is_not_retried(api: Api) -> None:
    api.gateway.queue_error(401)
    with pytest.raises(AuthenticationError):
        await api.collect(api.client().ai.stream(MESSAGES))
    assert len(api.gateway.requests) == 1


async def test_tokens_are_handed_on_as_each_event_arrives(api: Api) -> None:
    api.gateway.queue_stream([f"t{i}" for i in range(6)])
    stream = await api.run(api.client().ai.stream(MESSAGES))
    seen: list[int] = []
    if api.is_async:
        async for _ in stream:
            seen.append(api.gateway.chunks_sent)
    else:
        for _ in stream:
            seen.append(api.gateway.chunks_sent)
    # One chunk per event: token i is delivered when chunk i has been produced, not later.
    assert seen == [1, 2, 3, 4, 5, 6]


async def test_close_and_break_release_in_process(api: Api) -> None:
    api.gateway.queue_stream(TOKENS)
    stream = await api.run(api.client().ai.stream(MESSAGES))
    assert api.gateway.open_streams == 1
    if api.is_async:
        async for _ in stream:
            break
        await stream.aclose()
        await stream.close()
    else:
        for _ in stream:
            break
        stream.close()
        stream.close()
    assert api.gateway.open_streams == 0
    assert await api.collect(stream) == []  # a closed stream yields nothing more
    assert "closed" in repr(stream)


# -- a real server on 127.0.0.1 ------------------------------------------------------------


def busy_connections(client: Any) -> list[Any]:
    pool = client._http._transport._pool
    return [c for c in pool.connections if not (c.is_idle() or c.is_closed())]


@pytest.fixture
def slow_server(gateway: FakeGateway) -> Iterator[EmulatorServer]:
    with EmulatorServer(gateway) as running:
        yield running


async def test_pool_is_clean_after_close_break_and_full_reads(api: Api, server: EmulatorServer) -> None:
    client = api.real_client(api_key="nru_local_0123456789", base_url=server.base_url, retry_policy=FAST)
    for _ in range(3):
        api.gateway.queue_stream(TOKENS, delay=0.01)
    # 1: read to the end
    assert await api.collect(client.ai.stream(MESSAGES)) == TOKENS
    assert busy_connections(client) == []
    # 2: break out inside a with block
    if api.is_async:
        async with client.ai.stream(MESSAGES) as stream:
            async for _ in stream:
                break
    else:
        with client.ai.stream(MESSAGES) as sync_stream:
            for _ in sync_stream:
                break
    assert busy_connections(client) == []
    # 3: explicit close mid-way
    stream = await api.run(client.ai.stream(MESSAGES))
    await api.run(stream.__anext__() if api.is_async else next(stream))
    await api.close(stream)
    assert busy_connections(client) == []
    # the pool still works
    assert (await api.run(client.ai.chat(MESSAGES))).text


# A sync stream dropped mid-way and a task cancelled mid-stream: tests/faults (on a raw server).


async def test_first_token_reaches_the_caller_before_the_second_is_sent(api: Api) -> None:
    """The server holds the second event until the client has the first: no buffering."""
    got_first = threading.Event()
    waited: list[bool] = []

    class GatedGateway(FakeGateway):
        def respond(self, recorded: Any) -> Any:
            self.requests.append(recorded)

            def body() -> Iterator[bytes]:
                yield b'data: {"delta": {"content": "one"}}\n\n'
                waited.append(got_first.wait(timeout=10))
                yield b'data: {"delta": {"content": "two"}}\n\ndata: {"done": true}\n\n'

            return EmulatorResponse(200, {"content-type": "text/event-stream"}, body())

    with EmulatorServer(GatedGateway()) as gated:
        client = api.real_client(api_key="nru_local_0123456789", base_url=gated.base_url)
        stream = client.ai.stream(MESSAGES)
        tokens = []
        if api.is_async:
            async for token in stream:
                tokens.append(token)
                got_first.set()
        else:
            for token in stream:
                tokens.append(token)
                got_first.set()
    assert tokens == ["one", "two"]
    assert waited == [True]


# A read timeout between events: tests/faults (stall_between_events_past_timeout).


async def test_connection_failure_before_the_first_event_is_retried_over_http(api: Api, server: EmulatorServer) -> None:
    api.gateway.queue_failure("reset")
    api.gateway.queue_stream(TOKENS)
    client = api.real_client(api_key="nru_local_0123456789", base_url=server.base_url, retry_policy=FAST)
    assert await api.collect(client.ai.stream(MESSAGES)) == TOKENS
    assert len(api.gateway.requests) == 2


# -- recorded streams split anywhere ------------------------------------------------------


def _recorded(tokens: list[str], eol: str) -> bytes:
    events = [json.dumps({"delta": {"content": t}, "done": False}) for t in tokens]
    events.append(json.dumps({"done": True, "logId": "l", "inputTokens": 1, "outputTokens": len(tokens)}))
    return "".join(f": ping{eol}data: {e}{eol}{eol}" for e in events).encode()


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tokens=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=10),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=25),
)
def test_recorded_streams_split_at_random_boundaries(tokens: list[str], eol: str, cuts: list[int]) -> None:
    body = _recorded(tokens, eol)
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Chunks(chunks))
    )
    with Neureus(
        api_key="nru_test_0123456789", base_url="https://gw.test", http_client=httpx.Client(transport=transport)
    ) as client:
        stream = client.ai.stream(MESSAGES)
        assert list(stream) == [t for t in tokens if t]
        assert stream.output_tokens == len(tokens)


async def test_deadline_bounds_a_stream_that_sends_only_keep_alives(api: Api) -> None:
    class KeepAliveGateway(FakeGateway):
        def respond(self, recorded: Any) -> Any:
            self.requests.append(recorded)

            def body() -> Iterator[bytes | Pause]:
                for _ in range(100):  # 5 s of pings, each well within the read timeout
                    yield b": ping\n"
                    yield Pause(0.05)
                yield b'data: {"done": true}\n\n'

            return EmulatorResponse(200, {"content-type": "text/event-stream"}, body())

    with EmulatorServer(KeepAliveGateway()) as pinging:
        client = api.real_client(api_key="nru_local_0123456789", base_url=pinging.base_url, deadline=0.4, max_retries=0)
        with anyio.fail_after(4):
            with pytest.raises(APITimeoutError, match="deadline"):
                await api.collect(client.ai.stream(MESSAGES))
        assert busy_connections(client) == []


async def _events(api: Api, stream: Any) -> list[Any]:
    if api.is_async:
        return [event async for event in stream.events()]
    return list(stream.events())


async def test_events_surface_the_same_failures_as_tokens(api: Api) -> None:
    client = api.client()
    api.gateway.queue_stream(TOKENS, break_after=2)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises(IncompleteStreamError) as broken:
        await _events(api, stream)
    assert broken.value.partial_text == "".join(TOKENS[:2])
    assert isinstance(broken.value.__cause__, APIConnectionError)

    api.gateway.queue_stream(TOKENS, error_after=1)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises(StreamError):
        await _events(api, stream)

    api.gateway.queue_stream(TOKENS, cut_after=3)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises(IncompleteStreamError):
        await _events(api, stream)
    assert api.gateway.open_streams == 0


async def test_events_stop_when_the_stream_is_closed(api: Api) -> None:
    api.gateway.queue_stream(TOKENS)
    stream = await api.run(api.client().ai.stream(MESSAGES))
    seen = []
    if api.is_async:
        async for event in stream.events():
            seen.append(event)
            await stream.aclose()
    else:
        for event in stream.events():
            seen.append(event)
            stream.close()
    assert len(seen) == 1 and stream.text == TOKENS[0]
    assert await _events(api, stream) == []
    assert api.gateway.open_streams == 0
