"""The transport keeps each call's headers as ``httpx.Headers`` (a speed shortcut): pinned
against the plain path, httpx building the request from the header dict itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from neureus import _wire

from ..conftest import Api

pytestmark = pytest.mark.anyio

KEY = "nru_test_prepared_headers_0123456789"
MESSAGES = [{"role": "user", "content": "Hello"}]
CALLS: list[dict[str, Any]] = [
    {},
    {"extra_headers": {"X-Trace": "abc", "Accept": "text/plain"}},
    {"compress": True, "debug": True, "surface": "batch"},
    {"model": "gpt-4o-mini", "timeout": 2.0},
]


def plain_path(http: httpx.Client | httpx.AsyncClient, config: Any, call: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The headers httpx sends when it is given the plain dict (no kept ``httpx.Headers``)."""
    spec = _wire.build_chat(config, MESSAGES, **call)
    args = _wire.http_request_args(config, spec, None)
    return list(http.build_request(**args).headers.raw)


async def test_the_kept_headers_send_what_the_plain_dict_sends(api: Api) -> None:
    sent: list[list[tuple[bytes, bytes]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(list(request.headers.raw))
        return api.gateway.handle(request)

    owned = (httpx.AsyncClient if api.is_async else httpx.Client)(transport=httpx.MockTransport(handle))
    client = api.real_client(api_key=KEY, base_url="https://gw.test", http_client=owned, default_headers={"X-D": "1"})
    for call in CALLS:
        expected = plain_path(owned, client._config, call)
        await api.run(client.ai.chat(MESSAGES, **call))  # first: built from the dict, then kept
        await api.run(client.ai.chat(MESSAGES, **call))  # second: the kept httpx.Headers
        assert sent[-2:] == [expected, expected]
    await api.run(client.ai.list_models())  # another endpoint, another set of headers
    assert (b"accept", b"application/json") in sent[-1] and (b"x-d", b"1") in sent[-1]
    await api.close(owned)


async def test_headers_past_the_kept_ones_are_still_sent_right(api: Api) -> None:
    client = api.client()
    for n in range(70):  # more distinct header sets than the transport keeps
        await api.run(client.ai.chat(MESSAGES, extra_headers={"X-N": str(n)}))
        assert api.gateway.last_request.headers["x-n"] == str(n)
    assert len(client._transport._prepared_headers) <= 64
