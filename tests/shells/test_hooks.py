"""Hooks through the public API: which events each call emits, once each, sync and async
(asyncio and trio); bad hooks refused before anything is sent; a raising hook never
breaks a call; no record ever holds a key."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import neureus
from neureus import ConfigurationError, HookRecord
from neureus.testing import FakeGateway

from ..conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio


class Recorder:
    """A hook object with all five methods; remembers every record."""

    def __init__(self) -> None:
        self.records: list[HookRecord] = []

    def on_request(self, record: HookRecord) -> None:
        self.records.append(record)

    def on_response(self, record: HookRecord) -> None:
        self.records.append(record)

    def on_retry(self, record: HookRecord) -> None:
        self.records.append(record)

    def on_stream_end(self, record: HookRecord) -> None:
        self.records.append(record)

    def on_error(self, record: HookRecord) -> None:
        self.records.append(record)

    @property
    def events(self) -> list[str]:
        return [r.event for r in self.records]


async def test_a_chat_emits_request_then_response_with_usage(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    reply = await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini"))
    assert hook.events == ["on_request", "on_response"]
    request, response = hook.records
    assert request.call_id == response.call_id
    assert (request.operation, request.model, request.attempt, request.stream) == ("chat", "gpt-4o-mini", 0, False)
    assert request.server_address == "gateway.neureus.test" and request.server_port == 443
    assert request.status_code is None and request.input_tokens is None
    assert response.status_code == 200 and response.error_type is None
    assert (response.input_tokens, response.output_tokens) == (reply.input_tokens, reply.output_tokens)
    assert response.log_id == reply.log_id and response.cost_usd == reply.cost_usd
    assert response.output_text == reply.text
    assert response.duration is not None and response.duration >= request.duration >= 0


async def test_each_call_gets_its_own_call_id(api: Api) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    await api.run(client.ai.chat(MESSAGES))
    await api.run(client.ai.embeddings(["a", "b"], model="text-embedding-3-small"))
    ids = [r.call_id for r in hook.records]
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert [r.operation for r in hook.records[2:]] == ["embeddings", "embeddings"]
    assert hook.records[3].model == "text-embedding-3-small"


async def test_a_retried_call_emits_one_retry_per_failed_attempt(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook], max_retries=3)
    gateway.queue_failure("connect")
    gateway.queue_error(429, headers={"retry-after-ms": "1"})
    await api.run(client.ai.chat(MESSAGES))
    assert hook.events == ["on_request", "on_retry", "on_request", "on_retry", "on_request", "on_response"]
    first_retry, second_retry = hook.records[1], hook.records[3]
    assert (first_retry.error_type, first_retry.status_code, first_retry.attempt) == ("APIConnectionError", None, 0)
    assert (second_retry.error_type, second_retry.status_code, second_retry.attempt) == ("RateLimitError", 429, 1)
    assert second_retry.retry_wait == pytest.approx(0.001)
    assert [r.attempt for r in hook.records if r.event == "on_request"] == [0, 1, 2]
    assert hook.records[-1].attempt == 2


async def test_a_failed_call_emits_one_error_and_no_response(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_error(400, headers={"x-request-id": "req_42"})
    with pytest.raises(neureus.BadRequestError):
        await api.run(client.ai.chat(MESSAGES))
    assert hook.events == ["on_request", "on_error"]
    error = hook.records[1]
    assert (error.error_type, error.status_code, error.request_id) == ("BadRequestError", 400, "req_42")


async def test_retries_exhausted_end_in_one_error(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook], max_retries=1)
    gateway.queue_error(503, times=2)
    with pytest.raises(neureus.InternalServerError):
        await api.run(client.ai.chat(MESSAGES))
    assert hook.events == ["on_request", "on_retry", "on_request", "on_error"]
    assert hook.records[-1].error_type == "InternalServerError"


async def test_a_stream_emits_response_at_first_event_and_end_at_done(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"])
    stream = await api.run(client.ai.stream(MESSAGES))
    tokens = await api.collect(stream)
    assert tokens == ["a", "b", "c"]
    await api.close(stream)  # a second close adds nothing
    assert hook.events == ["on_request", "on_response", "on_stream_end"]
    _, opened, end = hook.records
    assert opened.stream and opened.time_to_first_token is not None and opened.input_tokens is None
    assert end.completed is True and end.error_type is None
    assert (end.input_tokens, end.output_tokens, end.log_id) == (
        stream.input_tokens,
        stream.output_tokens,
        stream.log_id,
    )
    assert end.time_to_first_token == opened.time_to_first_token
    assert end.output_text == "abc" and end.duration >= opened.duration


async def test_a_stream_cut_before_done_ends_with_an_error(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"], cut_after=2)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises(neureus.IncompleteStreamError):
        await api.collect(stream)
    assert hook.events == ["on_request", "on_response", "on_stream_end", "on_error"]
    assert hook.records[2].completed is False and hook.records[2].error_type == "IncompleteStreamError"
    assert hook.records[3].error_type == "IncompleteStreamError"


@pytest.mark.parametrize("options", [{"break_after": 1}, {"error_after": 1}], ids=["broken", "error-event"])
async def test_a_stream_failing_mid_way_ends_once(api: Api, gateway: FakeGateway, options: dict[str, Any]) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"], **options)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises((neureus.IncompleteStreamError, neureus.StreamError)) as caught:
        await api.collect(stream)
    await api.close(stream)
    assert hook.events == ["on_request", "on_response", "on_stream_end", "on_error"]
    assert hook.records[-1].error_type == type(caught.value).__name__


async def test_a_stream_closed_early_ends_without_error(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"])
    stream = await api.run(client.ai.stream(MESSAGES))
    await api.close(stream)
    await api.close(stream)
    assert hook.events == ["on_request", "on_response", "on_stream_end"]
    assert hook.records[-1].completed is False and hook.records[-1].error_type is None


async def test_a_stream_left_by_the_callers_own_exception_is_closed_early(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"])
    with pytest.raises(ZeroDivisionError):
        if api.is_async:
            async with client.ai.stream(MESSAGES) as stream:
                async for _ in stream:
                    raise ZeroDivisionError("the caller's own bug")
        else:
            with client.ai.stream(MESSAGES) as stream:
                for _ in stream:
                    raise ZeroDivisionError("the caller's own bug")
    assert hook.events == ["on_request", "on_response", "on_stream_end"]
    assert hook.records[-1].completed is False and hook.records[-1].error_type is None


async def test_a_stream_refused_before_its_first_event_is_one_error(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_error(401)
    with pytest.raises(neureus.AuthenticationError):
        await api.run(client.ai.chat(MESSAGES, stream=True))
    assert hook.events == ["on_request", "on_error"]


async def test_a_raising_hook_is_logged_and_the_call_goes_on(
    api: Api, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def on_response(self, record: HookRecord) -> None:
            raise RuntimeError("hook bug")

    after = Recorder()
    client = api.client(hooks=[Broken(), after])
    with caplog.at_level(logging.WARNING, logger="neureus"):
        reply = await api.run(client.ai.chat(MESSAGES))
    assert reply.text
    assert after.events == ["on_request", "on_response"]  # the next hook still ran
    failures = [r for r in caplog.records if r.name == "neureus" and "raised" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "on_response" in failures[0].getMessage()


async def test_a_plain_callable_hears_every_event(api: Api, gateway: FakeGateway) -> None:
    seen: list[str] = []
    client = api.client(hooks=[lambda record: seen.append(record.event)])
    gateway.queue_failure("connect")
    await api.run(client.ai.chat(MESSAGES))
    assert seen == ["on_request", "on_retry", "on_request", "on_response"]


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"])
async def test_async_hooks_are_awaited_on_the_async_client(api: Api, gateway: FakeGateway) -> None:
    import anyio

    seen: list[str] = []

    class AsyncHook:
        async def on_request(self, record: HookRecord) -> None:
            await anyio.sleep(0)
            seen.append(record.event)

        async def on_stream_end(self, record: HookRecord) -> None:
            await anyio.sleep(0)
            seen.append(record.event)

        async def on_error(self, record: HookRecord) -> None:
            raise RuntimeError("async hook bug")  # logged, not raised

    client = api.client(hooks=[AsyncHook()])
    stream = await api.run(client.ai.stream(MESSAGES))
    await api.collect(stream)
    gateway.queue_error(400)
    with pytest.raises(neureus.BadRequestError):
        await client.ai.chat(MESSAGES)
    assert seen == ["on_request", "on_stream_end", "on_request"]


def test_an_async_hook_is_refused_by_the_sync_client(gateway: FakeGateway) -> None:
    class AsyncHook:
        async def on_response(self, record: HookRecord) -> None: ...

    async def callback(record: HookRecord) -> None: ...

    for hook in (AsyncHook(), callback):
        with pytest.raises(ConfigurationError, match="async"):
            gateway.client(hooks=[hook])
    gateway.async_client(hooks=[AsyncHook(), callback])  # fine there


@pytest.mark.parametrize(
    "hook",
    [object(), 42, "on_request", Recorder, type("Bad", (), {"on_request": 5})()],
    ids=["no-methods", "int", "str", "a-class", "non-callable-method"],
)
def test_a_bad_hook_is_refused_before_anything_is_sent(gateway: FakeGateway, hook: object) -> None:
    for build in (gateway.client, gateway.async_client):
        with pytest.raises(ConfigurationError, match="hook"):
            build(hooks=[hook])
    client = gateway.client()
    with pytest.raises(ConfigurationError, match="hook"):
        client.with_options(hooks=[hook])
    assert gateway.requests == []


def test_hooks_must_be_a_list(gateway: FakeGateway) -> None:
    with pytest.raises(ConfigurationError, match="hooks"):
        gateway.client(hooks=Recorder())


def test_records_are_read_only(gateway: FakeGateway) -> None:
    hook = Recorder()
    gateway.client(hooks=[hook]).ai.chat(MESSAGES)
    record = hook.records[0]
    with pytest.raises(AttributeError, match="read-only"):
        record.model = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del record.model
    assert record.replace(model="x").model == "x" and record.model is None
    import copy
    import pickle

    for clone in (pickle.loads(pickle.dumps(record)), copy.deepcopy(record), copy.copy(record)):
        assert repr(clone) == repr(record) and clone.messages == record.messages
    with pytest.raises(TypeError, match="unknown"):
        HookRecord(nonsense=1)


def test_with_options_replaces_the_hooks(gateway: FakeGateway) -> None:
    first, second = Recorder(), Recorder()
    client = gateway.client(hooks=[first])
    client.with_options(hooks=[second]).ai.chat(MESSAGES)
    client.with_options(max_retries=0).ai.chat(MESSAGES)  # keeps `first`
    assert len(second.records) == 2 and len(first.records) == 2


API_KEY = "nru_live_SECRETAPIKEY0123456789abcd"
BYOK_KEY = "sk-ant-SECRETBYOKKEY0123456789abcdef"


async def test_no_record_holds_a_key(api: Api, gateway: FakeGateway) -> None:
    hook = Recorder()
    gateway.api_key = API_KEY
    client = api.client(api_key=API_KEY, hooks=[hook], max_retries=1)
    await api.run(client.ai.set_provider_key("anthropic", BYOK_KEY))
    await api.run(client.ai.rotate_provider_key("anthropic", BYOK_KEY + "2"))
    widget = await api.run(client.ai.create_widget_key())
    await api.run(client.ai.revoke_widget_key(widget.key))
    gateway.queue_error(500, body={"error": {"message": f"bad key {BYOK_KEY}"}})
    await api.run(client.ai.set_provider_key("openai", BYOK_KEY))
    live = await api.run(client.ai.create_widget_key())
    widget_client = api.client(api_key=live.key, hooks=[hook])
    stream = await api.run(widget_client.ai.stream(MESSAGES))
    await api.collect(stream)
    secrets = [API_KEY, BYOK_KEY, widget.key, live.key, API_KEY[-12:], BYOK_KEY[-12:], widget.key[-12:], live.key[-12:]]
    assert len(hook.records) >= 12
    for record in hook.records:
        texts = [repr(record), str(record)] + [repr(getattr(record, name)) for name in HookRecord.__slots__]
        for text in texts:
            for secret in secrets:
                assert secret not in text, (record.event, record.operation)


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"])
async def test_a_cancelled_call_ends_with_one_error_for_sync_hooks(api: Api, gateway: FakeGateway) -> None:
    import anyio

    recorder = Recorder()
    with anyio.CancelScope() as scope:

        class Canceller:
            async def on_request(self, record: HookRecord) -> None:
                scope.cancel()
                await anyio.sleep(0)

        client = api.client(hooks=[recorder, Canceller()])
        await client.ai.chat(MESSAGES)
    assert scope.cancelled_caught
    assert recorder.events == ["on_request", "on_error"]
    assert recorder.records[-1].error_type == "Cancelled"


def test_global_hooks_hear_every_client_until_removed(gateway: FakeGateway) -> None:
    from neureus._hooks import add_global_hook, remove_global_hook

    hook, own = Recorder(), Recorder()
    client = gateway.client(hooks=[own])
    add_global_hook(hook)
    add_global_hook(hook)  # twice is once
    try:
        client.ai.chat(MESSAGES)
        gateway.client().ai.chat(MESSAGES)
    finally:
        remove_global_hook(hook)
        remove_global_hook(hook)  # harmless
    client.ai.chat(MESSAGES)
    assert hook.events == ["on_request", "on_response"] * 2
    assert own.events == ["on_request", "on_response"] * 2


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"])
async def test_a_stream_cancelled_mid_way_ends_with_an_error(api: Api, gateway: FakeGateway) -> None:
    import anyio

    hook = Recorder()
    client = api.client(hooks=[hook])
    gateway.queue_stream(["a", "b", "c"], delay=30)  # the second token never comes in time
    tokens = []
    with anyio.move_on_after(0.2) as scope:
        async for token in client.ai.stream(MESSAGES):
            tokens.append(token)
    assert scope.cancelled_caught and tokens == ["a"]
    assert hook.events == ["on_request", "on_response", "on_stream_end", "on_error"]
    assert hook.records[-1].error_type in ("CancelledError", "Cancelled")
    assert hook.records[-2].completed is False


def test_a_global_async_hook_on_a_sync_client_is_not_awaited_and_says_so(
    gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    from neureus._hooks import add_global_hook, remove_global_hook

    seen: list[str] = []

    class Mixed:
        def on_request(self, record: HookRecord) -> Any:
            async def later() -> None:
                seen.append("awaited")  # never runs on a sync client

            return later()

    hook = Mixed()
    add_global_hook(hook)
    try:
        with caplog.at_level(logging.WARNING, logger="neureus"):
            gateway.client().ai.chat(MESSAGES)
    finally:
        remove_global_hook(hook)
    assert seen == []  # and no "coroutine was never awaited" warning (warnings are errors here)
    assert any("not" in r.getMessage() and "awaitable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"text": 5, "choices": [1]}'])
def test_odd_chat_bodies_give_records_without_counts(body: bytes) -> None:
    import httpx

    hook = Recorder()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = neureus.Neureus(
        api_key="nru_test_0000", base_url="https://gateway.neureus.test", http_client=httpx.Client(transport=transport)
    )
    client = client.with_options(hooks=[hook])
    with pytest.raises(neureus.APIResponseValidationError):
        client.ai.chat(MESSAGES)
    response = hook.records[-1]
    assert response.event == "on_response"  # the answer came; it did not parse afterwards
    assert (response.input_tokens, response.output_tokens, response.output_text) == (None, None, None)
    from neureus._hooks import HookDispatcher, Notify

    assert repr(Notify(HookDispatcher([], asynchronous=False), response)).startswith("Notify(HookRecord(")
