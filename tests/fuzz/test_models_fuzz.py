"""Random JSON into every response model and every ``_wire.parse_*`` parser.

A model may refuse input only with ``pydantic.ValidationError``; a parser (what the
clients call) may refuse only with ``neureus.APIResponseValidationError``. Bodies are
random JSON, JSON shaped like each endpoint's answer with random values, and random
bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
from hypothesis import example, given
from hypothesis import strategies as st

import neureus
from neureus import _wire
from neureus import types as t

from ._profiles import FUZZ

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)

# The wire keys of each model (camelCase and snake_case), so random values reach the validators.
KEYS: dict[type[Any], list[str]] = {
    t.ChatResponse: [
        "text",
        "choices",
        "toolCalls",
        "tool_calls",
        "reasoning",
        "logId",
        "inputTokens",
        "outputTokens",
        "usage",
        "cached",
        "costUsd",
        "_preprocessing",
    ],
    t.ChatChoice: ["message", "finish_reason", "finishReason", "index"],
    t.ChatUsage: ["prompt_tokens", "completion_tokens", "total_tokens", "promptTokens"],
    t.StreamFinal: ["done", "logId", "inputTokens", "outputTokens"],
    t.EmbeddingsResponse: ["embeddings", "embedding", "data", "model", "usage"],
    t.Model: [
        "id",
        "name",
        "provider",
        "type",
        "contextWindow",
        "inputCostPer1k",
        "outputCostPer1k",
        "supportedFeatures",
    ],
    t.ModelList: ["models"],
    t.ProviderStatus: ["provider", "name", "configured"],
    t.ProviderList: ["providers"],
    t.ProviderKeyStatus: ["provider", "configured"],
    t.WidgetKey: ["key", "keyPreview", "key_preview"],
    t.WidgetKeyRevocation: ["revoked"],
    t.PreprocessingInfo: [],
    t.ChatMessage: ["role", "content"],
}

# Nested values that look like what goes there, so validation goes deeper than the top.
EMBEDDING_ITEM = st.fixed_dictionaries({}, optional={"embedding": JSON, "index": JSON, "object": JSON})
NESTED = {
    "choices": st.lists(
        st.fixed_dictionaries(
            {}, optional={"message": st.fixed_dictionaries({}, optional={"role": JSON, "content": JSON})}
        ),
        max_size=3,
    ),
    "data": st.lists(EMBEDDING_ITEM | st.lists(SCALARS, max_size=4), max_size=4),
    "embeddings": st.lists(st.lists(SCALARS, max_size=4) | JSON, max_size=3),
    "models": st.lists(st.fixed_dictionaries({}, optional={k: JSON for k in KEYS[t.Model]}), max_size=3),
    "providers": st.lists(
        st.text(max_size=8) | st.fixed_dictionaries({}, optional={k: JSON for k in KEYS[t.ProviderStatus]}),
        max_size=3,
    ),
}


def shaped(model: type[Any]) -> st.SearchStrategy[Any]:
    keys = KEYS.get(model, [])
    return st.fixed_dictionaries({}, optional={k: (NESTED.get(k, JSON) | JSON) for k in keys})


MODELS = sorted(KEYS, key=lambda m: m.__name__)


@FUZZ
@given(model=st.sampled_from(MODELS), data=st.data())
def test_models_refuse_only_with_validation_error(model: type[Any], data: st.DataObject) -> None:
    value = data.draw(st.one_of(JSON, shaped(model)))
    try:
        result = model.model_validate(value)
    except pydantic.ValidationError:
        return
    repr(result)
    str(result)
    result.model_dump(by_alias=True)


def response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("GET", "https://gateway.neureus.test/x"))


_SPEC = _wire.RequestSpec("PUT", "/ai/providers/openai/key", "set_provider_key", provider="openai")
_DELETE = _wire.RequestSpec("DELETE", "/ai/providers/openai/key", "delete_provider_key", provider="openai")

PARSERS: dict[str, tuple[Callable[[httpx.Response], Any], type[Any]]] = {
    "parse_chat": (_wire.parse_chat, t.ChatResponse),
    "parse_embeddings": (_wire.parse_embeddings, t.EmbeddingsResponse),
    "parse_model_list": (_wire.parse_model_list, t.ModelList),
    "parse_provider_list": (_wire.parse_provider_list, t.ProviderList),
    "parse_provider_key_status(set)": (lambda r: _wire.parse_provider_key_status(_SPEC, r), t.ProviderKeyStatus),
    "parse_provider_key_status(delete)": (lambda r: _wire.parse_provider_key_status(_DELETE, r), t.ProviderKeyStatus),
    "parse_widget_key": (_wire.parse_widget_key, t.WidgetKey),
    "parse_widget_key_revocation": (_wire.parse_widget_key_revocation, t.WidgetKeyRevocation),
    "parse_model(StreamFinal)": (lambda r: _wire.parse_model(t.StreamFinal, r, "stream"), t.StreamFinal),
}


def check_parser(name: str, body: bytes) -> None:
    parse, model = PARSERS[name]
    try:
        result = parse(response(body))
    except neureus.APIResponseValidationError as exc:
        assert len(str(exc)) < 2_000
        return
    assert isinstance(result, model)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


# parse_embeddings also has its own test below, with the mixed-type "index" case as an explicit example.
PARSER_NAMES = list(PARSERS)


@FUZZ
@given(name=st.sampled_from(PARSER_NAMES), data=st.data())
def test_parsers_refuse_only_with_api_response_validation_error(name: str, data: st.DataObject) -> None:
    model = PARSERS[name][1]
    body = data.draw(
        st.one_of(
            JSON.map(_json_bytes),
            shaped(model).map(_json_bytes),
            st.binary(max_size=200),
            st.sampled_from([b"", b" ", b"null", b"[]", b"{}", b'"x"', b"\xff\xfe", b"<html>502</html>", b"NaN"]),
        )
    )
    check_parser(name, body)


@FUZZ
@example(body=b'{"data": [{"index": "a", "embedding": [1]}, {"index": 1, "embedding": [2]}]}')
@given(
    body=st.one_of(
        JSON.map(_json_bytes),
        shaped(t.EmbeddingsResponse).map(_json_bytes),
        st.binary(max_size=200),
    )
)
def test_parse_embeddings_refuses_only_with_api_response_validation_error(body: bytes) -> None:
    check_parser("parse_embeddings", body)


@FUZZ
@given(
    status=st.integers(300, 599),
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "x-request-id", "cf-ray", "content-type"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
)
def test_status_errors_are_built_from_anything(status: int, body: bytes, headers: dict[str, str]) -> None:
    from neureus._exceptions import make_status_error
    from neureus._retry_policy import RetryPolicy

    retry_after = RetryPolicy().retry_after(headers)
    assert retry_after is None or retry_after >= 0
    error = make_status_error(status, headers, body, secrets=("nru_live_secret0123456789",), retry_after=retry_after)
    assert isinstance(error, neureus.APIStatusError)
    assert error.status_code == status
    assert (status == 429) == isinstance(error, neureus.RateLimitError)
    assert (status >= 500) == isinstance(error, neureus.InternalServerError)
    str(error)
    repr(error)
