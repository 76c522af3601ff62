"""Random input into every local check: only the documented refusals, and nothing sent.

Provider names, roles and messages, temperatures, max_tokens, keys, embedding input,
chat keywords, and the client's own options (api_key, base_url, timeout, headers).
A refusal is ``InvalidRequestError`` (at a call) or ``ConfigurationError`` (at
construction), both ``ValueError``s; ``WidgetKeyScopeError`` for a ``pk_`` key.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import neureus
from neureus import ConfigurationError, InvalidRequestError
from neureus import _validation as v
from neureus._config import DEFAULT_BASE_URL
from neureus.testing import FakeGateway

from ._profiles import FUZZ, FUZZ_IO

PROVIDER_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
ANY_TEXT = st.text(max_size=40)
NASTY_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["../widget", "OpenAI/x", "", "a/../../b", "%2e%2e%2f", "openai%2Fx", "openai\n", "ｏｐｅｎａｉ"]),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9_./%\\-]{0,20}", fullmatch=True),
)
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(ANY_TEXT, st.integers(), max_size=3),
)


@FUZZ
@given(st.one_of(NASTY_TEXT, ANYTHING))
def test_provider_names(provider: Any) -> None:
    try:
        name = v.check_provider(provider)
    except InvalidRequestError:
        assert not (isinstance(provider, str) and PROVIDER_RE.fullmatch(provider) and len(provider) <= 64)
        return
    assert name == provider
    assert PROVIDER_RE.fullmatch(name) and len(name) <= 64
    assert "/" not in name and "." not in name and "%" not in name


ROLE = st.one_of(st.sampled_from(["system", "user", "assistant"]), ANY_TEXT, ANYTHING)
MESSAGE = st.one_of(
    st.fixed_dictionaries({}, optional={"role": ROLE, "content": st.one_of(ANY_TEXT, ANYTHING), "name": ANY_TEXT}),
    ANYTHING,
    st.builds(neureus.ChatMessage, role=st.sampled_from(["system", "user", "assistant"]), content=ANY_TEXT),
)


@FUZZ
@given(st.one_of(st.lists(MESSAGE, max_size=4), ANYTHING, st.tuples(MESSAGE)))
def test_messages(messages: Any) -> None:
    try:
        wire = v.messages_to_wire(messages)
    except InvalidRequestError:
        return
    assert wire
    for message in wire:
        assert message["role"] in v.ROLES
        assert isinstance(message["content"], str)


@FUZZ
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), ANYTHING))
def test_temperature(value: Any) -> None:
    try:
        v.check_temperature(value)
    except InvalidRequestError:
        ok = value is None or (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and not math.isnan(value)
            and 0 <= value <= 2
        )
        assert not ok
        return
    assert value is None or (not isinstance(value, bool) and 0 <= value <= 2)


@FUZZ
@given(st.one_of(st.integers(), ANYTHING))
def test_max_tokens(value: Any) -> None:
    try:
        v.check_max_tokens(value)
    except InvalidRequestError:
        return
    assert value is None or (type(value) is int and value >= 1)


@FUZZ
@given(st.one_of(ANY_TEXT, ANYTHING))
def test_secret_values(value: Any) -> None:
    try:
        assert v.check_secret_value(value, "key") == value
    except InvalidRequestError:
        assert not (isinstance(value, str) and value.strip() and value == value.strip())


@FUZZ
@given(st.one_of(ANY_TEXT, st.lists(st.one_of(ANY_TEXT, ANYTHING), max_size=3), ANYTHING))
def test_embeddings_input(value: Any) -> None:
    try:
        checked = v.check_embeddings_input(value)
    except InvalidRequestError:
        return
    assert checked == value or checked == list(value)


@FUZZ
@given(st.one_of(ANY_TEXT, ANYTHING))
def test_api_keys(key: Any) -> None:
    try:
        client = neureus.Neureus(api_key=key, base_url="http://127.0.0.1:9")
    except ConfigurationError as exc:
        if isinstance(key, str) and len(key) > 12:
            assert key not in str(exc)
        return
    client.close()
    assert isinstance(key, str) and key.strip() == key and key.isascii()


URLS = st.one_of(
    ANY_TEXT,
    st.builds(
        lambda scheme, host, rest: f"{scheme}://{host}{rest}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript"]),
        st.one_of(
            st.sampled_from(["127.0.0.1", "localhost", "[::1]", "example.com", "10.0.0.1", "a.localhost", "", "@"]),
            ANY_TEXT,
        ),
        st.one_of(st.just(""), st.from_regex(r"(:[0-9]{0,6})?(/[a-z?#@%.]{0,8})?", fullmatch=True), ANY_TEXT),
    ),
)


@FUZZ
@given(URLS, st.booleans())
def test_base_urls(url: str, allow_insecure: bool) -> None:
    try:
        client = neureus.Neureus(api_key="nru_test_0123456789abcdef", base_url=url, allow_insecure_http=allow_insecure)
    except ConfigurationError:
        return
    with client:
        assert client.base_url.lower().startswith(("http://", "https://"))
        if client.base_url.lower().startswith("http://") and not allow_insecure:
            import httpx

            from neureus._config import is_loopback_host

            assert is_loopback_host(httpx.URL(client.base_url).host)


@FUZZ
@given(
    timeout=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 100), ANYTHING),
    max_retries=st.one_of(st.integers(-3, 10), ANYTHING),
    deadline=st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-3, 10), ANYTHING),
    headers=st.one_of(st.none(), st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3), ANYTHING),
    surface=st.one_of(st.none(), ANY_TEXT, ANYTHING),
)
def test_client_options(timeout: Any, max_retries: Any, deadline: Any, headers: Any, surface: Any) -> None:
    try:
        client = neureus.Neureus(
            api_key="nru_test_0123456789abcdef",
            base_url=DEFAULT_BASE_URL,
            timeout=timeout,
            max_retries=max_retries,
            deadline=deadline,
            default_headers=headers,
            surface=surface,
        )
    except ConfigurationError:
        return
    client.close()


CHAT_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(ANY_TEXT, ANYTHING),
        "temperature": st.one_of(st.floats(allow_nan=True), ANYTHING),
        "max_tokens": st.one_of(st.integers(), ANYTHING),
        "system_prompt": st.one_of(ANY_TEXT, ANYTHING),
        "surface": st.one_of(ANY_TEXT, ANYTHING),
        "extra_headers": st.one_of(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=2), st.none()),
        "timeout": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 10)),
    },
)


@FUZZ_IO
@given(messages=st.one_of(st.lists(MESSAGE, max_size=3), ANYTHING), kwargs=CHAT_KWARGS)
def test_chat_arguments_are_refused_locally_or_sent(messages: Any, kwargs: dict[str, Any]) -> None:
    gateway = FakeGateway()
    with gateway.client(max_retries=0) as client:
        try:
            client.ai.chat(messages, **kwargs)
        except (InvalidRequestError, ConfigurationError):
            assert gateway.requests == [], "refused, yet something was sent"
        except neureus.APIStatusError:
            assert len(gateway.requests) == 1  # sent, and the emulator said no
        else:
            assert len(gateway.requests) == 1


@FUZZ_IO
@given(provider=st.one_of(NASTY_TEXT, ANYTHING), key=st.one_of(ANY_TEXT, ANYTHING))
def test_provider_key_calls_send_only_safe_paths(provider: Any, key: Any) -> None:
    gateway = FakeGateway()
    with gateway.client(max_retries=0) as client:
        for call in (client.ai.set_provider_key, client.ai.rotate_provider_key):
            try:
                call(provider, key)
            except InvalidRequestError:
                continue
            except neureus.APIStatusError:
                pass
        with contextlib.suppress(InvalidRequestError, neureus.APIStatusError):
            client.ai.delete_provider_key(provider)
    for request in gateway.requests:
        segments = request.path.split("/")
        assert segments[:3] == ["", "ai", "providers"] and len(segments) == 5
        assert PROVIDER_RE.fullmatch(segments[3])
