from __future__ import annotations

import httpx
import pytest

from neureus import APIConnectionError, Neureus, RetryPolicy
from neureus.testing import EmulatorServer, FakeGateway

MESSAGES = [{"role": "user", "content": "Hello"}]


def test_refuses_a_public_host() -> None:
    with pytest.raises(ValueError, match="not a loopback"):
        EmulatorServer(host="0.0.0.0")


def test_serves_every_endpoint_over_real_http() -> None:
    gateway = FakeGateway()
    with EmulatorServer(gateway) as server:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        with Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
            assert client.ai.chat(MESSAGES).text
            assert [t for t in client.ai.stream(MESSAGES)]
            assert client.ai.list_models(provider="openai").models
            assert client.ai.embeddings(["a", "b"]).embeddings
            client.ai.set_provider_key("openai", "sk-local-000000001")
            assert client.ai.list_providers().configured == ["openai"]
            widget = client.ai.create_widget_key()
            assert client.ai.revoke_widget_key(widget.key).revoked
        assert [r.path for r in gateway.requests][:3] == ["/ai/chat", "/ai/chat", "/ai/models"]
        assert len(gateway.requests) == 8


def test_emulated_failure_drops_the_connection() -> None:
    gateway = FakeGateway()
    gateway.queue_failure("reset", times=5)
    with (
        EmulatorServer(gateway) as server,
        Neureus(
            api_key="nru_local_0123456789",
            base_url=server.base_url,
            max_retries=1,
            retry_policy=RetryPolicy(initial_wait=0.001, max_wait=0.002),
        ) as client,
        pytest.raises(APIConnectionError),
    ):
        client.ai.list_models()


def test_html_error_pages_travel_as_is() -> None:
    gateway = FakeGateway()
    gateway.queue_error(502, b"<html><title>Bad Gateway</title></html>")
    with EmulatorServer(gateway) as server:
        response = httpx.get(server.base_url + "/ai/models", headers={"authorization": "Bearer k"})
    assert response.status_code == 502 and response.headers["content-type"] == "text/html"
    assert b"Bad Gateway" in response.content


def test_serves_on_ipv6_loopback() -> None:
    try:
        server = EmulatorServer(FakeGateway(), host="::1")
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with server, Neureus(api_key="nru_local_0123456789", base_url=server.base_url) as client:
        assert server.base_url.startswith("http://[::1]:")
        assert client.ai.list_models().models
