"""Hostile answers: deeply nested JSON, huge or control-laden error text.

Only typed errors come out (API.md, "Only typed errors"): no ``RecursionError`` from a
662-byte body of nested arrays, on an error status or on a success. Server text in
messages and log lines has control characters escaped and is cut at 2,000 characters
(API.md, "Secrets, everywhere"): no forged log lines, no terminal escape sequences, no
5 MB exception messages. Sync, asyncio and trio through the public API.
"""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import pytest

import neureus
from neureus import RetryPolicy

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "Hello"}]
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.001, jitter=lambda: 0.0)
JSON = {"content-type": "application/json"}


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def survives_copies(error: BaseException) -> None:
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is type(error) and str(copied) == str(error)


@pytest.mark.parametrize("depth", [331, 5000, 100_000])
async def test_a_deeply_nested_error_body_is_a_status_error(api: Any, depth: int) -> None:
    """331 levels is 662 bytes: enough to raise RecursionError in 0.1."""
    client = api.client(max_retries=1, retry_policy=FAST)
    api.gateway.queue_error(503, nested(depth), headers=JSON, times=2)
    with pytest.raises(neureus.InternalServerError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert caught.value.status_code == 503
    assert len(api.gateway.requests) == 2  # retried as a 503, not crashed
    assert len(str(caught.value)) < 2600
    survives_copies(caught.value)


@pytest.mark.parametrize("shape", ["object", "array_field", "error_member"])
async def test_deep_nesting_inside_an_error_object(api: Any, shape: str) -> None:
    inner = nested(400)
    body = {
        "object": b'{"error": {"message": "x", "extra": ' + inner + b"}}",
        "array_field": b'{"detail": ' + inner + b"}",
        "error_member": b'{"error": ' + nested(400, b'"deep message"') + b"}",
    }[shape]
    client = api.client(max_retries=0)
    api.gateway.queue_error(422, body, headers=JSON)
    with pytest.raises(neureus.UnprocessableEntityError) as caught:
        await api.run(client.ai.set_provider_key("openai", "sk-proj-0123456789abcdef"))
    survives_copies(caught.value)


CALLS = [
    ("/ai/chat", lambda c: c.ai.chat(MESSAGES)),
    ("/ai/embeddings", lambda c: c.ai.embeddings("a")),
    ("/ai/models", lambda c: c.ai.list_models()),
    ("/ai/providers", lambda c: c.ai.list_providers()),
    ("/ai/widget/key", lambda c: c.ai.create_widget_key()),
]


@pytest.mark.parametrize("depth", [250, 900, 50_000])
@pytest.mark.parametrize(("path", "call"), CALLS, ids=[c[0] for c in CALLS])
async def test_a_deeply_nested_success_body_is_a_validation_error(api: Any, path: str, call: Any, depth: int) -> None:
    client = api.client()
    api.gateway.queue_error(200, b'{"text": "hi", "models": [], "x": ' + nested(depth) + b"}", headers=JSON, path=path)
    with pytest.raises(neureus.APIResponseValidationError, match=r"nested too deeply|not valid JSON|does not match"):
        await api.run(call(client))


async def test_moderate_nesting_in_an_unknown_field_is_kept_and_copies(api: Any) -> None:
    client = api.client()
    api.gateway.queue_error(200, b'{"text": "hi", "x": ' + nested(60) + b"}", headers=JSON)
    reply = await api.run(client.ai.chat(MESSAGES))
    assert reply.text == "hi"
    assert pickle.loads(pickle.dumps(reply)) == reply == copy.deepcopy(reply)


EVIL = "bad\r\nINFO neureus forged line\n\x1b[2J\x1b]52;c;Y2xpcGJvYXJk\x07\u2028end\x00"


@pytest.mark.parametrize("shape", ["json", "html", "text"])
async def test_server_error_text_is_escaped_in_messages_and_logs(
    api: Any, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="neureus")
    client = api.client(max_retries=1, retry_policy=FAST)
    if shape == "json":
        api.gateway.queue_error(500, {"error": {"message": EVIL}}, times=2)
    elif shape == "html":
        api.gateway.queue_error(500, f"<html><title>{EVIL}</title></html>".encode(), times=2)
    else:
        api.gateway.queue_error(500, EVIL.encode(), headers={"content-type": "text/plain"}, times=2)
    with pytest.raises(neureus.InternalServerError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    for text in [str(caught.value), *(record.getMessage() for record in caplog.records)]:
        for raw in ("\r", "\n", "\x1b", "\x07", "\u2028", "\x00"):
            assert raw not in text, (raw, text)
    if shape == "json":
        assert "\\r\\nINFO neureus forged line\\n\\x1b[2J" in str(caught.value)  # escaped, still readable


async def test_a_control_character_in_the_request_id_is_escaped(api: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="neureus")
    client = api.client(max_retries=0)
    api.gateway.queue_error(400, {"error": "no"}, headers={"x-request-id": "req-1\x1b[31mred"})
    with pytest.raises(neureus.BadRequestError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert caught.value.request_id == "req-1\\x1b[31mred"
    assert "\x1b" not in str(caught.value) and "\x1b" not in caplog.text


@pytest.mark.parametrize("shape", ["json", "text"])
async def test_a_huge_server_message_is_cut_at_2000_characters(api: Any, shape: str) -> None:
    huge = "A" * 5_000_000
    client = api.client(max_retries=0)
    if shape == "json":
        api.gateway.queue_error(400, {"error": {"message": huge}})
    else:
        api.gateway.queue_error(400, huge.encode(), headers={"content-type": "text/plain"})
    with pytest.raises(neureus.BadRequestError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    message = str(caught.value)
    assert len(message) < 2200
    if shape == "json":
        assert "cut at 2000 of 5000000 characters" in message


async def test_a_stream_error_event_is_escaped_and_cut(api: Any) -> None:
    client = api.client()
    api.gateway.queue_stream(["a", "b"], error_after=1, error_message=EVIL + "B" * 100_000)
    with pytest.raises(neureus.StreamError) as caught:
        stream = client.ai.stream(MESSAGES)
        await api.collect(await api.run(stream) if api.is_async else stream)
    message = str(caught.value)
    assert len(message) < 2400
    assert "\n" not in message and "\x1b" not in message
    survives_copies(caught.value)
