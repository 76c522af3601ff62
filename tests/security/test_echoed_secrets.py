"""Secrets a server echoes back are redacted by value wherever the SDK shows them.

A hostile or careless gateway (or a proxy in front of it) may echo the caller's API key
or the key a call just sent: in an unknown field of a successful answer, in a response
header (``www-authenticate``, ``x-request-id``), or spelled with JSON escapes. The keys
used here have no known shape (only "by value" can catch them). Every call runs sync,
asyncio and trio, with the ``neureus`` logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest

import neureus
from neureus.testing import FakeGateway

pytestmark = pytest.mark.anyio

API_KEY = "ZZq7SECRETplainApiKey0123456789abcdef"
BYOK_KEY = "AIzaSyQ7SECRETgooglekey0123456789xyz"
WIDGET_KEY = "Wq9xSECRETwidgetKey0123456789abcdefgh"
MESSAGES = [{"role": "user", "content": "Hello"}]


def escaped(secret: str) -> str:
    """The key as a JSON string with every character written as a \\u escape."""
    return "".join(f"\\u{ord(c):04x}" for c in secret)


def visible(obj: Any) -> str:
    """Everything a user or a crash reporter would print of a result."""
    dumped = obj.model_dump() if hasattr(obj, "model_dump") else None
    return "\n".join([repr(obj), str(obj), repr(dumped), repr(pickle.loads(pickle.dumps(obj)))])


ENDPOINTS = [
    ("chat", "/ai/chat", {"text": "hi"}, lambda c: c.ai.chat(MESSAGES)),
    ("embeddings", "/ai/embeddings", {"embeddings": [[0.1]]}, lambda c: c.ai.embeddings("a")),
    ("list_models", "/ai/models", {"models": [{"id": "m"}]}, lambda c: c.ai.list_models()),
    ("list_providers", "/ai/providers", {"providers": ["openai"]}, lambda c: c.ai.list_providers()),
    ("create_widget_key", "/ai/widget/key", {"key": "pk_new_0123456789abcdef"}, lambda c: c.ai.create_widget_key()),
    (
        "set_provider_key",
        "/ai/providers/google/key",
        {"provider": "google", "configured": True},
        lambda c: c.ai.set_provider_key("google", BYOK_KEY),
    ),
    ("revoke_widget_key", "/ai/widget/key", {"revoked": True}, lambda c: c.ai.revoke_widget_key(WIDGET_KEY)),
]


@pytest.mark.parametrize("spelling", ["plain", "json_escapes"])
@pytest.mark.parametrize(("name", "path", "base", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_keys_echoed_in_unknown_fields_of_a_success_are_redacted(
    api: Any, caplog: pytest.LogCaptureFixture, name: str, path: str, base: dict[str, Any], call: Any, spelling: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="neureus")
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client()
    # The call's own secrets: the API key, and the key in its body if it sends one.
    secrets = (
        [API_KEY] + ([BYOK_KEY] if name == "set_provider_key" else []) + ([WIDGET_KEY] if "revoke" in name else [])
    )
    echo = {"debug": {"auth": secrets, "note": f"you sent {secrets[-1]}"}, secrets[-1]: "as a key too"}
    text = json.dumps({**base, **echo})
    if spelling == "json_escapes":
        for secret in secrets:
            text = text.replace(secret, escaped(secret))
    gateway.queue_error(
        200, text.encode(), headers={"content-type": "application/json", "x-request-id": API_KEY}, path=path
    )
    result = await api.run(call(client))
    shown = visible(result) + caplog.text
    for secret in secrets:
        assert secret not in shown, (secret[:8], shown[:2000])
    # The redacted form is there: the field was kept, only its secret value was hidden.
    assert "debug" in repr(result.model_extra)


async def test_a_new_widget_key_keeps_its_full_value_but_not_in_its_repr(api: Any) -> None:
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client()
    created = await api.run(client.ai.create_widget_key())
    assert created.key.startswith("pk_") and len(created.key) > 12  # API.md: the attribute holds it
    assert created.key not in repr(created) and created.key not in str(created)


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_keys_echoed_in_error_headers_and_request_id_are_redacted(
    api: Any, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="neureus")
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client(max_retries=1, retry_policy=neureus.RetryPolicy(initial_wait=0.001, jitter=lambda: 0.0))
    headers = {
        "www-authenticate": f'Bearer realm="gw", error="invalid_token", token="{API_KEY}"',
        "x-request-id": f"req-{BYOK_KEY}",
        "x-debug-echo": API_KEY,
        "retry-after-ms": "1",
    }
    gateway.queue_error(status, {"error": "no"}, headers=headers, times=2)
    with pytest.raises(neureus.APIStatusError) as caught:
        await api.run(client.ai.set_provider_key("google", BYOK_KEY))
    error = caught.value
    shown = "\n".join(
        [
            str(error),
            repr(error),
            repr(error.headers),
            str(dict(error.headers)),
            str(error.request_id),
            repr(pickle.loads(pickle.dumps(error)).headers),
            caplog.text,
        ]
    )
    assert API_KEY not in shown and BYOK_KEY not in shown, shown[:3000]
    assert "www-authenticate" in error.headers and error.request_id is not None  # kept, redacted


async def test_a_request_id_echoing_the_key_on_success_is_not_logged(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="neureus")
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client()
    gateway.queue_error(200, b'{"text": "hi"}', headers={"content-type": "application/json", "x-request-id": API_KEY})
    await api.run(client.ai.chat(MESSAGES))
    assert "request id" in caplog.text  # the line was logged
    assert API_KEY not in caplog.text
