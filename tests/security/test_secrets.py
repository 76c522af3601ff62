"""No secret (API key, BYOK provider key, widget key) is ever shown in full.

Every call runs, successful and failing (status errors whose bodies echo the secrets,
network failures, broken streams, bodies we cannot read), with the ``neureus`` logger at
DEBUG (the ``NEUREUS_LOG=debug`` semantics) and every other logger captured too. Then
the log text, and ``repr``/``str`` of every client, recorded request, response, stream,
error (with its whole ``__cause__``/``__context__`` chain and its formatted traceback)
are searched for the full value of each secret.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

import neureus
from neureus import NeureusError
from neureus.testing import FakeGateway

from ._streams import drain

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "Hello"}]
# Secrets in the shapes the redaction pattern knows (nru_, sk-, pk_) and in one it cannot
# guess (a Google-style key), which only the SDK's knowledge of "this is a secret" covers.
API_KEY = "nru_live_SECRETapikey0123456789abcdef"
BYOK_KEY = "sk-proj-SECRETbyok0123456789abcdef012"
ODD_BYOK_KEY = "AIzaSyQ7SECRETgooglekey0123456789xyz"
WIDGET_KEY = "pk_live_SECRETwidget0123456789abcdef"
SECRETS = (API_KEY, BYOK_KEY, ODD_BYOK_KEY, WIDGET_KEY)


def calls(client: Any) -> Iterator[tuple[str, Any]]:
    """Every call of the SDK, as (name, thunk)."""
    yield "chat", lambda: client.ai.chat(MESSAGES)
    yield "embeddings", lambda: client.ai.embeddings(["a", "b"])
    yield "list_models", lambda: client.ai.list_models()
    yield "list_providers", lambda: client.ai.list_providers()
    yield "set_provider_key", lambda: client.ai.set_provider_key("openai", BYOK_KEY)
    yield "set_provider_key_odd", lambda: client.ai.set_provider_key("google", ODD_BYOK_KEY)
    yield "rotate_provider_key", lambda: client.ai.rotate_provider_key("openai", BYOK_KEY)
    yield "delete_provider_key", lambda: client.ai.delete_provider_key("openai")
    yield "create_widget_key", lambda: client.ai.create_widget_key("agent-1")
    yield "revoke_widget_key", lambda: client.ai.revoke_widget_key(WIDGET_KEY)


class Exposure:
    """Collects every text a user could see, then searches it for the secrets."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, obj: object) -> None:
        self.texts.append((where + " repr", repr(obj)))
        self.texts.append((where + " str", str(obj)))

    def add_error(self, where: str, error: BaseException) -> None:
        seen: set[int] = set()
        current: BaseException | None = error
        depth = 0
        while current is not None and id(current) not in seen and depth < 20:
            seen.add(id(current))
            self.add(f"{where} error[{depth}] {type(current).__name__}", current)
            for attribute in ("body", "partial_text", "request_id", "headers"):
                if hasattr(current, attribute):
                    self.add(f"{where} error[{depth}].{attribute}", getattr(current, attribute))
            current = current.__cause__ or current.__context__
            depth += 1
        self.texts.append((f"{where} traceback", "".join(traceback.format_exception(error))))

    def leaks(self, secrets: tuple[str, ...] = SECRETS) -> list[str]:
        return [
            f"{where}: {secret[:8]}... in {text[:300]!r}"
            for where, text in self.texts
            for secret in secrets
            if secret in text
        ]


async def run_all(api: Any, client: Any, seen: Exposure, label: str) -> int:
    """Run every call, collecting results and errors; return how many failed."""
    failures = 0
    for name, thunk in calls(client):
        try:
            result = await api.run(thunk())
        except NeureusError as exc:
            failures += 1
            seen.add_error(f"{label}/{name}", exc)
        else:
            seen.add(f"{label}/{name} result", result)
    # The stream, to its end or its failure.
    stream = None
    try:
        stream = client.ai.stream(MESSAGES)
        await drain(api, stream)
    except NeureusError as exc:
        failures += 1
        seen.add_error(f"{label}/stream", exc)
    if stream is not None:
        seen.add(f"{label}/stream object", stream)
        try:
            response = stream.response
        except RuntimeError:  # an async stream that never opened
            response = None
        if response is not None:
            seen.add(f"{label}/stream response", response)
            seen.add(f"{label}/stream response headers", response.headers)
            seen.add(f"{label}/stream request", response.request)
    return failures


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``NEUREUS_LOG=debug``: the neureus logger at DEBUG; every other logger captured too."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="neureus")
    return caplog


def log_texts(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    texts = [("log text", caplog.text)]
    handler = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        texts.append((f"log record {record.name}", handler.format(record)))
    return texts


def make_gateway() -> FakeGateway:
    gateway = FakeGateway(api_key=API_KEY)
    # The widget key exists, so revoking it succeeds on the happy path.
    gateway.widget_keys[WIDGET_KEY] = {"tenant": API_KEY, "agent_id": None}
    return gateway


async def test_successful_calls_show_no_secret(api: Any, debug_logs: pytest.LogCaptureFixture) -> None:
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client()
    seen = Exposure()
    seen.add("client", client)
    seen.add("client.with_options", client.with_options(max_retries=0))
    await run_all(api, client, seen, "ok")
    for request in gateway.requests:
        seen.add("recorded request", request)
    seen.add("gateway", gateway)
    # The widget key the gateway made is a secret too: its repr is redacted.
    created = await api.run(client.ai.create_widget_key())
    assert created.key.startswith("pk_")
    seen.add("created widget key", created)
    seen.texts += log_texts(debug_logs)
    assert debug_logs.records, "nothing was logged at DEBUG: the capture is not working"
    every = (*SECRETS, created.key)
    assert not seen.leaks(every), seen.leaks(every)


# What a careless server might echo back. The odd-shaped key is not in it: the SDK can only
# know it is a secret on the call that carries it (tested on its own below).
ECHO = f"key {API_KEY} provider key {BYOK_KEY} widget {WIDGET_KEY}"


@pytest.mark.parametrize(
    "failure",
    [
        "401_echoing_secrets",
        "422_echoing_secrets",
        "500_html_echoing_secrets",
        "429_echoing_secrets",
        "connect_error",
        "read_timeout",
        "reset",
    ],
)
async def test_failing_calls_show_no_secret(api: Any, debug_logs: pytest.LogCaptureFixture, failure: str) -> None:
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client(max_retries=1)
    count = 11 * 2  # every call (10 + the stream), each with one retry
    if failure == "401_echoing_secrets":
        gateway.queue_error(401, {"error": {"message": f"bad credentials: {ECHO}", "type": "auth"}}, times=count)
    elif failure == "422_echoing_secrets":
        gateway.queue_error(422, {"detail": [{"msg": ECHO, "input": {"key": BYOK_KEY}}]}, times=count)
    elif failure == "500_html_echoing_secrets":
        page = f"<html><title>Error</title><body>Authorization: Bearer {API_KEY} {ECHO}</body></html>".encode()
        gateway.queue_error(500, page, times=count)
    elif failure == "429_echoing_secrets":
        gateway.queue_error(429, {"error": ECHO}, headers={"retry-after-ms": "1"}, times=count)
    else:
        kind = {"connect_error": "connect", "read_timeout": "timeout", "reset": "reset"}[failure]
        gateway.queue_failure(kind, times=count)  # type: ignore[arg-type]
    seen = Exposure()
    failures = await run_all(api, client, seen, failure)
    assert failures == 11
    seen.texts += log_texts(debug_logs)
    assert not seen.leaks(), seen.leaks()


@pytest.mark.parametrize("style", ["event", "data"])
async def test_stream_error_echoing_the_key_is_redacted(api: Any, style: str) -> None:
    """An error event quoting the caller's key: the StreamError must not repeat it."""
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client()
    gateway.queue_stream(["a", "b", "c"], error_after=1, error_message=ECHO, error_style=style)
    seen = Exposure()
    await run_all_stream_only(api, client, seen)
    assert not seen.leaks(), seen.leaks()


async def run_all_stream_only(api: Any, client: Any, seen: Exposure) -> None:
    try:
        stream = client.ai.stream(MESSAGES)
        await drain(api, stream)
    except NeureusError as exc:
        seen.add_error("stream", exc)
    else:  # pragma: no cover - the scripted stream fails
        pytest.fail("the stream did not fail")


async def test_undecodable_stream_event_echoing_the_key_is_redacted(api: Any) -> None:
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client()
    gateway.queue_error(
        200,
        f"data: not json, {API_KEY}\n\n".encode(),
        headers={"content-type": "text/event-stream"},
        path="/ai/chat",
    )
    seen = Exposure()
    await run_all_stream_only(api, client, seen)
    assert not seen.leaks(), seen.leaks()


@pytest.mark.parametrize("status", [400, 422, 500])
async def test_status_error_echoing_an_odd_byok_key_is_redacted(api: Any, status: int) -> None:
    """The key of this call is known to be a secret whatever its shape."""
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client(max_retries=0)
    gateway.queue_error(status, {"error": {"message": f"rejected key {ODD_BYOK_KEY}"}, "key": ODD_BYOK_KEY})
    seen = Exposure()
    with pytest.raises(neureus.APIStatusError) as caught:
        await api.run(client.ai.set_provider_key("google", ODD_BYOK_KEY))
    seen.add_error("set_provider_key", caught.value)
    assert not seen.leaks(), seen.leaks()


async def test_unreadable_2xx_echoing_a_byok_key_is_redacted(api: Any) -> None:
    """A 200 the SDK cannot read that quotes the provider key just sent (any key shape)."""
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client()
    gateway.queue_error(
        200, f'{{"configured": [], "echo": "{ODD_BYOK_KEY}"}}'.encode(), path="/ai/providers/google/key"
    )
    seen = Exposure()
    with pytest.raises(neureus.APIResponseValidationError) as caught:
        await api.run(client.ai.set_provider_key("google", ODD_BYOK_KEY))
    seen.add_error("set_provider_key", caught.value)
    assert not seen.leaks(), seen.leaks()


async def test_widget_key_model_is_redacted_but_holds_the_full_value() -> None:
    key = neureus.WidgetKey(key=WIDGET_KEY, key_preview="pk_live")
    assert key.key == WIDGET_KEY
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert WIDGET_KEY not in text
        assert "pk_l" in text


async def test_invalid_api_key_is_redacted_in_the_configuration_error() -> None:
    for bad in (API_KEY + "\n", " " + API_KEY, API_KEY + " trailing", API_KEY + "é"):
        with pytest.raises(neureus.ConfigurationError) as caught:
            neureus.Neureus(api_key=bad, base_url="http://127.0.0.1:9")
        assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)


ODD_API_KEY = "ZZq7SECRETplainApiKey0123456789abcdef"


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_an_odd_shaped_api_key_echoed_back_is_redacted(
    api: Any, debug_logs: pytest.LogCaptureFixture, status: int
) -> None:
    """An API key of no known shape: the SDK still knows it is the secret of every call."""
    gateway = FakeGateway(api_key=ODD_API_KEY)
    api.gateway = gateway
    client = api.client(max_retries=1)
    gateway.queue_error(status, {"error": {"message": f"key {ODD_API_KEY} refused", "key": ODD_API_KEY}}, times=40)
    seen = Exposure()
    seen.add("client", client)
    failures = await run_all(api, client, seen, "odd")
    assert failures == 11
    seen.texts += log_texts(debug_logs)
    assert not seen.leaks((ODD_API_KEY,)), seen.leaks((ODD_API_KEY,))


async def test_an_error_body_keyed_by_the_secret_is_redacted(api: Any) -> None:
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client(max_retries=0)
    gateway.queue_error(422, {"errors": {ODD_BYOK_KEY: "invalid", BYOK_KEY: "revoked"}})
    seen = Exposure()
    with pytest.raises(neureus.UnprocessableEntityError) as caught:
        await api.run(client.ai.set_provider_key("google", ODD_BYOK_KEY))
    seen.add_error("set_provider_key", caught.value)
    assert not seen.leaks(), seen.leaks()


@pytest.mark.parametrize("shape", ["field", "nested"])
async def test_a_success_answer_echoing_the_key_is_not_shown(api: Any, shape: str) -> None:
    gateway = make_gateway()
    api.gateway = gateway
    client = api.client()
    echo: dict[str, Any] = {"key": ODD_BYOK_KEY} if shape == "field" else {"debug": {"received": ODD_BYOK_KEY}}
    gateway.queue_error(200, {"provider": "google", "configured": True, **echo}, path="/ai/providers/google/key")
    seen = Exposure()
    result = await api.run(client.ai.set_provider_key("google", ODD_BYOK_KEY))
    assert result.configured
    seen.add("set_provider_key result", result)
    assert not seen.leaks(), seen.leaks()
