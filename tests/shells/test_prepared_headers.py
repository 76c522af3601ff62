"""The transport keeps each call's headers as ``httpx.Headers`` (a speed shortcut): pinned
against the plain path, httpx building the request from the header dict itself. The
client's own headers are encoded once, whatever each call adds; a call's headers never
reach the next call; the kept headers never show a credential in their repr."""

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
    # a call's header that replaces one of the client's (its user agent, a default header)
    {"extra_headers": {"User-Agent": "mine/1.0", "X-D": "2"}},
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


def encodings_of(monkeypatch: pytest.MonkeyPatch, value: str) -> list[str]:
    """Every time httpx encodes ``value`` as a header value from now on (a counter)."""
    seen: list[str] = []
    encode = httpx._models._normalize_header_value

    def counting(header: str | bytes, encoding: str | None = None) -> bytes:
        if header == value:
            seen.append(value)
        return encode(header, encoding)

    monkeypatch.setattr(httpx._models, "_normalize_header_value", counting)
    return seen


async def test_a_fresh_extra_header_does_not_encode_the_client_s_headers_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = encodings_of(monkeypatch, f"Bearer {KEY}")
    client = api.client(api_key=KEY)
    await api.run(client.ai.chat(MESSAGES))
    assert len(base) == 1  # the first call encodes the client's headers, once
    for n in range(3 * 64):  # a new trace id on every call: more sets than are kept
        await api.run(client.ai.chat(MESSAGES, extra_headers={"X-Trace": f"t{n}"}))
        assert api.gateway.last_request.headers["x-trace"] == f"t{n}"
        assert api.gateway.last_request.headers["authorization"] == f"Bearer {KEY}"
    assert len(base) == 1


async def test_a_call_s_headers_never_reach_the_next_call(api: Api) -> None:
    client = api.client(api_key=KEY, default_headers={"X-D": "1"})
    for n in range(100):  # past the kept sets, more than once
        extra = {"X-Trace": f"t{n}", "User-Agent": "mine/1.0", "X-D": "2"} if n % 3 == 0 else {"X-Trace": f"t{n}"}
        await api.run(client.ai.chat(MESSAGES, extra_headers=extra))
        sent = api.gateway.last_request.headers
        assert [sent[name] for name in ("x-trace", "user-agent", "x-d")] == [
            f"t{n}",
            "mine/1.0" if n % 3 == 0 else _wire.USER_AGENT,
            "2" if n % 3 == 0 else "1",
        ]
        await api.run(client.ai.chat(MESSAGES))
        sent = api.gateway.last_request.headers
        assert "x-trace" not in sent and sent["user-agent"] == _wire.USER_AGENT and sent["x-d"] == "1"


DEFAULT_SECRET = "hdr_SECRET_default_0123456789abcdef"
CALL_SECRET = "hdr_SECRET_percall_0123456789abcdef"


async def test_the_kept_headers_never_show_a_credential_in_their_repr(api: Api) -> None:
    shown: list[str] = []
    base: Any = httpx.AsyncClient if api.is_async else httpx.Client

    class Recording(base):  # type: ignore[misc,valid-type]
        def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
            shown.append(repr(kwargs["headers"]))  # what a frame's locals would show
            return super().build_request(*args, **kwargs)  # type: ignore[no-any-return]

    owned = Recording(transport=httpx.MockTransport(api.gateway.handle))
    client = api.real_client(
        api_key=KEY, base_url="https://gw.test", http_client=owned, default_headers={"X-Api-Key": DEFAULT_SECRET}
    )
    for extra in ({}, {"X-Session-Token": CALL_SECRET}, {"User-Agent": "mine/1.0", "X-Session-Token": CALL_SECRET}):
        await api.run(client.ai.chat(MESSAGES, extra_headers=extra))
        sent = api.gateway.last_request.headers
        assert sent["x-api-key"] == DEFAULT_SECRET and sent.get("x-session-token", CALL_SECRET) == CALL_SECRET
    assert len(shown) == 3 and all("x-api-key" in text for text in shown)
    assert [text for text in shown if KEY in text or DEFAULT_SECRET in text or CALL_SECRET in text] == []
    await api.close(owned)
