from __future__ import annotations

import httpx
import pytest

from neureus import AuthenticationError, InternalServerError, Neureus
from neureus.testing import FakeGateway, RecordedRequest

MESSAGES = [{"role": "user", "content": "Hello"}]


def raw(gateway: FakeGateway, method: str, path: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(transport=httpx.MockTransport(gateway.handle), base_url="https://gw.test") as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_the_pytest_fixture_comes_from_the_plugin(fake_gateway: FakeGateway) -> None:
    assert isinstance(fake_gateway, FakeGateway) and fake_gateway.requests == []


def test_records_requests_with_json_and_redacted_repr() -> None:
    gateway = FakeGateway()
    with gateway.client() as client:
        client.ai.chat(MESSAGES, model="gpt-4o")
    request = gateway.last_request
    assert isinstance(request, RecordedRequest)
    assert (request.method, request.path, request.json["model"]) == ("POST", "/ai/chat", "gpt-4o")
    assert request.api_key == gateway.api_key
    assert gateway.api_key not in repr(request)
    assert "1 requests" in repr(gateway)
    assert gateway.requests_to("/ai/chat") == [request]


def test_last_request_when_there_is_none() -> None:
    with pytest.raises(AssertionError, match="no request"):
        _ = FakeGateway().last_request


def test_default_reply_echoes_the_prompt_and_queued_replies_come_first() -> None:
    gateway = FakeGateway()
    gateway.queue_reply("first")
    with gateway.client() as client:
        assert client.ai.chat(MESSAGES).text == "first"
        assert client.ai.chat(MESSAGES).text == "Hello from the Neureus emulator! You said: Hello"
        gateway.queue_stream(["a", "b"])
        assert client.ai.chat(MESSAGES).text == "ab"


def test_bearer_key_is_checked() -> None:
    gateway = FakeGateway(valid_keys=["nru_good_0123456789"])
    assert raw(gateway, "GET", "/ai/models").status_code == 401
    assert raw(gateway, "GET", "/ai/models", headers={"authorization": "Bearer "}).status_code == 401
    with gateway.client(api_key="nru_bad_00000000000") as client, pytest.raises(AuthenticationError):
        client.ai.list_models()
    with gateway.client(api_key="nru_good_0123456789") as client:
        assert client.ai.list_models().models


def test_queued_errors_by_path_and_count() -> None:
    gateway = FakeGateway()
    gateway.queue_error(500, path="/ai/models", times=2)
    assert (
        raw(gateway, "POST", "/ai/chat", json={"messages": MESSAGES}, headers={"authorization": "Bearer k"}).status_code
        == 200
    )
    assert raw(gateway, "GET", "/ai/models", headers={"authorization": "Bearer k"}).status_code == 500
    assert raw(gateway, "GET", "/ai/models", headers={"authorization": "Bearer k"}).status_code == 500
    assert raw(gateway, "GET", "/ai/models", headers={"authorization": "Bearer k"}).status_code == 200


def test_queued_failures_raise_transport_errors() -> None:
    gateway = FakeGateway()
    for kind, error in (("connect", httpx.ConnectError), ("timeout", httpx.ReadTimeout), ("read", httpx.ReadError)):
        gateway.queue_failure(kind)  # type: ignore[arg-type]
        with pytest.raises(error):
            raw(gateway, "GET", "/ai/models", headers={"authorization": "Bearer k"})


def test_emulator_validates_like_the_gateway() -> None:
    gateway = FakeGateway(strict_models=True)
    auth = {"authorization": "Bearer k"}
    assert raw(gateway, "POST", "/ai/chat", content=b"[]", headers=auth).status_code == 400
    assert raw(gateway, "POST", "/ai/chat", json={"messages": []}, headers=auth).status_code == 400
    bad_role = {"messages": [{"role": "x", "content": "a"}]}
    assert raw(gateway, "POST", "/ai/chat", json=bad_role, headers=auth).status_code == 400
    bad_temp = {"messages": MESSAGES, "temperature": 9}
    assert raw(gateway, "POST", "/ai/chat", json=bad_temp, headers=auth).status_code == 400
    unknown = {"messages": MESSAGES, "model": "nope"}
    assert raw(gateway, "POST", "/ai/chat", json=unknown, headers=auth).status_code == 404
    assert raw(gateway, "GET", "/ai/nothing", headers=auth).status_code == 404
    assert raw(gateway, "POST", "/ai/embeddings", json={"input": []}, headers=auth).status_code == 400
    assert raw(gateway, "PUT", "/ai/providers/openai/key", json={}, headers=auth).status_code == 400
    assert raw(gateway, "POST", "/ai/providers/openai/rotate", json={"key": "k"}, headers=auth).status_code == 404


def test_byok_values_are_never_echoed() -> None:
    gateway = FakeGateway()
    with gateway.client() as client:
        client.ai.set_provider_key("openai", "sk-very-secret-value-1")
    answer = raw(gateway, "GET", "/ai/providers", headers={"authorization": f"Bearer {gateway.api_key}"})
    assert "sk-very-secret" not in answer.text and "openai" in answer.text


def test_reset_forgets_everything() -> None:
    gateway = FakeGateway()
    with gateway.client() as client:
        client.ai.set_provider_key("openai", "sk-1234567890")
    gateway.queue_reply("x")
    gateway.queue_error(500)
    gateway.reset()
    assert gateway.requests == [] and gateway.provider_keys == {}
    with gateway.client(max_retries=0) as client:
        assert client.ai.chat(MESSAGES).text.startswith("Hello from the Neureus emulator")


def test_client_options_can_be_overridden() -> None:
    gateway = FakeGateway()
    gateway.queue_error(503, times=5)
    with gateway.client(max_retries=1) as client, pytest.raises(InternalServerError):
        client.ai.chat(MESSAGES)
    assert len(gateway.requests) == 2
    assert isinstance(gateway.client(), Neureus)


def test_clients_close_the_pool_they_were_given_by_the_gateway() -> None:
    gateway = FakeGateway()
    client = gateway.client()
    client.close()
    assert client.is_closed
    mine = httpx.Client(transport=httpx.MockTransport(gateway.handle))
    with gateway.client(http_client=mine):
        pass
    assert not mine.is_closed  # a pool the caller passed stays the caller's
    mine.close()


def test_gateway_clients_use_the_sdk_default_timeout() -> None:
    from neureus._config import DEFAULT_TIMEOUT

    gateway = FakeGateway()
    with gateway.client() as client:
        assert client.timeout == DEFAULT_TIMEOUT
    with gateway.client(timeout=2.0) as client:
        assert client.timeout == httpx.Timeout(2.0)


def test_an_unknown_name_of_the_testing_kit_is_an_attribute_error() -> None:
    import neureus.testing

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        neureus.testing.nope  # noqa: B018


def test_a_recorded_body_that_is_not_json_reads_as_none() -> None:
    assert RecordedRequest("POST", "/x", {}, {}, b"not json").json is None
    assert RecordedRequest("POST", "/x", {}, {}, b"").json is None
    assert RecordedRequest("POST", "/x", {}, {}, b'{"a": 1}').json == {"a": 1}
