"""A client builds its base headers (key, user agent, default headers) and its endpoint URLs
once; a ``with_options`` copy must send its own, never its parent's, and what one request
did to its headers must never reach the next (API.md ``with_options``, docs/security.md).

Attacked through a caller-owned httpx client that records every request it sends: the
parent's caches are warm before the copy is made, the calls interleave, and a request
event hook rewrites the headers of the request it sees.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio

PARENT_KEY = "nru_parent_0123456789abcdef"
COPY_KEY = "nru_copy_0123456789abcdefgh"


def recording_http(api: Api, sent: list[httpx.Request], **options: Any) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"models": []})
        return httpx.Response(200, json={"response": "ok", "logId": "l"})

    transport = httpx.MockTransport(answer)
    if api.is_async:
        return httpx.AsyncClient(transport=transport, **options)
    return httpx.Client(transport=transport, **options)


async def test_a_copy_never_sends_its_parents_cached_key_url_or_headers(api: Api) -> None:
    sent: list[httpx.Request] = []
    http = recording_http(api, sent)
    parent = api.real_client(
        api_key=PARENT_KEY, base_url="http://127.0.0.1:1/a", default_headers={"X-T": "parent"}, http_client=http
    )
    await api.run(parent.ai.chat(MESSAGES))  # the parent's caches are warm
    copy = parent.with_options(api_key=COPY_KEY, base_url="http://127.0.0.2:2/b", default_headers={"X-T": "copy"})
    grandchild = copy.with_options(max_retries=0)  # inherits the copy's, not the parent's
    for client in (copy, parent, grandchild, copy, parent):
        await api.run(client.ai.chat(MESSAGES))
    seen = [(r.headers["authorization"], str(r.url), r.headers["x-t"]) for r in sent]
    as_parent = (f"Bearer {PARENT_KEY}", "http://127.0.0.1:1/a/ai/chat", "parent")
    as_copy = (f"Bearer {COPY_KEY}", "http://127.0.0.2:2/b/ai/chat", "copy")
    assert seen == [as_parent, as_copy, as_parent, as_copy, as_copy, as_parent]
    await api.close(http)


async def test_a_request_hook_that_rewrites_headers_touches_only_that_request(api: Api) -> None:
    sent: list[httpx.Request] = []
    rewritten = 0

    def rewrite(request: httpx.Request) -> None:
        nonlocal rewritten
        if rewritten == 0:
            request.headers["x-injected"] = "1"
            request.headers["authorization"] = "Bearer hijacked"
            request.headers["user-agent"] = "hooked"
        rewritten += 1

    async def arewrite(request: httpx.Request) -> None:
        rewrite(request)

    http = recording_http(api, sent, event_hooks={"request": [arewrite if api.is_async else rewrite]})
    client = api.real_client(api_key=PARENT_KEY, base_url="http://127.0.0.1:1", http_client=http)
    for _ in range(3):
        await api.run(client.ai.chat(MESSAGES))
    assert rewritten == 3
    first, *rest = sent
    assert (first.headers["authorization"], first.headers["x-injected"]) == ("Bearer hijacked", "1")
    for request in rest:  # the client's own headers, as built once, untouched by the hook
        assert request.headers["authorization"] == f"Bearer {PARENT_KEY}"
        assert "x-injected" not in request.headers
        assert request.headers["user-agent"].startswith("neureus-python/")
    await api.close(http)


async def test_one_calls_headers_never_stay_in_the_clients_cached_ones(api: Api) -> None:
    sent: list[httpx.Request] = []
    http = recording_http(api, sent)
    client = api.real_client(api_key=PARENT_KEY, base_url="http://127.0.0.1:1", http_client=http)
    await api.run(client.ai.chat(MESSAGES, extra_headers={"X-Once": "1", "Authorization": "Bearer per-call"}))
    await api.run(client.ai.chat(MESSAGES))
    await api.run(client.ai.list_models())
    once, with_body, plain = sent
    assert (once.headers["x-once"], once.headers["authorization"]) == ("1", "Bearer per-call")
    for request in (with_body, plain):
        assert "x-once" not in request.headers
        assert request.headers["authorization"] == f"Bearer {PARENT_KEY}"
    assert "content-type" not in plain.headers
    await api.close(http)
