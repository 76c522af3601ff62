"""A request that carries a secret never follows a redirect; loopback never uses a proxy."""

from __future__ import annotations

import httpx
import pytest

from neureus import APIStatusError

from . import server as acts
from .conftest import FAST, KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]

BYOK = "sk-byok-secret-value-0123456789"
WIDGET_KEY = "pk_live_secret_widget_key_0123"


def _secret_call(client, which: str):  # type: ignore[no-untyped-def]
    if which == "set_provider_key":
        return client.ai.set_provider_key("openai", BYOK)
    if which == "rotate_provider_key":
        return client.ai.rotate_provider_key("openai", BYOK)
    return client.ai.revoke_widget_key(WIDGET_KEY)


@pytest.mark.parametrize("which", ["set_provider_key", "rotate_provider_key", "revoke_widget_key"])
@pytest.mark.parametrize("status", [307, 308])
async def test_a_secret_never_follows_a_redirect(
    api, hostile: HostileServer, other: HostileServer, which: str, status: int
) -> None:
    hostile.script(acts.redirect(other.url + "/steal", status))
    http_class = httpx.AsyncClient if api.is_async else httpx.Client
    http = http_class(follow_redirects=True)
    client = api.real_client(api_key=KEY, base_url=hostile.url, http_client=http, retry_policy=FAST)
    try:
        with pytest.raises(APIStatusError) as caught:
            await api.run(_secret_call(client, which))
    finally:
        await api.close(http)
    assert caught.value.status_code == status
    assert other.url + "/steal" in str(caught.value)
    assert other.requests == []  # 0.1 re-sent the key there and reported success
    assert len(hostile.requests) == 1


def _proxy_act(conn, request):  # type: ignore[no-untyped-def]
    # A recording forward proxy: it answers for the origin itself.
    return conn.respond(200, acts.json_body({"text": "via proxy"}))


async def test_loopback_never_goes_through_a_proxy(
    api, hostile: HostileServer, other: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    other.default = _proxy_act
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, other.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0)
    assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"
    assert other.requests == []
    assert len(hostile.requests) == 1
    # with_options to another loopback address shares the pool and still goes direct.
    second = client.with_options(base_url=hostile.url.replace("127.0.0.1", "localhost"))
    assert (await api.run(second.ai.chat(MESSAGES))).text == "ok"
    assert other.requests == []


async def test_a_remote_host_still_uses_the_proxy(api, other: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    other.default = _proxy_act
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, other.url)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = api.real_client(api_key=KEY, base_url="http://gateway.invalid", allow_insecure_http=True, max_retries=0)
    assert (await api.run(client.ai.chat(MESSAGES))).text == "via proxy"
    assert len(other.requests) == 1
    assert other.requests[0].path == "http://gateway.invalid/ai/chat"
