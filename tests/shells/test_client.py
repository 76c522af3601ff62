"""Client lifecycle, options and repr, sync and async (asyncio and trio)."""

from __future__ import annotations

import logging

import httpx
import pytest

from neureus import AsyncNeureus, ConfigurationError, Neureus, RetryPolicy
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio
KEY = "nru_live_0123456789abcdef9f3a"


async def test_missing_key_fails_at_construction(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEUREUS_API_KEY", raising=False)
    cls = AsyncNeureus if api.is_async else Neureus
    with pytest.raises(ConfigurationError, match="NEUREUS_API_KEY"):
        cls()


async def test_env_configuration(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUREUS_API_KEY", KEY)
    monkeypatch.setenv("NEUREUS_BASE_URL", "http://127.0.0.1:9/")
    client = api.real_client()
    assert client.api_key == KEY
    assert client.base_url == "http://127.0.0.1:9"
    assert client.timeout == httpx.Timeout(60.0, connect=10.0)
    assert client.max_retries == 2


async def test_repr_redacts_the_key(api: Api) -> None:
    client = api.real_client(api_key=KEY)
    assert KEY not in repr(client) and KEY not in str(client)
    assert "nru_…9f3a" in repr(client)


async def test_insecure_http_refused_unless_allowed(api: Api) -> None:
    cls = AsyncNeureus if api.is_async else Neureus
    with pytest.raises(ConfigurationError, match="clear text"):
        cls(api_key=KEY, base_url="http://gateway.example.com")
    client = api.real_client(api_key=KEY, base_url="http://gateway.example.com", allow_insecure_http=True)
    assert client.base_url == "http://gateway.example.com"


async def test_wrong_http_client_type_is_refused(api: Api) -> None:
    cls = AsyncNeureus if api.is_async else Neureus
    wrong = httpx.Client() if api.is_async else httpx.AsyncClient()
    with pytest.raises(ConfigurationError, match="http_client must be an httpx"):
        cls(api_key=KEY, http_client=wrong)  # type: ignore[arg-type]
    if isinstance(wrong, httpx.AsyncClient):
        await wrong.aclose()
    else:
        wrong.close()


async def test_context_manager_closes_the_owned_pool(api: Api) -> None:
    if api.is_async:
        async with AsyncNeureus(api_key=KEY) as client:
            assert not client.is_closed
        assert client.is_closed
        other = AsyncNeureus(api_key=KEY)
        await other.close()
        assert other.is_closed
    else:
        with Neureus(api_key=KEY) as sync_client:
            assert not sync_client.is_closed
        assert sync_client.is_closed


async def test_caller_owned_http_client_is_never_closed(api: Api) -> None:
    transport = httpx.MockTransport(api.gateway.handle)
    if api.is_async:
        owned = httpx.AsyncClient(transport=transport, timeout=3.0)
        async with AsyncNeureus(api_key=KEY, base_url="https://gw.test", http_client=owned) as client:
            assert client.timeout == httpx.Timeout(3.0)  # its own timeout is kept
            await client.ai.chat(MESSAGES)
        assert not owned.is_closed
        await owned.aclose()
    else:
        sync_owned = httpx.Client(transport=transport, timeout=3.0)
        with Neureus(api_key=KEY, base_url="https://gw.test", http_client=sync_owned) as sync_client:
            sync_client.ai.chat(MESSAGES)
        assert not sync_owned.is_closed
        sync_owned.close()


async def test_client_timeout_wins_over_the_http_clients(api: Api) -> None:
    # A caller-owned httpx client with a timeout of its own; the one each request carries
    # is what httpx enforces, so that is what is checked.
    used: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        used.append(request.extensions["timeout"])
        return api.gateway.handle(request)

    transport = httpx.MockTransport(handle)
    owned = (httpx.AsyncClient if api.is_async else httpx.Client)(transport=transport, timeout=3.0)
    client = api.real_client(api_key=KEY, base_url="https://gw.test", http_client=owned, timeout=4.0)
    assert client.timeout == httpx.Timeout(4.0)
    await api.run(client.ai.chat(MESSAGES))
    await api.run(client.ai.chat(MESSAGES, timeout=2.5))  # the call's own wins over both
    assert used == [httpx.Timeout(4.0).as_dict(), httpx.Timeout(2.5).as_dict()]
    await api.close(owned)


async def test_with_options_shares_the_pool_and_changes_only_what_is_given(api: Api) -> None:
    client = api.real_client(api_key=KEY, max_retries=3)
    copy = client.with_options(timeout=5, max_retries=0, deadline=9, retry_policy=RetryPolicy(initial_wait=0.1))
    assert copy._http is client._http
    assert (copy.max_retries, copy.timeout, copy.deadline) == (0, httpx.Timeout(5.0), 9.0)
    assert (client.max_retries, client.deadline) == (3, None)
    assert copy.api_key == KEY and type(copy) is type(client)
    await api.close(copy)
    assert not client.is_closed  # closing the copy leaves the shared pool open
    with pytest.raises(ConfigurationError):
        client.with_options(max_retries=-1)


async def test_with_options_changes_what_is_sent(api: Api) -> None:
    client = api.client()
    tagged = client.with_options(api_key="nru_other_key_123456789", surface="batch", default_headers={"X-T": "1"})
    await api.run(tagged.ai.chat(MESSAGES))
    sent = api.gateway.last_request
    assert sent.api_key == "nru_other_key_123456789"
    assert sent.headers["x-neureus-surface"] == "batch"
    assert sent.headers["x-t"] == "1"


async def test_default_headers_and_surface_on_every_request(api: Api) -> None:
    client = api.client(default_headers={"X-App": "demo"}, surface="web")
    await api.run(client.ai.chat(MESSAGES))
    await api.run(client.ai.list_models())
    for request in api.gateway.requests:
        assert request.headers["x-app"] == "demo"
        assert request.headers["x-neureus-surface"] == "web"
        assert request.headers["user-agent"].startswith("neureus-python/")


async def test_logging_records_calls_without_keys_or_bodies(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    client = api.client(api_key=KEY)
    api.gateway.queue_error(500, times=1)
    with caplog.at_level(logging.DEBUG, logger="neureus"):
        await api.run(client.ai.chat([{"role": "user", "content": "very private prompt"}]))
    text = caplog.text
    assert "POST /ai/chat -> 500" in text and "POST /ai/chat -> 200" in text
    assert "retrying POST /ai/chat" in text
    assert "sending POST /ai/chat (attempt 1 of 3" in text  # debug level adds a line per attempt
    assert KEY not in text and "very private prompt" not in text
    assert all(r.name == "neureus" for r in caplog.records)
