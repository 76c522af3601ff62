"""Every ``client.ai`` call through the emulator, sync and async (asyncio and trio)."""

from __future__ import annotations

import httpx
import pytest

from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncChatStream,
    AuthenticationError,
    BadRequestError,
    ChatMessage,
    ChatResponse,
    ChatStream,
    CostEstimate,
    EmbeddingsResponse,
    InternalServerError,
    InvalidRequestError,
    ModelList,
    NotFoundError,
    PermissionDeniedError,
    ProviderKeyStatus,
    ProviderList,
    RateLimitError,
    WidgetKey,
    WidgetKeyRevocation,
    WidgetKeyScopeError,
)
from neureus.testing import FakeGateway
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio


async def test_chat_sends_the_wire_format_and_parses_the_reply(api: Api) -> None:
    api.gateway.queue_reply("Edge computing moves work closer to users.")
    client = api.client()
    reply = await api.run(
        client.ai.chat(
            [ChatMessage(role="system", content="Be brief."), {"role": "user", "content": "Explain edge computing."}],
            model="claude-sonnet-4-6",
            temperature=0.3,
            max_tokens=100,
            system_prompt="You are terse.",
            prefer_async=True,
            compress=True,
            debug=True,
            surface="docs",
            extra_headers={"X-Trace-Id": "t1"},
            extra_body={"metadata": {"user": "u1"}},
            timeout=10,
        )
    )
    assert isinstance(reply, ChatResponse)
    assert reply.text == reply.content == "Edge computing moves work closer to users."
    assert reply.choices[0].message.content == reply.text and reply.choices[0].finish_reason == "stop"
    assert reply.log_id and reply.input_tokens and reply.output_tokens
    assert reply.usage is not None and reply.usage.total_tokens == reply.input_tokens + reply.output_tokens
    assert reply.preprocessing is not None and reply.preprocessing.compressed is True
    assert reply.model_extra is not None and reply.model_extra["model"] == "claude-sonnet-4-6"
    sent = api.gateway.last_request
    assert sent.method == "POST" and sent.path == "/ai/chat"
    assert sent.json == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain edge computing."},
        ],
        "model": "claude-sonnet-4-6",
        "temperature": 0.3,
        "maxTokens": 100,
        "systemPrompt": "You are terse.",
        "prefer_async": True,
        "metadata": {"user": "u1"},
    }
    assert sent.headers["x-neureus-options"] == "compress=true"
    assert sent.headers["x-neureus-debug"] == "true"
    assert sent.headers["x-neureus-surface"] == "docs"
    assert sent.headers["x-trace-id"] == "t1"
    assert sent.headers["authorization"] == f"Bearer {api.gateway.api_key}"
    assert sent.headers["content-type"] == "application/json"


async def test_chat_without_debug_has_no_preprocessing(api: Api) -> None:
    reply = await api.run(api.client().ai.chat(MESSAGES))
    assert reply.preprocessing is None
    assert api.gateway.last_request.json == {"messages": MESSAGES}


@pytest.mark.parametrize(
    ("messages", "kwargs", "needle"),
    [
        ([], {}, "empty"),
        ([{"role": "robot", "content": "x"}], {}, r"messages\[0\] has role"),
        ([{"role": "user", "content": 5}], {}, r"messages\[0\] content is int"),
        (MESSAGES, {"temperature": 2.5}, "temperature"),
        (MESSAGES, {"temperature": -1}, "temperature"),
    ],
)
async def test_bad_chat_input_is_refused_and_nothing_is_sent(
    api: Api, messages: list[dict[str, object]], kwargs: dict[str, object], needle: str
) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError, match=needle) as info:
        await api.run(client.ai.chat(messages, **kwargs))
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidRequestError):
        await api.run(client.ai.stream(messages, **kwargs))
    assert api.gateway.requests == []


async def test_chat_stream_true_returns_a_stream(api: Api) -> None:
    api.gateway.queue_stream(["a", "b"])
    stream = await api.run(api.client().ai.chat(MESSAGES, stream=True))
    assert isinstance(stream, AsyncChatStream if api.is_async else ChatStream)
    assert await api.collect(stream) == ["a", "b"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
    ],
)
async def test_client_errors_are_typed_and_not_retried(api: Api, status: int, error: type[Exception]) -> None:
    api.gateway.queue_error(status, {"error": {"message": "nope", "type": "x"}}, headers={"x-request-id": "req_42"})
    with pytest.raises(error) as info:
        await api.run(api.client().ai.chat(MESSAGES))
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.request_id == "req_42"  # type: ignore[attr-defined]
    assert info.value.body == {"error": {"message": "nope", "type": "x"}}  # type: ignore[attr-defined]
    assert "nope" in str(info.value)
    assert len(api.gateway.requests) == 1


async def test_server_errors_are_retried_then_succeed(api: Api) -> None:
    api.gateway.queue_error(503, times=2)
    reply = await api.run(api.client().ai.chat(MESSAGES))
    assert reply.text and len(api.gateway.requests) == 3


async def test_retries_give_up_after_max_retries(api: Api) -> None:
    api.gateway.queue_error(500, times=10)
    with pytest.raises(InternalServerError):
        await api.run(api.client(max_retries=1).ai.chat(MESSAGES))
    assert len(api.gateway.requests) == 2


async def test_max_retries_zero_means_one_attempt(api: Api) -> None:
    api.gateway.queue_failure("connect", times=5)
    with pytest.raises(APIConnectionError) as info:
        await api.run(api.client(max_retries=0).ai.chat(MESSAGES))
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(api.gateway.requests) == 1


async def test_network_faults_are_retried_and_translated(api: Api) -> None:
    api.gateway.queue_failure("timeout", times=1)
    api.gateway.queue_failure("reset", times=1)
    assert (await api.run(api.client().ai.list_models())).models
    api.gateway.queue_failure("timeout", times=3)
    with pytest.raises(APITimeoutError):
        await api.run(api.client().ai.list_models())


async def test_rate_limit_retry_after_honoured_or_raised(api: Api) -> None:
    api.gateway.queue_error(429, headers={"retry-after-ms": "5"})
    assert (await api.run(api.client().ai.chat(MESSAGES))).text
    api.gateway.queue_error(429, headers={"retry-after": "3600"})
    with pytest.raises(RateLimitError) as info:
        await api.run(api.client().ai.chat(MESSAGES))
    assert info.value.retry_after == 3600.0


async def test_html_error_page_is_readable(api: Api) -> None:
    api.gateway.queue_error(502, b"<html><title>502 Bad Gateway</title><body>nginx</body></html>", times=3)
    with pytest.raises(InternalServerError, match="502 Bad Gateway") as info:
        await api.run(api.client().ai.chat(MESSAGES))
    assert "<html>" not in str(info.value)


async def test_unreadable_success_body(api: Api) -> None:
    api.gateway.queue_error(200, b"<html>captive portal</html>")
    with pytest.raises(APIResponseValidationError, match="captive portal"):
        await api.run(api.client().ai.chat(MESSAGES))


async def test_list_models(api: Api) -> None:
    client = api.client()
    models = await api.run(client.ai.list_models())
    assert isinstance(models, ModelList) and len(models) > 5
    sonnet = models.get("claude-sonnet-4-6")
    assert sonnet is not None and sonnet.context_window == 200000 and sonnet.input_cost_per_1k == 0.003
    assert "tool_use" in sonnet.supported_features
    assert [m.id for m in models] == [m.id for m in models.models] and models[0].id == models.models[0].id
    filtered = await api.run(client.ai.list_models(provider="anthropic", type="reasoning"))
    assert {m.provider for m in filtered} == {"anthropic"} and {m.type for m in filtered} == {"reasoning"}
    assert api.gateway.last_request.query == {"provider": "anthropic", "type": "reasoning"}
    assert models.get("no-such-model") is None


@pytest.mark.parametrize("shape", ["embeddings", "data_objects", "data_lists"])
async def test_embeddings_every_shape(api: Api, shape: str) -> None:
    gateway = FakeGateway(embeddings_shape=shape)  # type: ignore[arg-type]
    api.gateway = gateway
    client = api.client()
    result = await api.run(client.ai.embeddings(["alpha", "beta"], model="bge-base-en"))
    single = await api.run(client.ai.embeddings("alpha"))
    assert isinstance(result, EmbeddingsResponse) and len(result) == 2
    assert result.embeddings[0] == single.embeddings[0] != result.embeddings[1]
    assert all(isinstance(x, float) for x in result.embeddings[0])
    assert gateway.requests[0].json == {"input": ["alpha", "beta"], "model": "bge-base-en"}
    assert gateway.requests[1].json == {"input": "alpha"}


async def test_embeddings_single_vector_shape(api: Api) -> None:
    api.gateway = FakeGateway(embeddings_shape="embedding")
    result = await api.run(api.client().ai.embeddings("x"))
    assert len(result.embeddings) == 1 and result.model == "bge-base-en"


@pytest.mark.parametrize("bad", [[], "", ["a", 3], None])
async def test_embeddings_bad_input_is_local(api: Api, bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        await api.run(api.client().ai.embeddings(bad))  # type: ignore[arg-type]
    assert api.gateway.requests == []


async def test_byok_lifecycle(api: Api) -> None:
    client = api.client()
    assert (await api.run(client.ai.list_providers())).providers == []
    status = await api.run(client.ai.set_provider_key("openai", "sk-openai-secret-0001"))
    assert isinstance(status, ProviderKeyStatus) and (status.provider, status.configured) == ("openai", True)
    status = await api.run(client.ai.rotate_provider_key("openai", "sk-openai-secret-0002"))
    assert status.configured
    assert api.gateway.provider_keys[api.gateway.api_key]["openai"] == "sk-openai-secret-0002"
    providers = await api.run(client.ai.list_providers())
    assert isinstance(providers, ProviderList) and providers.configured == ["openai"]
    deleted = await api.run(client.ai.delete_provider_key("openai"))
    assert deleted.configured is False
    assert (await api.run(client.ai.list_providers())).configured == []
    with pytest.raises(NotFoundError):
        await api.run(client.ai.delete_provider_key("openai"))
    methods = [(r.method, r.path) for r in api.gateway.requests]
    assert ("PUT", "/ai/providers/openai/key") in methods
    assert ("POST", "/ai/providers/openai/rotate") in methods
    assert ("DELETE", "/ai/providers/openai/key") in methods


async def test_byok_state_is_per_api_key_and_strings_are_accepted(api: Api) -> None:
    api.gateway.providers_as_strings = True
    mine, theirs = api.client(api_key="nru_tenant_a_000000000"), api.client(api_key="nru_tenant_b_000000000")
    await api.run(mine.ai.set_provider_key("anthropic", "sk-ant-123456789"))
    assert (await api.run(mine.ai.list_providers())).configured == ["anthropic"]
    assert (await api.run(theirs.ai.list_providers())).configured == []


async def test_well_formed_unknown_provider_is_sent(api: Api) -> None:
    with pytest.raises(BadRequestError, match="Unsupported provider"):
        await api.run(api.client().ai.set_provider_key("mistral", "key-123"))
    assert api.gateway.last_request.path == "/ai/providers/mistral/key"


@pytest.mark.parametrize("provider", ["../widget", "OpenAI/x", "", "open ai"])
async def test_provider_injection_refused_locally(api: Api, provider: str) -> None:
    client = api.client()
    for call in (
        lambda: client.ai.set_provider_key(provider, "sk-1"),
        lambda: client.ai.rotate_provider_key(provider, "sk-1"),
        lambda: client.ai.delete_provider_key(provider),
    ):
        with pytest.raises(InvalidRequestError, match="provider"):
            await api.run(call())
    assert api.gateway.requests == []


async def test_widget_keys(api: Api) -> None:
    client = api.client()
    widget = await api.run(client.ai.create_widget_key(agent_id="agent_abc123"))
    assert isinstance(widget, WidgetKey) and widget.key.startswith("pk_")
    assert widget.key_preview == widget.key[:7]
    assert widget.key not in repr(widget)
    assert api.gateway.last_request.json == {"agent_id": "agent_abc123"}
    await api.run(client.ai.create_widget_key())
    assert api.gateway.last_request.json == {}

    widget_client = api.client(api_key=widget.key)
    assert (await api.run(widget_client.ai.chat(MESSAGES))).text
    sent_before = len(api.gateway.requests)
    for call in (
        lambda: widget_client.ai.list_models(),
        lambda: widget_client.ai.embeddings("x"),
        lambda: widget_client.ai.list_providers(),
        lambda: widget_client.ai.set_provider_key("openai", "sk-1"),
        lambda: widget_client.ai.rotate_provider_key("openai", "sk-1"),
        lambda: widget_client.ai.delete_provider_key("openai"),
        lambda: widget_client.ai.create_widget_key(),
        lambda: widget_client.ai.revoke_widget_key(widget.key),
        lambda: widget_client.ai.estimate_cost(MESSAGES, model="gpt-4o"),
    ):
        with pytest.raises(WidgetKeyScopeError):
            await api.run(call())
    assert len(api.gateway.requests) == sent_before

    revoked = await api.run(client.ai.revoke_widget_key(widget.key))
    assert isinstance(revoked, WidgetKeyRevocation) and revoked.revoked is True
    assert api.gateway.last_request.json == {"key": widget.key}
    with pytest.raises(AuthenticationError):
        await api.run(widget_client.ai.chat(MESSAGES))
    with pytest.raises(NotFoundError):
        await api.run(client.ai.revoke_widget_key(widget.key))


async def test_emulator_holds_widget_keys_to_chat_too(api: Api) -> None:
    raw = httpx.Client(transport=httpx.MockTransport(api.gateway.handle))
    response = raw.get("https://gw.test/ai/models", headers={"authorization": "Bearer pk_anything_123"})
    assert response.status_code == 403
    raw.close()


async def test_estimate_cost_uses_cached_prices(api: Api) -> None:
    client = api.client()
    messages = [{"role": "user", "content": "x" * 4000}]
    estimate = await api.run(client.ai.estimate_cost(messages, model="claude-sonnet-4-6", max_output_tokens=500))
    assert isinstance(estimate, CostEstimate)
    assert (estimate.input_tokens, estimate.output_tokens) == (1000, 500)
    assert estimate.input_cost_usd == pytest.approx(0.003)
    assert estimate.output_cost_usd == pytest.approx(0.0075)
    assert estimate.total_usd == pytest.approx(0.0105)
    await api.run(client.ai.estimate_cost(messages, model="gpt-4o"))
    assert len(api.gateway.requests_to("/ai/models")) == 1  # cached


async def test_estimate_cost_unknown_model_lists_close_matches(api: Api) -> None:
    with pytest.raises(InvalidRequestError, match="claude-sonnet-4-6"):
        await api.run(api.client().ai.estimate_cost(MESSAGES, model="claude-sonet-4-6"))
    with pytest.raises(InvalidRequestError, match="max_output_tokens"):
        await api.run(api.client().ai.estimate_cost(MESSAGES, model="gpt-4o", max_output_tokens=-1))


async def test_preprocess_without_compress_sends_nothing(api: Api) -> None:
    result = await api.run(
        api.client().ai.preprocess(
            [{"role": "user", "content": "  hi \r\n\r\n\r\n there  "}, {"role": "system", "content": "sys"}]
        )
    )
    assert [m["role"] for m in result.messages] == ["system", "user"]
    assert result.messages[1]["content"] == "hi \n\n there"
    assert api.gateway.requests == []


async def test_preprocess_with_compress_uses_the_gateway(api: Api) -> None:
    api.gateway.queue_reply("short A")
    api.gateway.queue_reply("short B")
    result = await api.run(
        api.client().ai.preprocess(
            [
                {"role": "system", "content": "keep me"},
                {"role": "user", "content": "a long question"},
                {"role": "assistant", "content": "a long answer"},
            ],
            compress=True,
        )
    )
    assert [m["content"] for m in result.messages] == ["keep me", "short A", "short B"]
    assert result.stats.compressed and "compress" in result.stats.passes
    assert len(api.gateway.requests) == 2
    sent = api.gateway.requests[0].json
    assert sent["model"] == "meta/llama-3.1-8b" and sent["temperature"] == 0
    assert sent["messages"][-1] == {"role": "user", "content": "a long question"}


async def test_per_call_deadline_bounds_retries(api: Api) -> None:
    api.gateway.queue_error(503, headers={"retry-after-ms": "40"}, times=50)
    client = api.client(max_retries=20)
    # When the next wait cannot fit, the last real error is raised (API.md, 0.2).
    with pytest.raises(InternalServerError, match="503"):
        await api.run(client.ai.chat(MESSAGES, deadline=0.3))
    # At most 0.3 / 0.04 + 1 tries fit, far fewer than the 21 max_retries allows; at least
    # two unless the first answer alone took most of the deadline (a very busy machine).
    assert 2 <= len(api.gateway.requests) <= 8
    api.gateway.reset()
    api.gateway.queue_error(503, headers={"retry-after-ms": "40"}, times=50)
    with pytest.raises(InternalServerError, match="503"):
        await api.collect(client.ai.stream(MESSAGES, deadline=0.3))
    assert 2 <= len(api.gateway.requests) <= 8
    with pytest.raises(InvalidRequestError, match="deadline"):
        await api.run(client.ai.chat(MESSAGES, deadline=0))


async def test_status_errors_carry_retry_after(api: Api) -> None:
    api.gateway.queue_error(503, headers={"retry-after": "120"})
    with pytest.raises(InternalServerError) as info:
        await api.run(api.client().ai.chat(MESSAGES))
    assert info.value.retry_after == 120.0
    assert len(api.gateway.requests) == 1  # over 60 s: raised at once, not waited out


async def test_an_empty_price_list_is_cached_too(api: Api) -> None:
    api.gateway = FakeGateway(models=[])
    client = api.client()
    for _ in range(2):
        with pytest.raises(InvalidRequestError, match="Unknown model"):
            await api.run(client.ai.estimate_cost(MESSAGES, model="gpt-4o"))
    assert len(api.gateway.requests_to("/ai/models")) == 1
