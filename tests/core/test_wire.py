from __future__ import annotations

import json

import httpx
import pytest

from neureus import (
    APIResponseValidationError,
    ChatMessage,
    InvalidRequestError,
    WidgetKeyScopeError,
)
from neureus._config import NOT_GIVEN, resolve_config
from neureus._wire import (
    USER_AGENT,
    build_chat,
    build_create_widget_key,
    build_delete_provider_key,
    build_embeddings,
    build_list_models,
    build_list_providers,
    build_revoke_widget_key,
    build_rotate_provider_key,
    build_set_provider_key,
    encode_json_body,
    http_request_args,
    parse_chat,
    parse_embeddings,
    parse_model_list,
    parse_provider_key_status,
    parse_provider_list,
    parse_widget_key,
    parse_widget_key_revocation,
)

MESSAGES = [{"role": "user", "content": "Hi"}]


def config(api_key: str = "nru_test_0123456789abcd", **extra: object):
    args: dict[str, object] = {
        "api_key": api_key,
        "base_url": "https://gw.example",
        "timeout": NOT_GIVEN,
        "max_retries": 2,
        "default_headers": None,
        "surface": None,
        "deadline": None,
        "allow_insecure_http": False,
        "has_http_client": False,
        "environ": {},
    }
    args.update(extra)
    return resolve_config(**args)  # type: ignore[arg-type]


WIDGET = config("pk_0123456789abcdef")


def test_chat_wire_mapping() -> None:
    spec = build_chat(
        config(),
        [ChatMessage(role="user", content="Hi")],
        model="gpt-4o",
        temperature=0.2,
        max_tokens=50,
        system_prompt="Be brief.",
        prefer_async=True,
        compress=True,
        debug=True,
        surface="docs",
        extra_headers={"X-Trace": "1"},
        extra_body={"tools": []},
        timeout=5,
    )
    assert (spec.method, spec.path, spec.stream) == ("POST", "/ai/chat", False)
    assert spec.json_body == {
        "messages": MESSAGES,
        "model": "gpt-4o",
        "temperature": 0.2,
        "maxTokens": 50,
        "systemPrompt": "Be brief.",
        "prefer_async": True,
        "tools": [],
    }
    assert spec.headers["x-neureus-options"] == "compress=true"
    assert spec.headers["x-neureus-debug"] == "true"
    assert spec.headers["x-neureus-surface"] == "docs"
    assert spec.headers["x-trace"] == "1"
    assert spec.headers["accept"] == "application/json"
    assert spec.timeout == httpx.Timeout(5.0)


def test_none_keywords_are_not_sent() -> None:
    spec = build_chat(config(), MESSAGES)
    assert spec.json_body == {"messages": MESSAGES}
    assert not any(h.startswith("x-neureus") for h in spec.headers)
    assert spec.timeout is None


def test_false_flags_send_no_header_but_prefer_async_false_is_sent() -> None:
    spec = build_chat(config(), MESSAGES, compress=False, debug=False, prefer_async=False, temperature=0)
    assert "x-neureus-options" not in spec.headers and "x-neureus-debug" not in spec.headers
    assert spec.json_body is not None
    assert spec.json_body["prefer_async"] is False and spec.json_body["temperature"] == 0


def test_stream_request() -> None:
    spec = build_chat(config(), MESSAGES, stream=True)
    assert spec.stream and spec.json_body is not None and spec.json_body["stream"] is True
    assert spec.headers["accept"] == "text/event-stream"


def test_client_surface_is_the_default_and_a_call_overrides_it() -> None:
    cfg = config(surface="app")
    assert build_chat(cfg, MESSAGES).headers["x-neureus-surface"] == "app"
    assert build_chat(cfg, MESSAGES, surface="cli").headers["x-neureus-surface"] == "cli"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": ""}, "model"),
        ({"system_prompt": 5}, "system_prompt"),
        ({"surface": "a\nb"}, "surface"),
        ({"surface": "a\rb"}, "surface"),
        ({"extra_headers": {"a": "b\nc"}}, "extra_headers"),
        ({"extra_headers": {"a": "b\rc"}}, "extra_headers"),
        ({"deadline": -1}, "deadline"),
        ({"deadline": "5"}, "deadline"),
    ],
)
def test_chat_local_refusals(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        build_chat(config(), MESSAGES, **kwargs)  # type: ignore[arg-type]


def test_widget_keys_may_chat_but_nothing_else() -> None:
    build_chat(WIDGET, MESSAGES)
    calls = [
        lambda: build_list_models(WIDGET),
        lambda: build_embeddings(WIDGET, "x"),
        lambda: build_list_providers(WIDGET),
        lambda: build_set_provider_key(WIDGET, "openai", "sk-1"),
        lambda: build_rotate_provider_key(WIDGET, "openai", "sk-1"),
        lambda: build_delete_provider_key(WIDGET, "openai"),
        lambda: build_create_widget_key(WIDGET),
        lambda: build_revoke_widget_key(WIDGET, "pk_x"),
    ]
    for call in calls:
        with pytest.raises(WidgetKeyScopeError):
            call()


def test_other_builders() -> None:
    cfg = config()
    models = build_list_models(cfg, provider="openai", type="chat")
    assert (models.method, models.path, models.params) == ("GET", "/ai/models", {"provider": "openai", "type": "chat"})
    assert build_list_models(cfg).params is None
    with pytest.raises(InvalidRequestError):
        build_list_models(cfg, provider="")
    emb = build_embeddings(cfg, ["a", "b"], model="bge")
    assert (emb.path, emb.json_body) == ("/ai/embeddings", {"input": ["a", "b"], "model": "bge"})
    with pytest.raises(InvalidRequestError):
        build_embeddings(cfg, "a", model="")
    assert build_list_providers(cfg).path == "/ai/providers"
    put = build_set_provider_key(cfg, "openai", "sk-secret-1")
    assert (put.method, put.path, put.json_body, put.secrets) == (
        "PUT", "/ai/providers/openai/key", {"key": "sk-secret-1"}, ("sk-secret-1",)
    )  # fmt: skip
    rot = build_rotate_provider_key(cfg, "anthropic", "sk-2")
    assert (rot.method, rot.path) == ("POST", "/ai/providers/anthropic/rotate")
    delete = build_delete_provider_key(cfg, "openai")
    assert (delete.method, delete.path, delete.json_body) == ("DELETE", "/ai/providers/openai/key", None)
    assert build_create_widget_key(cfg).json_body == {}
    assert build_create_widget_key(cfg, "agent_1").json_body == {"agent_id": "agent_1"}
    with pytest.raises(InvalidRequestError):
        build_create_widget_key(cfg, "")
    revoke = build_revoke_widget_key(cfg, "pk_abc")
    assert (revoke.method, revoke.json_body, revoke.secrets) == ("DELETE", {"key": "pk_abc"}, ("pk_abc",))
    for bad in (None, ""):
        with pytest.raises(InvalidRequestError):
            build_set_provider_key(cfg, "openai", bad)
        with pytest.raises(InvalidRequestError):
            build_rotate_provider_key(cfg, "openai", bad)


def test_provider_injection_is_refused() -> None:
    for name in ("../widget", "OpenAI/x", "", "a/../../b"):
        with pytest.raises(InvalidRequestError):
            build_set_provider_key(config(), name, "sk-1")


def test_http_request_args() -> None:
    cfg = config(default_headers={"X-Team": "ml"}, surface="svc")
    spec = build_set_provider_key(cfg, "openai", "sk-1")
    args = http_request_args(cfg, spec, httpx.Timeout(3.0))
    assert args["method"] == "PUT"
    assert args["url"] == "https://gw.example/ai/providers/openai/key"
    assert args["headers"]["authorization"] == "Bearer nru_test_0123456789abcd"
    assert args["headers"]["user-agent"] == USER_AGENT
    assert args["headers"]["x-team"] == "ml"
    assert args["headers"]["x-neureus-surface"] == "svc"
    assert args["headers"]["content-type"] == "application/json"
    assert json.loads(args["content"]) == {"key": "sk-1"}
    assert args["timeout"] == httpx.Timeout(3.0)
    get = http_request_args(cfg, build_list_models(cfg, provider="openai"), None)
    assert "content" not in get and "timeout" not in get and get["params"] == {"provider": "openai"}


def test_unserialisable_extra_body_is_a_local_error() -> None:
    # Refused when the spec is built, before any attempt: never sent, never retried.
    with pytest.raises(InvalidRequestError, match=r"body\['x'\] is of type object"):
        build_chat(config(), MESSAGES, extra_body={"x": object()})


def response(data: object, status: int = 200) -> httpx.Response:
    content = data if isinstance(data, bytes) else json.dumps(data).encode()
    return httpx.Response(status, content=content)


def test_parse_chat() -> None:
    reply = parse_chat(response({"text": "hi", "logId": "l", "costUsd": 0.1, "_preprocessing": {"trimmed": True}}))
    assert (reply.text, reply.content, reply.log_id, reply.cost_usd) == ("hi", "hi", "l", 0.1)
    assert reply.preprocessing is not None and reply.preprocessing.trimmed is True


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"text": 5}', b"<html>502</html>"])
def test_unreadable_success_bodies(body: bytes) -> None:
    with pytest.raises(APIResponseValidationError, match="chat"):
        parse_chat(response(body))


@pytest.mark.parametrize(
    "data",
    [
        {"embeddings": [[1, 2], [3, 4]]},
        {"data": [{"embedding": [3, 4], "index": 1}, {"embedding": [1, 2], "index": 0}]},
        {"data": [[1, 2], [3, 4]]},
    ],
)
def test_embeddings_shapes(data: object) -> None:
    assert parse_embeddings(response(data)).embeddings == [[1.0, 2.0], [3.0, 4.0]]


def test_single_embedding_shape_and_errors() -> None:
    assert parse_embeddings(response({"embedding": [1, 2], "model": "m"})).embeddings == [[1.0, 2.0]]
    with pytest.raises(APIResponseValidationError):
        parse_embeddings(response({"nothing": 1}))


def test_model_and_provider_lists_accept_bare_lists() -> None:
    assert parse_model_list(response([{"id": "a"}])).models[0].id == "a"
    with pytest.raises(APIResponseValidationError):
        parse_model_list(response({"models": [{"name": "no id"}]}))
    providers = parse_provider_list(response(["openai", {"provider": "anthropic", "configured": False}]))
    assert [(p.provider, p.configured) for p in providers] == [("openai", True), ("anthropic", False)]
    with pytest.raises(APIResponseValidationError):
        parse_provider_list(response({"providers": [5]}))


def test_provider_key_status_from_204_empty_and_json() -> None:
    cfg = config()
    put = build_set_provider_key(cfg, "openai", "sk-1")
    delete = build_delete_provider_key(cfg, "openai")
    assert parse_provider_key_status(put, httpx.Response(204)).model_dump() == {
        "provider": "openai",
        "configured": True,
    }
    assert parse_provider_key_status(delete, httpx.Response(200, content=b"")).configured is False
    status = parse_provider_key_status(put, response({"configured": True}))
    assert (status.provider, status.configured) == ("openai", True)
    with pytest.raises(APIResponseValidationError):
        parse_provider_key_status(put, response({"configured": "maybe"}))


def test_widget_key_parsing() -> None:
    key = parse_widget_key(response({"key": "pk_abcdef0123456789", "keyPreview": "pk_abcd"}))
    assert key.key == "pk_abcdef0123456789" and key.key_preview == "pk_abcd"
    assert "pk_abcdef0123456789" not in repr(key) and "pk_abcdef0123456789" not in str(key)
    assert parse_widget_key_revocation(httpx.Response(204)).revoked is True
    assert parse_widget_key_revocation(response({"revoked": False})).revoked is False


# --- 0.2: a spec's repr is safe on any stack; its body is checked when built ------------

BYOK = "AIzaSyQ7SECRETgooglekey0123456789xyz"


def test_request_spec_repr_hides_body_secrets_and_credential_headers() -> None:
    put = build_set_provider_key(config(), "google", BYOK)
    chat = build_chat(config(), MESSAGES, extra_headers={"x-api-key": "hdrSECRET0123456789", "x-trace": "t1"})
    for text in (repr(put), str(put), repr(chat)):
        assert BYOK not in text and "hdrSECRET0123456789" not in text
    assert "set_provider_key" in repr(put) and "'x-trace': 't1'" in repr(chat)
    assert put.content is not None and BYOK.encode() in put.content  # sent as is, only never shown


def test_the_body_is_serialised_once_when_the_spec_is_built() -> None:
    spec = build_chat(config(), MESSAGES, temperature=0.5)
    assert json.loads(spec.content or b"") == spec.json_body
    assert http_request_args(config(), spec, None)["content"] is spec.content


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_refused_at_build_time(bad: float) -> None:
    with pytest.raises(InvalidRequestError, match=r"body\['extra'\]\[0\] is (nan|inf|-inf)"):
        build_chat(config(), MESSAGES, extra_body={"extra": [bad]})


def test_a_body_nested_too_deeply_is_refused() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(InvalidRequestError, match="nested too deeply"):
        build_chat(config(), MESSAGES, extra_body={"deep": deep})


@pytest.mark.parametrize("value", ["no", 1, 0])
def test_non_bool_flags_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="prefer_async must be True, False or None"):
        build_chat(config(), MESSAGES, prefer_async=value)  # type: ignore[arg-type]


def test_bad_extras_are_refused_before_sending() -> None:
    with pytest.raises(InvalidRequestError, match="extra_headers must be a mapping"):
        build_chat(config(), MESSAGES, extra_headers=[("x-a", "1")])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"extra_body must be a mapping \(a dict\); got list"):
        build_chat(config(), MESSAGES, extra_body=[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"body\['extra'\] has a key of type object; JSON keys are strings"):
        build_chat(config(), MESSAGES, extra_body={"extra": {object(): 1}})


def test_a_spec_too_deep_to_redact_shows_its_shape_only() -> None:
    from neureus._wire import RequestSpec

    deep: object = "nru_deep_secret_0123456789"
    for _ in range(150):  # deeper than redaction walks, well within what JSON encodes
        deep = [deep]
    spec = RequestSpec("POST", "/ai/chat", "chat", {"a": deep, "b": 1}, secrets=["nru_deep_secret_0123456789"])
    assert "<a JSON object of 2 member(s)>" in repr(spec) and "nru_deep_secret" not in repr(spec)


def test_an_echoed_secret_too_deep_to_redact_is_refused() -> None:
    key = "sk-deep-byok-0123456789abcdef"
    spec = build_set_provider_key(config(), "openai", key)
    nested = "[" * 150 + json.dumps(key) + "]" * 150  # under the parser's 200 levels, past redaction's
    args = http_request_args(config(), spec, None)
    request = httpx.Request(args["method"], args["url"], extensions=args["extensions"])
    response = httpx.Response(200, content=b'{"echo": ' + nested.encode() + b"}", request=request)
    with pytest.raises(
        APIResponseValidationError, match=r"^set_provider_key: the gateway's answer is nested too deeply"
    ) as info:
        parse_provider_key_status(spec, response)
    assert key not in str(info.value)


@pytest.mark.parametrize("flag", ["stream", "prefer_async", "compress", "debug"])
def test_each_flag_must_be_a_bool_and_the_error_names_it(flag: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat(config(), MESSAGES, **{flag: "yes"})  # type: ignore[arg-type]
    assert str(info.value) == f"{flag} must be True, False or None; got str 'yes'."
    for value in (True, False, None):
        build_chat(config(), MESSAGES, **{flag: value})  # type: ignore[arg-type]


def test_the_deadline_must_be_positive_and_is_kept_as_a_float() -> None:
    for bad in (0, -1, True, "5"):
        with pytest.raises(InvalidRequestError, match="deadline must be a positive number of seconds"):
            build_chat(config(), MESSAGES, deadline=bad)  # type: ignore[arg-type]
    assert build_chat(config(), MESSAGES, deadline=0.5).deadline == 0.5
    whole = build_chat(config(), MESSAGES, deadline=2).deadline
    assert whole == 2.0 and type(whole) is float
    assert build_chat(config(), MESSAGES).deadline is None


def test_argument_errors_say_exactly_what_to_fix() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat(config(), MESSAGES, system_prompt=5)  # type: ignore[arg-type]
    assert str(info.value) == "system_prompt must be a string."
    with pytest.raises(InvalidRequestError) as info:
        build_chat(config(), MESSAGES, extra_headers=[("x-a", "1")])  # type: ignore[arg-type]
    assert str(info.value) == "extra_headers must be a mapping of header names to values."
    with pytest.raises(InvalidRequestError) as info:
        build_chat(config(), MESSAGES, extra_headers={"bad name": "1"})
    assert str(info.value).startswith("extra_headers['bad name'] has a name that is not a valid header name")
    for unshowable in ("bad\nname", "bäd", 5):
        with pytest.raises(InvalidRequestError) as info:
            build_chat(config(), MESSAGES, extra_headers={unshowable: "1"})  # type: ignore[dict-item]
        assert str(info.value).startswith("extra_headers['<name>'] ")


def test_a_spec_knows_its_operation_and_defaults_to_a_plain_idempotent_call() -> None:
    from neureus._wire import RequestSpec

    assert build_chat(config(), MESSAGES).operation == "chat"
    assert build_chat(config(), MESSAGES, stream=True).operation == "chat"
    spec = RequestSpec("GET", "/ai/models", "list_models", deadline=3.0)
    assert spec.stream is False and spec.idempotent is True and spec.content is None and spec.deadline == 3.0
    assert RequestSpec("POST", "/x", "x", {"a": 1}, idempotent=False).idempotent is False


def test_the_surface_header_is_sent_only_when_there_is_a_surface() -> None:
    spec = build_list_models(config())
    assert "x-neureus-surface" not in http_request_args(config(), spec, None)["headers"]
    assert http_request_args(config(surface="batch"), spec, None)["headers"]["x-neureus-surface"] == "batch"


def test_the_request_carries_the_calls_secrets_with_the_clients() -> None:
    from neureus._exceptions import SECRETS_EXTENSION

    client = config()
    spec = build_set_provider_key(client, "openai", "sk-carried-0123456789")
    carried = http_request_args(client, spec, None)["extensions"][SECRETS_EXTENSION]
    assert list(carried) == [*client.secrets, "sk-carried-0123456789"]
    plain = http_request_args(client, build_list_models(client), None)["extensions"][SECRETS_EXTENSION]
    assert plain is client.secrets


def _nested(depth: int, leaf: object) -> dict[str, object]:
    value: object = leaf
    for _ in range(depth - 1):
        value = [value]
    return {"a": value}


def test_an_unsendable_value_is_named_down_to_200_levels_then_described() -> None:
    with pytest.raises(InvalidRequestError) as named:
        encode_json_body(_nested(200, float("nan")))  # the NaN sits 200 levels down
    assert "JSON has no NaN or infinity" in str(named.value) and str(named.value).startswith(
        "The request body cannot be sent as JSON: body['a'][0]"
    )
    with pytest.raises(InvalidRequestError) as described:
        encode_json_body(_nested(201, float("nan")))
    assert str(described.value) == "The request body cannot be sent as JSON: ValueError."
    with pytest.raises(InvalidRequestError) as deep:
        encode_json_body(_nested(100_000, 1))
    assert str(deep.value) == "The request body cannot be sent as JSON: it is nested too deeply."


def test_builders_refuse_bad_arguments_naming_them() -> None:
    for build in (build_set_provider_key, build_rotate_provider_key):
        with pytest.raises(InvalidRequestError) as info:
            build(config(), "openai", None)
        assert str(info.value) == "key must be a non-empty string."
        with pytest.raises(InvalidRequestError, match=r"^key "):
            build(config(), "openai", "")
    with pytest.raises(InvalidRequestError, match=r"^key "):
        build_revoke_widget_key(config(), "")
    with pytest.raises(InvalidRequestError) as info:
        build_create_widget_key(config(), "")
    assert str(info.value) == "agent_id must be a non-empty string; got ''."
    with pytest.raises(InvalidRequestError) as info:
        build_embeddings(config(), "x", model="")
    assert str(info.value) == "model must be a non-empty string; got ''."
    with pytest.raises(InvalidRequestError) as info:
        build_list_models(config(), provider="")
    assert str(info.value) == "provider must be a non-empty string; got ''."


def test_only_calls_that_could_act_twice_are_not_idempotent() -> None:
    assert build_rotate_provider_key(config(), "openai", "sk-rotated-0123456789").idempotent is False
    assert build_create_widget_key(config()).idempotent is False
    assert build_set_provider_key(config(), "openai", "sk-set-0123456789").idempotent is True
    assert build_revoke_widget_key(config(), "pk_0123456789abcdef").idempotent is True


def test_a_specs_repr_hides_credential_headers_and_the_calls_secrets() -> None:
    from neureus._wire import RequestSpec

    secret = "tenant-secret-value-0123"
    spec = RequestSpec(
        "GET", "/x", "x", headers={"x-api-key": "plainvalue-0123456789", "x-note": f"v {secret}"}, secrets=[secret]
    )
    shown = repr(spec)
    assert "plainvalue-0123456789" not in shown and "plai…6789" in shown
    assert secret not in shown and "tena…0123" in shown


def _answer(content: bytes, status: int = 200, key: str | None = None) -> httpx.Response:
    client = config()
    spec = build_list_models(client) if key is None else build_set_provider_key(client, "openai", key)
    args = http_request_args(client, spec, None)
    request = httpx.Request(args["method"], args["url"], extensions=args["extensions"])
    return httpx.Response(status, content=content, request=request)


PARSERS = {
    "chat": parse_chat,
    "embeddings": parse_embeddings,
    "list_models": parse_model_list,
    "list_providers": parse_provider_list,
    "create_widget_key": parse_widget_key,
    "revoke_widget_key": parse_widget_key_revocation,
}


@pytest.mark.parametrize("operation", list(PARSERS))
def test_a_parser_names_its_operation_when_the_answer_is_bad(operation: str) -> None:
    parse = PARSERS[operation]
    with pytest.raises(APIResponseValidationError) as info:
        parse(_answer(b"<html>oops</html>"))
    assert str(info.value).startswith(f"{operation}: the gateway's answer is not valid JSON")
    with pytest.raises(APIResponseValidationError) as info:
        parse(_answer(b"[" * 300 + b"]" * 300))
    assert str(info.value).startswith(f"{operation}: the gateway's answer is nested too deeply")
    with pytest.raises(APIResponseValidationError) as info:
        parse(_answer(b'{"models": 5, "providers": 5, "key": 5, "revoked": "x", "text": 5, "embeddings": 5}'))
    assert str(info.value).startswith(f"{operation}: the gateway's answer does not match ")


@pytest.mark.parametrize("spelling", ["plain", "escaped"])
def test_an_answer_echoing_the_calls_key_is_redacted_before_the_model_sees_it(spelling: str) -> None:
    key = "sk-echoed-0123456789abcdef"
    shown = key if spelling == "plain" else key.replace("-", "\\u002d")
    spec = build_set_provider_key(config(), "openai", key)
    response = _answer(b'{"provider": "openai", "configured": true, "note": "' + shown.encode() + b'"}', key=key)
    status = parse_provider_key_status(spec, response)
    assert key not in repr(status.model_dump()) and status.configured is True
    chat = parse_chat(_answer(b'{"text": "your key is ' + shown.encode() + b'"}', key=key))
    assert key not in chat.text and chat.text.startswith("your key is ")


def test_an_empty_or_204_answer_means_done() -> None:
    spec = build_delete_provider_key(config(), "openai")
    for response in (_answer(b"", 204), _answer(b"  ", 200), _answer(b"{}", 204)):
        status = parse_provider_key_status(spec, response)
        assert (status.provider, status.configured) == ("openai", False)
        assert parse_widget_key_revocation(response).revoked is True
    filled = parse_provider_key_status(spec, _answer(b'{"extra": 1}'))
    assert (filled.provider, filled.configured) == ("openai", False)


def test_every_builder_gives_its_rows_operation_and_method() -> None:
    from neureus._wire import ENDPOINTS

    c = config()
    specs = {
        "chat": build_chat(c, MESSAGES),
        "stream": build_chat(c, MESSAGES, stream=True),
        "embeddings": build_embeddings(c, "x"),
        "list_models": build_list_models(c),
        "list_providers": build_list_providers(c),
        "set_provider_key": build_set_provider_key(c, "openai", "sk-set-0123456789"),
        "rotate_provider_key": build_rotate_provider_key(c, "openai", "sk-rot-0123456789"),
        "delete_provider_key": build_delete_provider_key(c, "openai"),
        "create_widget_key": build_create_widget_key(c),
        "revoke_widget_key": build_revoke_widget_key(c, "pk_0123456789abcdef"),
    }
    assert set(specs) == set(ENDPOINTS)
    for call, spec in specs.items():
        row = ENDPOINTS[call]
        assert (spec.operation, spec.method, spec.path) == (
            row.operation,
            row.method,
            row.path.format(provider="openai"),
        )


# --- the parsers' redaction: which answers take the careful path, and what each error says --

API_KEY = "nru_test_0123456789abcd"
DEEP = "[" * 150 + "1" + "]" * 150  # within the parser's 200 levels, past redaction's 100


def _hand_built(content: bytes, status: int = 200) -> httpx.Response:
    # A request the SDK did not build (a test's, a caller's redirect): no secrets ride on it,
    # so the parser reads the bearer key from its headers.
    request = httpx.Request("GET", "https://gw.example/ai/models", headers={"authorization": f"Bearer {API_KEY}"})
    return httpx.Response(status, content=content, request=request)


def test_an_answer_echoing_the_bearer_key_of_a_request_built_elsewhere_is_redacted() -> None:
    chat = parse_chat(_hand_built(b'{"text": "your key is ' + API_KEY.encode() + b'"}'))
    assert API_KEY not in chat.text and chat.text.startswith("your key is ")
    models = parse_model_list(_hand_built(b'[{"id": "' + API_KEY.encode() + b'"}]'))
    assert API_KEY not in models.models[0].id
    # An answer that quotes nothing is read as it is.
    assert parse_chat(_hand_built(b'{"text": "nru_test_"}')).text == "nru_test_"


def test_a_list_answer_echoing_the_clients_key_is_redacted() -> None:
    answer = _answer(b'{"models": [{"id": "' + API_KEY.encode() + b'", "name": "x"}]}')
    model = parse_model_list(answer).models[0]
    assert API_KEY not in model.id and model.name == "x"


def test_a_deep_answer_that_quotes_no_key_is_accepted_escapes_and_all() -> None:
    # Redaction walks 100 levels; an answer that echoes no key is never walked, so it may be
    # as deep as the parser allows. A JSON escape that cannot spell a key (\n) changes nothing.
    chat = parse_chat(_answer(b'{"text": "a\\nb", "meta": ' + DEEP.encode() + b"}"))
    assert chat.text == "a\nb"
    models = parse_model_list(_answer(b'{"models": [{"id": "a", "meta": ' + DEEP.encode() + b"}]}"))
    assert models.models[0].id == "a"


def test_an_echoed_key_too_deep_to_redact_is_refused_naming_the_call() -> None:
    nested = "[" * 150 + json.dumps(API_KEY) + "]" * 150
    answer = _answer(b'{"text": "t", "echo": ' + nested.encode() + b"}")
    with pytest.raises(APIResponseValidationError) as info:
        parse_chat(answer)
    assert str(info.value).startswith("chat: the gateway's answer is nested too deeply")
    # The error quotes the answer's start (redacted) and its status.
    assert info.value.status_code == 200 and info.value.body.startswith('{"text": "t"')
    assert API_KEY not in str(info.value)


def test_a_provider_key_answer_too_deep_to_redact_is_refused_even_without_the_key() -> None:
    # The key just sent is always redacted from this answer, so it is always walked.
    spec = build_set_provider_key(config(), "openai", "sk-set-0123456789abcdef")
    answer = _answer(b'{"configured": true, "meta": ' + DEEP.encode() + b"}")
    with pytest.raises(APIResponseValidationError) as info:
        parse_provider_key_status(spec, answer)
    assert str(info.value).startswith("set_provider_key: the gateway's answer is nested too deeply")
    assert info.value.status_code == 200 and info.value.body.startswith('{"configured": true')


def test_a_provider_key_answer_that_does_not_match_names_the_call() -> None:
    spec = build_rotate_provider_key(config(), "openai", "sk-rot-0123456789abcdef")
    with pytest.raises(APIResponseValidationError) as info:
        parse_provider_key_status(spec, _answer(b'{"configured": "maybe"}'))
    assert str(info.value).startswith("rotate_provider_key: the gateway's answer does not match ProviderKeyStatus")


def test_a_204_means_done_whatever_its_body_says_and_a_205_is_read() -> None:
    delete = build_delete_provider_key(config(), "openai")
    assert parse_provider_key_status(delete, _answer(b'{"configured": true}', 204)).configured is False
    assert parse_provider_key_status(delete, _answer(b'{"configured": true}', 205)).configured is True
    assert parse_widget_key_revocation(_answer(b'{"revoked": false}', 204)).revoked is True
    assert parse_widget_key_revocation(_answer(b'{"revoked": false}', 205)).revoked is False


def test_the_hot_parsers_work_on_their_first_call_in_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # parse_chat and parse_embeddings look their model up on first use and keep it: start them
    # from a fresh process's state (the suite has long since used them).
    from neureus import _wire
    from neureus.types import ChatResponse, EmbeddingsResponse

    monkeypatch.setattr(_wire, "_HOT_MODELS", {})
    for _ in range(2):  # the first call looks the model up, the second reuses it
        reply = parse_chat(response({"text": "hi"}))
        assert type(reply) is ChatResponse and reply.text == "hi"
        answer = parse_embeddings(response({"embeddings": [[1, 2]]}))
        assert type(answer) is EmbeddingsResponse and answer.embeddings == [[1.0, 2.0]]
