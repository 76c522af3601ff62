"""The SDK cannot be tricked into reaching the wrong place or sending the key in clear.

- ``http://`` to a host that is not loopback is refused (``ConfigurationError``) unless
  ``allow_insecure_http=True``; loopback is allowed; look-alike hosts are refused.
- A redirect is never followed by the SDK's own pool; a caller-owned client that follows
  redirects never carries the bearer key to another host (httpx drops it cross-origin).
- A provider name that could change the request path is refused locally, and nothing
  is sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import neureus
from neureus import ConfigurationError, InvalidRequestError, WidgetKeyScopeError
from tests.faults.server import FaultServer, Redirect

pytestmark = pytest.mark.anyio

API_KEY = "nru_live_REACHkey0123456789abcdef0123"
FAST = neureus.RetryPolicy(initial_wait=0.001, max_wait=0.004)

INSECURE = [
    "http://example.com",
    "http://api.neureus.ai",
    "http://10.0.0.1:8080",
    "http://192.168.1.10",
    "http://0.0.0.0:8787",
    "http://localhost.evil.com",
    # *.localhost is resolved through DNS (API.md, "Secrets, everywhere"): not loopback.
    "http://api.localhost",
    "http://[::ffff:127.0.0.1]",
    "http://127.0.0.1.nip.io",
    "http://127.0.0.1@evil.com",
    "http://evil.com:80@127.0.0.1.evil.com",
    "http://2130706433",
    "http://[::ffff:8.8.8.8]",
    "HTTP://EXAMPLE.COM",
]
LOOPBACK = [
    "http://127.0.0.1:8787",
    "http://127.5.6.7",
    "http://localhost:8787",
    "http://LOCALHOST",
    "http://[::1]:8787",
]


@pytest.mark.parametrize("url", INSECURE)
@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus])
def test_insecure_http_is_refused(cls: type[Any], url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        cls(api_key=API_KEY, base_url=url)
    monkeypatch.setenv("NEUREUS_BASE_URL", url)
    with pytest.raises(ConfigurationError):
        cls(api_key=API_KEY)


@pytest.mark.parametrize("url", INSECURE[:3])
def test_insecure_http_is_allowed_when_asked(url: str) -> None:
    with neureus.Neureus(api_key=API_KEY, base_url=url, allow_insecure_http=True) as client:
        assert client.base_url.startswith("http://")


def test_with_options_cannot_switch_to_insecure_http() -> None:
    with neureus.Neureus(api_key=API_KEY, base_url="https://app.neureus.ai") as client:
        with pytest.raises(ConfigurationError):
            client.with_options(base_url="http://example.com")


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_http_is_allowed(url: str) -> None:
    with neureus.Neureus(api_key=API_KEY, base_url=url) as client:
        assert client.base_url.lower().startswith("http://")


@pytest.mark.parametrize("url", ["ftp://example.com", "file:///etc/passwd", "example.com", "//example.com", ""])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        neureus.Neureus(api_key=API_KEY, base_url=url or "   ")


# -- redirects ---------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[tuple[FaultServer, FaultServer]]:
    with FaultServer() as first, FaultServer() as other:
        yield first, other


@pytest.mark.network
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_the_sdk_pool_never_follows_a_redirect(
    api: Any, servers: tuple[FaultServer, FaultServer], status: int
) -> None:
    first, other = servers
    first.script(Redirect(other.url + "/ai/models", status=status))
    client = api.real_client(api_key=API_KEY, base_url=first.url, retry_policy=FAST)
    with pytest.raises(neureus.APIStatusError) as caught:
        await api.run(client.ai.list_models())
    assert caught.value.status_code == status
    assert other.url + "/ai/models" in str(caught.value)  # the error names where it pointed
    assert len(first.requests) == 1  # a redirect is not retried
    assert other.requests == []
    assert API_KEY not in str(caught.value)


@pytest.mark.network
@pytest.mark.parametrize("status", [302, 307, 308])
async def test_a_following_caller_client_drops_the_key_on_another_host(
    api: Any, servers: tuple[FaultServer, FaultServer], status: int
) -> None:
    first, other = servers
    first.script(Redirect(other.url + "/ai/models", status=status))
    http: Any = (httpx.AsyncClient if api.is_async else httpx.Client)(follow_redirects=True, timeout=5.0)
    client = api.real_client(api_key=API_KEY, base_url=first.url, retry_policy=FAST, http_client=http)
    try:
        models = await api.run(client.ai.list_models())
    finally:
        await api.close(http)
    assert len(models) == 1  # the other host answered the default model list
    assert len(other.requests) == 1
    received = other.requests[0]
    assert "authorization" not in received.headers
    assert API_KEY not in repr(received.headers) and API_KEY.encode() not in received.body
    assert first.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


# -- provider path injection -------------------------------------------------------------

BAD_PROVIDERS = [
    "../widget",
    "..",
    ".",
    "OpenAI/x",
    "openai/x",
    "openai/../widget",
    "",
    " ",
    "a/../../b",
    "%2e%2e%2fwidget",
    "%2E%2E/widget",
    "openai%2Fx",
    "..%2fwidget",
    "%2e%2e",
    "openai?x=1",
    "openai#frag",
    "openai\\..\\widget",
    "open ai",
    "openai\n",
    "openai\r\nX-Injected: 1",
    "openai\x00",
    "ｏｐｅｎａｉ",
    "OPENAI",
    "-openai",
    "_openai",
    "a" * 65,
    "openai;rm",
    "@evil.com",
    "http://evil.com/",
]
NOT_STRINGS: list[Any] = [None, 1, b"openai", ["openai"], {"provider": "openai"}]


def provider_calls(client: Any, provider: Any) -> list[Any]:
    return [
        lambda: client.ai.set_provider_key(provider, "sk-test-0123456789abcdef"),
        lambda: client.ai.rotate_provider_key(provider, "sk-test-0123456789abcdef"),
        lambda: client.ai.delete_provider_key(provider),
    ]


@pytest.mark.parametrize("provider", BAD_PROVIDERS + NOT_STRINGS, ids=repr)
async def test_provider_path_injection_is_refused_locally(api: Any, provider: Any) -> None:
    client = api.client()
    for thunk in provider_calls(client, provider):
        with pytest.raises(InvalidRequestError) as caught:
            await api.run(thunk())
        assert isinstance(caught.value, ValueError)
    assert api.gateway.requests == [], "a request was sent"


async def test_good_provider_names_are_sent_as_one_path_segment(api: Any) -> None:
    client = api.client()
    for provider in ("openai", "anthropic", "workers-ai", "my_provider2", "a"):
        # The emulator supports only some providers; the path is what matters.
        with contextlib.suppress(neureus.APIStatusError):
            await api.run(client.ai.set_provider_key(provider, "sk-test-0123456789abcdef"))
        assert api.gateway.requests[-1].path == f"/ai/providers/{provider}/key"


async def test_widget_key_cannot_reach_other_endpoints(api: Any) -> None:
    client = api.client(api_key="pk_live_0123456789abcdef0123")
    thunks: list[Callable[[], Any]] = [
        lambda: client.ai.list_models(),
        lambda: client.ai.list_providers(),
        lambda: client.ai.embeddings("x"),
        lambda: client.ai.set_provider_key("openai", "sk-0123456789abcdef"),
        lambda: client.ai.delete_provider_key("openai"),
        lambda: client.ai.create_widget_key(),
        lambda: client.ai.revoke_widget_key("pk_other0123456789"),
    ]
    for thunk in thunks:
        with pytest.raises(WidgetKeyScopeError):
            await api.run(thunk())
    assert api.gateway.requests == []


@pytest.mark.parametrize(
    "headers",
    [{"x-a": "1\r\nX-Injected: 1"}, {"x-a\r\nX-Injected": "1"}, {"x-a": "1\nAuthorization: Bearer evil"}],
)
async def test_header_injection_is_refused(api: Any, headers: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        api.client(default_headers=headers)
    client = api.client()
    with pytest.raises(InvalidRequestError):
        await api.run(client.ai.chat([{"role": "user", "content": "x"}], extra_headers=headers))
    assert api.gateway.requests == []
