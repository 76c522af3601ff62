"""Retries never duplicate what must not be; the server's x-should-retry wins; TLS and
local header failures are raised at once."""

from __future__ import annotations

import logging
import socket
import ssl

import pytest

from neureus import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    NeureusError,
)

from . import server as acts
from .conftest import FAST, KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]

WIDGET = b'{"key": "pk_live_abcdefghijklmnop", "keyPreview": "pk_live_ab"}'


def _non_idempotent(client, which: str):  # type: ignore[no-untyped-def]
    if which == "create_widget_key":
        return client.ai.create_widget_key()
    return client.ai.rotate_provider_key("openai", "sk-rotated-secret-value-1234")


NON_IDEMPOTENT = ["create_widget_key", "rotate_provider_key"]


# A lost answer, a 500, and a 429 or 503 for these two calls: tests/faults (NON_IDEMPOTENT).


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("which", NON_IDEMPOTENT)
async def test_a_refused_connection_is_retried(api, which: str, caplog: pytest.LogCaptureFixture) -> None:
    client = api.real_client(
        api_key=KEY, base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=2, retry_policy=FAST
    )
    with caplog.at_level(logging.INFO, logger="neureus"), pytest.raises(APIConnectionError):
        await api.run(_non_idempotent(client, which))
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


async def test_x_should_retry_false_stops_a_retry(api, hostile: HostileServer) -> None:
    hostile.script(acts.ok(b'{"error": "no"}', 503, {"x-should-retry": "false"}))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    with pytest.raises(InternalServerError):
        await api.run(client.ai.chat(MESSAGES))
    assert len(hostile.requests) == 1


async def test_x_should_retry_true_retries_a_400(api, hostile: HostileServer) -> None:
    hostile.script(acts.ok(b'{"error": "again"}', 400, {"x-should-retry": "true"}), acts.ok())
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"
    assert len(hostile.requests) == 2


async def test_x_should_retry_true_retries_create_widget_key(api, hostile: HostileServer) -> None:
    hostile.script(acts.ok(b'{"error": "boom"}', 500, {"x-should-retry": "true"}), acts.ok(WIDGET))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    await api.run(client.ai.create_widget_key())
    assert len(hostile.requests) == 2


async def test_without_the_header_a_400_is_not_retried(api, hostile: HostileServer) -> None:
    hostile.script(acts.ok(b'{"error": "bad"}', 400))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    with pytest.raises(BadRequestError):
        await api.run(client.ai.chat(MESSAGES))
    assert len(hostile.requests) == 1


@pytest.fixture
def tls_server():  # type: ignore[no-untyped-def]
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()  # a fresh CA nobody trusts
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with HostileServer(tls=context) as server:
        yield server


async def test_a_tls_certificate_failure_is_raised_at_once(api, tls_server: HostileServer) -> None:
    client = api.real_client(api_key=KEY, base_url=tls_server.url, max_retries=2, retry_policy=FAST)
    with pytest.raises(APIConnectionError, match=r"(?i)certificate") as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert not isinstance(caught.value, APIStatusError)
    assert tls_server.connections == 1  # 0.1 tried three times
    assert tls_server.requests == []


async def test_a_local_header_error_is_not_a_connection_error(api, hostile: HostileServer) -> None:
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    with pytest.raises(NeureusError) as caught:
        await api.run(client.ai.chat(MESSAGES, extra_headers={"x-note": "a\x0bb"}))
    assert not isinstance(caught.value, APIConnectionError)
    assert hostile.requests == []
