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


async def test_a_long_lived_clients_key_stays_redacted_after_100_newer_byok_keys(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The log filter redacts by value the keys the process was given, within a bound. A
    client's own key must not drop out of it because the client stored many BYOK keys
    since (keys with no known shape: only "by value" catches them)."""
    import os

    run = os.urandom(4).hex()  # fresh values: the memory of given keys is process-wide
    own = f"ZZq7{run}OwnKeyOfNoShape0123456789"
    early = f"AIzaSyQ7{run}EarlyKeyStillInUse01"
    gateway = FakeGateway(api_key=own)
    api.gateway = gateway
    client = api.client(max_retries=1, retry_policy=neureus.RetryPolicy(initial_wait=0.001, jitter=lambda: 0.0))
    await api.run(client.ai.set_provider_key("anthropic", early))
    for i in range(100):
        await api.run(client.ai.set_provider_key("openai", f"AIzaSyQ7{run}ChurnKey{i:04d}xyz"))
    caplog.set_level(logging.DEBUG, logger="neureus")
    # The gateway (or the provider behind it) echoes the client's key and the early one.
    echo = f"{own} / {early}"
    gateway.queue_error(500, {"error": f"upstream rejected {echo}"}, headers={"x-request-id": echo}, times=2)
    with pytest.raises(neureus.APIStatusError) as caught:
        await api.run(client.ai.rotate_provider_key("anthropic", early))
    shown = "\n".join([caplog.text, str(caught.value), repr(caught.value), str(caught.value.request_id)])
    assert "request id" in caplog.text and "rejected" in shown  # the lines and the text are there
    assert own not in shown and early not in shown, shown[-3000:]


async def test_a_stored_byok_key_echoed_by_a_later_call_is_redacted_in_its_error(api: Any) -> None:
    """A chat call's provider error may quote the BYOK key the gateway used for it: a key
    this process stored (and so noted) is redacted by value there too."""
    import os

    stored = f"AIzaSyQ7{os.urandom(4).hex()}StoredEarlier0123"
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client(max_retries=0)
    await api.run(client.ai.set_provider_key("openai", stored))
    gateway.queue_error(401, {"error": f"openai: Incorrect API key provided: {stored}"})
    with pytest.raises(neureus.AuthenticationError) as caught:
        await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini"))
    shown = "\n".join([str(caught.value), repr(caught.value), repr(caught.value.body)])
    assert "Incorrect API key" in shown and stored not in shown, shown


async def test_a_widget_key_the_client_issued_stays_redacted_while_it_is_held(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    run = os.urandom(4).hex()
    issued = f"Wq9x{run}IssuedWidgetKeyOfNoShape01"
    gateway = FakeGateway(api_key=API_KEY)
    api.gateway = gateway
    client = api.client(max_retries=0)
    gateway.queue_error(200, {"key": issued, "keyPreview": "Wq9x"}, path="/ai/widget/key")
    widget = await api.run(client.ai.create_widget_key())
    for i in range(100):
        await api.run(client.ai.set_provider_key("openai", f"AIzaSyQ7{run}ChurnKey{i:04d}xyz"))
    caplog.set_level(logging.DEBUG, logger="neureus")
    gateway.queue_error(500, {"error": "no"}, headers={"x-request-id": issued})
    with pytest.raises(neureus.APIStatusError):
        await api.run(client.ai.list_models())
    assert widget.key == issued and "request id" in caplog.text and issued not in caplog.text
