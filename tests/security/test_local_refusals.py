"""Local problems stay local (API.md): refused before anything is sent, never retried,
never reported as a connection error, and without echoing the secret part of a value.

Odd keys and URLs, header values httpx cannot encode, NaN in a body, a non-bool flag,
bad ``estimate_cost`` arguments. Each runs sync, asyncio and trio through the public API;
``gateway.requests`` proves nothing was sent.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import neureus
from neureus import ConfigurationError, InvalidRequestError, NeureusError

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "Hello"}]
HEAD = "nru_live_AAAA"
TAIL = "SECRETtailQQQQ9876"  # the part after the stray character: never printed


@pytest.mark.parametrize("char", ["\x0b", "\x00", "\x7f", "\x1b", "\x0c", "\x85", "\u2028", "é", " ", "\t", "\n"])
@pytest.mark.parametrize("where", ["argument", "environment", "with_options"])
async def test_a_stray_character_in_the_api_key_is_refused_at_construction(
    api: Any, monkeypatch: pytest.MonkeyPatch, char: str, where: str
) -> None:
    key = HEAD + char + TAIL
    cls = neureus.AsyncNeureus if api.is_async else neureus.Neureus
    with pytest.raises(ConfigurationError) as caught:
        if where == "argument":
            cls(api_key=key, base_url="http://127.0.0.1:9")
        elif where == "environment":
            if char == "\x00":
                pytest.skip("an environment variable cannot hold a NUL")
            monkeypatch.setenv("NEUREUS_API_KEY", key)
            cls(base_url="http://127.0.0.1:9")
        else:
            cls(api_key="nru_live_fine0123456789", base_url="http://127.0.0.1:9").with_options(api_key=key)
    text = str(caught.value) + repr(caught.value)
    assert "API key" in text and f"position {len(HEAD)}" in text
    for piece in (TAIL, TAIL[-4:], key):
        assert piece not in text


USERINFO_URLS = [
    "http://user:hunter2SECRET@127.0.0.1:8787",
    "https://hunter2SECRET@app.neureus.ai",
    "https://user:hunter2SECRET@app.neureus.ai/v1?x=1",
    "http://:hunter2SECRET@localhost",
]


@pytest.mark.parametrize("url", USERINFO_URLS)
async def test_a_base_url_with_userinfo_is_refused_without_its_password(api: Any, url: str) -> None:
    cls = neureus.AsyncNeureus if api.is_async else neureus.Neureus
    with pytest.raises(ConfigurationError, match="user name or password") as caught:
        cls(api_key="nru_live_fine0123456789", base_url=url)
    assert "hunter2SECRET" not in str(caught.value) + repr(caught.value)


@pytest.mark.parametrize("url", ["http://api.localhost:8787", "http://localhost.:8787", "http://[::ffff:127.0.0.1]"])
async def test_only_true_loopback_may_use_plain_http(api: Any, url: str) -> None:
    cls = neureus.AsyncNeureus if api.is_async else neureus.Neureus
    with pytest.raises(ConfigurationError, match="not loopback"):
        cls(api_key="nru_live_fine0123456789", base_url=url)


BAD_HEADER_VALUES = ["café", "a\x00b", "a\x1b[31mred", "a\x7fb", "line\nbreak", "\u2028"]


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
async def test_unsendable_default_headers_and_surface_are_configuration_errors(api: Any, value: str) -> None:
    with pytest.raises(ConfigurationError, match="default_headers"):
        api.client(default_headers={"x-team": value})
    with pytest.raises(ConfigurationError, match="surface"):
        api.client(surface=value)
    assert api.gateway.requests == []


@pytest.mark.parametrize("value", BAD_HEADER_VALUES)
async def test_unsendable_call_headers_are_refused_before_sending(api: Any, value: str) -> None:
    client = api.client()
    for call in (
        lambda: client.ai.chat(MESSAGES, surface=value),
        lambda: client.ai.chat(MESSAGES, extra_headers={"x-team": value}),
        lambda: client.ai.chat(MESSAGES, extra_headers={"bad name": "v"}),
        lambda: client.ai.stream(MESSAGES, extra_headers={"x-team": value}),
    ):
        with pytest.raises(InvalidRequestError):
            await api.run(call())
    assert api.gateway.requests == []


NAN_CASES = [
    ("extra_body", {"extra_body": {"hint": math.nan}}),
    ("extra_body_inf", {"extra_body": {"weights": [1.0, math.inf]}}),
    ("extra_body_neg_inf", {"extra_body": {"deep": {"x": -math.inf}}}),
    ("message_field", {"messages": [{"role": "user", "content": "hi", "weight": math.nan}]}),
    ("unserialisable", {"extra_body": {"when": object()}}),
]


@pytest.mark.parametrize(("label", "kwargs"), NAN_CASES, ids=[c[0] for c in NAN_CASES])
async def test_nan_infinity_and_objects_are_refused_before_sending(
    api: Any, label: str, kwargs: dict[str, Any]
) -> None:
    client = api.client(max_retries=3)
    kwargs = dict(kwargs)  # parametrized values are shared by the three flavours
    messages = kwargs.pop("messages", MESSAGES)
    with pytest.raises(InvalidRequestError, match="cannot be sent as JSON") as caught:
        await api.run(client.ai.chat(messages, **kwargs))
    assert not isinstance(caught.value, neureus.APIConnectionError)
    assert "body[" in str(caught.value)  # says where
    assert api.gateway.requests == []


@pytest.mark.parametrize("value", ["no", "false", 0, 1, "", [], None.__class__])
async def test_a_non_bool_flag_is_refused(api: Any, value: object) -> None:
    client = api.client()
    for flag in ("prefer_async", "compress", "debug"):
        with pytest.raises(InvalidRequestError, match=flag):
            await api.run(client.ai.chat(MESSAGES, **{flag: value}))
    assert api.gateway.requests == []


async def test_prefer_async_false_is_sent_as_false(api: Any) -> None:
    client = api.client()
    await api.run(client.ai.chat(MESSAGES, prefer_async=False))
    assert api.gateway.last_request.json["prefer_async"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": 42},
        {"model": ""},
        {"model": "gpt-4o", "max_output_tokens": -1},
        {"model": "gpt-4o", "max_output_tokens": 1.5},
        {"model": "gpt-4o", "max_output_tokens": True},
        {"model": "gpt-4o", "messages": []},
        {"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
    ],
)
async def test_estimate_cost_checks_its_arguments_before_any_request(api: Any, kwargs: dict[str, Any]) -> None:
    client = api.client()
    kwargs = dict(kwargs)
    messages = kwargs.pop("messages", MESSAGES)
    with pytest.raises(InvalidRequestError):
        await api.run(client.ai.estimate_cost(messages, **kwargs))
    assert api.gateway.requests == []


async def test_estimate_cost_of_auto_says_it_cannot_be_priced(api: Any) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError, match="cannot be priced"):
        await api.run(client.ai.estimate_cost(MESSAGES, model="auto"))
    assert api.gateway.requests == []


async def test_estimate_cost_of_a_model_listed_without_a_price_says_so(api: Any) -> None:
    api.gateway.models.append({"id": "mystery-1", "provider": "x", "type": "chat"})
    client = api.client()
    with pytest.raises(InvalidRequestError, match="cannot be priced"):
        await api.run(client.ai.estimate_cost(MESSAGES, model="mystery-1"))
    free = await api.run(client.ai.estimate_cost(MESSAGES, model="meta/llama-3.1-8b", max_output_tokens=10))
    assert free.total_usd == 0.0  # listed at 0: free, and priced


async def test_local_refusals_are_not_retried_or_connection_errors(api: Any) -> None:
    """One request-building mistake with retries allowed: zero requests, a ValueError."""
    client = api.client(max_retries=5)
    with pytest.raises(NeureusError) as caught:
        await api.run(client.ai.chat(MESSAGES, extra_body={"x": math.nan}))
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, neureus.APIError)
    assert api.gateway.requests == []
