"""Per-endpoint request builders and response parsers: the gateway's wire format, once.

A builder turns a typed Python call into a :class:`RequestSpec` (method, path, query,
JSON body, headers, per-call timeout, whether it streams), after the local checks of
:mod:`neureus._validation`. A parser turns a read response into a model. Nothing here
sends, sleeps or awaits; the shells in ``_transport.py`` do that.

The wire mapping follows API.md ("client.ai"): ``max_tokens`` -> ``maxTokens``,
``system_prompt`` -> ``systemPrompt``, ``prefer_async`` stays as it is, ``None`` keywords
are not sent, and ``compress``/``debug``/``surface`` travel as ``x-neureus-*`` headers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

import httpx
from pydantic_core import ValidationError, from_json  # pydantic re-exports them, without loading pydantic.main

from ._config import ClientConfig, check_surface, coerce_timeout, header_problem
from ._exceptions import (
    SECRETS_EXTENSION,
    APIResponseValidationError,
    InvalidRequestError,
    redact_json,
    request_secrets,
)
from ._record import Record
from ._redact import NO_SECRETS, Secrets, redact_key, redact_text, remember_secrets
from ._validation import (
    check_embeddings_input,
    check_max_tokens,
    check_provider,
    check_secret_value,
    check_temperature,
    check_widget_scope,
    messages_to_wire,
)
from ._version import __version__

if TYPE_CHECKING:
    # The models are imported by each parser when it first runs, not here: building a
    # client needs none of them, and defining them costs more than the rest of the SDK.
    from pydantic import BaseModel

    from .types import (
        ChatResponse,
        EmbeddingsResponse,
        ModelList,
        ProviderKeyStatus,
        ProviderList,
        WidgetKey,
        WidgetKeyRevocation,
    )

__all__ = [
    "ENDPOINTS",
    "Endpoint",
    "RequestSpec",
    "base_headers",
    "build_chat",
    "build_create_widget_key",
    "build_delete_provider_key",
    "build_embeddings",
    "build_list_models",
    "build_list_providers",
    "build_revoke_widget_key",
    "build_rotate_provider_key",
    "build_set_provider_key",
    "http_request_args",
    "parse_chat",
    "parse_embeddings",
    "parse_model",
    "parse_model_list",
    "parse_provider_key_status",
    "parse_provider_list",
    "parse_widget_key",
    "parse_widget_key_revocation",
]

_ModelT = TypeVar("_ModelT", bound="BaseModel")

USER_AGENT: Final = f"neureus-python/{__version__}"
_JSON_HEADERS: Final = {"accept": "application/json"}
_SSE_HEADERS: Final = {"accept": "text/event-stream", "cache-control": "no-cache"}
_ACCEPT_HEADERS: Final = {"application/json": _JSON_HEADERS, "text/event-stream": _SSE_HEADERS}


class Endpoint(NamedTuple):
    """One row of the gateway's endpoints: what a call sends, who may send it, how it is read."""

    operation: str
    """The name errors, logs and hooks give the call (``RequestSpec.operation``)."""
    method: str
    path: str
    """A template: ``{provider}`` is filled in by the builder."""
    scope: str
    """``"any"``: a widget key (``pk_...``) may send it; ``"server"``: a server key only."""
    parser: str
    """The dotted name of what reads the answer."""
    accept: str
    """The ``accept`` header: ``application/json``, or ``text/event-stream`` for a stream."""


# One row per public call (``client.ai.<name>``). Adding an endpoint: a row here, a builder
# and a parser below, a method on AI/AsyncAI; tests/shells/test_endpoints.py checks every
# row through the public API, sync and async.
ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    "chat": Endpoint("chat", "POST", "/ai/chat", "any", "neureus._wire.parse_chat", "application/json"),
    "stream": Endpoint("chat", "POST", "/ai/chat", "any", "neureus._stream_state.StreamState", "text/event-stream"),
    "embeddings": Endpoint(
        "embeddings", "POST", "/ai/embeddings", "server", "neureus._wire.parse_embeddings", "application/json"
    ),
    "list_models": Endpoint(
        "list_models", "GET", "/ai/models", "server", "neureus._wire.parse_model_list", "application/json"
    ),
    "list_providers": Endpoint(
        "list_providers", "GET", "/ai/providers", "server", "neureus._wire.parse_provider_list", "application/json"
    ),
    "set_provider_key": Endpoint(
        "set_provider_key",
        "PUT",
        "/ai/providers/{provider}/key",
        "server",
        "neureus._wire.parse_provider_key_status",
        "application/json",
    ),
    "rotate_provider_key": Endpoint(
        "rotate_provider_key",
        "POST",
        "/ai/providers/{provider}/rotate",
        "server",
        "neureus._wire.parse_provider_key_status",
        "application/json",
    ),
    "delete_provider_key": Endpoint(
        "delete_provider_key",
        "DELETE",
        "/ai/providers/{provider}/key",
        "server",
        "neureus._wire.parse_provider_key_status",
        "application/json",
    ),
    "create_widget_key": Endpoint(
        "create_widget_key", "POST", "/ai/widget/key", "server", "neureus._wire.parse_widget_key", "application/json"
    ),
    "revoke_widget_key": Endpoint(
        "revoke_widget_key",
        "DELETE",
        "/ai/widget/key",
        "server",
        "neureus._wire.parse_widget_key_revocation",
        "application/json",
    ),
}


def _endpoint(config: ClientConfig, call: str) -> Endpoint:
    # The row, once the key may send it: a widget key is refused before anything is built.
    row = ENDPOINTS[call]
    if row.scope != "any":
        check_widget_scope(config.is_widget_key, row.operation)
    return row


# What json.dumps(..., ensure_ascii=False, separators=(",", ":"), allow_nan=False) builds on
# every call, built once. allow_nan=False: NaN is not JSON (API.md, "Local problems stay local").
_JSON_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class RequestSpec(Record):
    """Everything needed to send one call, decided before any I/O.

    ``secrets`` holds the values of this call that must never be shown (a BYOK or widget
    key in the body); the shells redact them from logs and errors. ``content`` is the JSON
    body serialised once, here, so a value JSON cannot carry (NaN, an object) is refused
    before anything is sent. The ``repr`` never shows a secret: crash reporters render
    every request spec on the stack of a failed call.
    """

    __slots__ = (
        "content",
        "deadline",
        "headers",
        "idempotent",
        "json_body",
        "method",
        "operation",
        "params",
        "path",
        "provider",
        "secrets",
        "stream",
        "timeout",
    )

    def __init__(
        self,
        method: str,
        path: str,
        operation: str,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        *,
        stream: bool = False,
        deadline: float | None = None,
        secrets: Iterable[str] = (),
        provider: str | None = None,
        idempotent: bool = True,
    ) -> None:
        self.method = method
        self.path = path
        self.operation = operation
        self.json_body = json_body
        self.params = params
        self.headers: Mapping[str, str] = {} if headers is None else headers
        self.timeout = timeout
        self.stream = stream
        self.deadline = deadline
        if secrets:
            self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
            remember_secrets(self.secrets)
        else:
            self.secrets = NO_SECRETS
        self.provider = provider
        self.idempotent = idempotent  # False: retried only when surely not acted on (_retry)
        # Last, so that a half-built spec on the stack of the error still has every field.
        self.content: bytes | None = None
        self.content = None if json_body is None else encode_json_body(json_body)

    def __repr__(self) -> str:
        body = None if self.json_body is None else _redacted_body(self.json_body, self.secrets)
        headers = {name: _shown_header(name, value, self.secrets) for name, value in self.headers.items()}
        return (
            f"RequestSpec(method={self.method!r}, path={self.path!r}, operation={self.operation!r}, "
            f"stream={self.stream!r}, json_body={body!r}, params={self.params!r}, headers={headers!r}, "
            f"timeout={self.timeout!r}, deadline={self.deadline!r}, secrets={self.secrets!r})"
        )


# Header names whose values are credentials whatever they look like.
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|session|signature|password|credential", re.IGNORECASE)


def _shown_header(name: str, value: str, secrets: Secrets) -> str:
    if _SENSITIVE_HEADER.search(name):
        return redact_key(value)
    return redact_text(value, secrets)


def _redacted_body(body: Mapping[str, Any], secrets: Secrets) -> object:
    try:
        return redact_json(body, secrets)
    except ValueError:  # nested too deeply to walk: show its shape only
        return f"<a JSON object of {len(body)} member(s)>"


def encode_json_body(body: Mapping[str, Any]) -> bytes:
    """The body as compact UTF-8 JSON; a value JSON cannot carry is an ``InvalidRequestError``.

    NaN and infinity are refused (``json`` would write ``NaN``, which is not JSON and which
    the gateway would answer with a 400, or worse, read as something else).
    """
    try:
        return _JSON_ENCODER.encode(body).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        where = _find_unsendable(body, "body", 0)
        if isinstance(exc, RecursionError) or where is None:
            detail = "it is nested too deeply" if isinstance(exc, RecursionError) else type(exc).__name__
            raise InvalidRequestError(f"The request body cannot be sent as JSON: {detail}.") from None
        raise InvalidRequestError(f"The request body cannot be sent as JSON: {where}.") from None


def _find_unsendable(value: object, path: str, depth: int) -> str | None:
    # Runs only after encoding failed, to name the culprit; bounded like the encoder.
    if depth > 200:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is {value!r}; JSON has no NaN or infinity (send null or a finite number)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{path} has a key of type {type(key).__name__}; JSON keys are strings"
            found = _find_unsendable(item, f"{path}[{key!r}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unsendable(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return f"{path} is of type {type(value).__name__}, which JSON cannot carry"


def _call_timeout(timeout: object) -> httpx.Timeout | None:
    return None if timeout is None else coerce_timeout(timeout)


def _merge_extra_headers(headers: dict[str, str], extra: Mapping[str, str] | None) -> None:
    if not extra:
        return
    if not isinstance(extra, Mapping):
        raise InvalidRequestError("extra_headers must be a mapping of header names to values.")
    for name, value in extra.items():
        problem = header_problem(name, value)
        if problem is not None:
            shown = name if isinstance(name, str) and name.isascii() and name.isprintable() else "<name>"
            raise InvalidRequestError(f"extra_headers[{shown!r}] {problem}.")
        headers[name.lower()] = value


_FLAG_TYPES: Final = frozenset({bool, type(None)})


def _check_flag(value: object, name: str) -> None:
    # bool("no") is True: a non-bool flag would be sent as the opposite of what was meant.
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be True, False or None; got {type(value).__name__} {value!r:.40}.")


def build_chat(
    config: ClientConfig,
    messages: object,
    *,
    model: str | None = None,
    stream: bool = False,
    temperature: float | None = None,
    max_tokens: int | None = None,
    system_prompt: str | None = None,
    prefer_async: bool | None = None,
    compress: bool | None = None,
    debug: bool | None = None,
    surface: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    timeout: float | httpx.Timeout | None = None,
    deadline: float | None = None,
) -> RequestSpec:
    """``POST /ai/chat`` (JSON or SSE, per ``stream``)."""
    wire_messages = messages_to_wire(messages)
    check_temperature(temperature)
    check_max_tokens(max_tokens)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequestError(f"model must be a non-empty string such as 'claude-sonnet-4-6'; got {model!r}.")
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0
    ):
        raise InvalidRequestError(f"deadline must be a positive number of seconds; got {deadline!r}.")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InvalidRequestError("system_prompt must be a string.")
    if (
        type(prefer_async) not in _FLAG_TYPES
        or type(compress) not in _FLAG_TYPES
        or type(debug) not in _FLAG_TYPES
        or type(stream) not in _FLAG_TYPES
    ):
        for flag, flag_name in ((stream, "stream"), (prefer_async, "prefer_async"), (compress, "compress")):
            _check_flag(flag, flag_name)
        _check_flag(debug, "debug")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise InvalidRequestError(f"extra_body must be a mapping (a dict); got {type(extra_body).__name__}.")
    body: dict[str, Any] = {"messages": wire_messages}
    if model is not None:
        body["model"] = model
    if stream:
        body["stream"] = True
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["maxTokens"] = max_tokens
    if system_prompt is not None:
        body["systemPrompt"] = system_prompt
    if prefer_async is not None:
        body["prefer_async"] = prefer_async
    if extra_body:
        body.update(extra_body)
    row = _endpoint(config, "stream" if stream else "chat")
    headers = dict(_ACCEPT_HEADERS[row.accept])
    if compress:
        headers["x-neureus-options"] = "compress=true"
    if debug:
        headers["x-neureus-debug"] = "true"
    surface = surface if surface is not None else config.surface
    if surface is not None:
        checked_surface = check_surface(surface, InvalidRequestError)
        if checked_surface is not None:
            headers["x-neureus-surface"] = checked_surface
    _merge_extra_headers(headers, extra_headers)
    return RequestSpec(
        row.method,
        row.path,
        row.operation,
        body,
        None,
        headers,
        _call_timeout(timeout),
        stream=bool(stream),
        deadline=None if deadline is None else float(deadline),
    )


def build_list_models(config: ClientConfig, *, provider: str | None = None, type: str | None = None) -> RequestSpec:
    """``GET /ai/models?provider=&type=``."""
    row = _endpoint(config, "list_models")
    params: dict[str, str] = {}
    for name, value in (("provider", provider), ("type", type)):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise InvalidRequestError(f"{name} must be a non-empty string; got {value!r}.")
            params[name] = value
    return RequestSpec(row.method, row.path, row.operation, None, params or None, dict(_ACCEPT_HEADERS[row.accept]))


def build_embeddings(config: ClientConfig, input: object, *, model: str | None = None) -> RequestSpec:
    """``POST /ai/embeddings``, body ``{"input": ..., "model": ...}``."""
    row = _endpoint(config, "embeddings")
    body: dict[str, Any] = {"input": check_embeddings_input(input)}
    if model is not None:
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(f"model must be a non-empty string; got {model!r}.")
        body["model"] = model
    return RequestSpec(row.method, row.path, row.operation, body, None, dict(_ACCEPT_HEADERS[row.accept]))


def build_list_providers(config: ClientConfig) -> RequestSpec:
    """``GET /ai/providers``."""
    row = _endpoint(config, "list_providers")
    return RequestSpec(row.method, row.path, row.operation, None, None, dict(_ACCEPT_HEADERS[row.accept]))


def _provider_key_spec(config: ClientConfig, call: str, provider: object, key: object) -> RequestSpec:
    row = _endpoint(config, call)
    name = check_provider(provider)
    body = None
    secrets: tuple[str, ...] = ()
    if key is not None:
        value = check_secret_value(key, "key")
        body = {"key": value}
        secrets = (value,)
    return RequestSpec(
        row.method,
        row.path.format(provider=name),
        row.operation,
        body,
        None,
        dict(_ACCEPT_HEADERS[row.accept]),
        secrets=secrets,
        provider=name,
    )


def build_set_provider_key(config: ClientConfig, provider: object, key: object) -> RequestSpec:
    """``PUT /ai/providers/{provider}/key``, body ``{"key": key}``."""
    if key is None:
        raise InvalidRequestError("key must be a non-empty string.")
    return _provider_key_spec(config, "set_provider_key", provider, key)


def build_rotate_provider_key(config: ClientConfig, provider: object, key: object) -> RequestSpec:
    """``POST /ai/providers/{provider}/rotate``, body ``{"key": key}``."""
    if key is None:
        raise InvalidRequestError("key must be a non-empty string.")
    spec = _provider_key_spec(config, "rotate_provider_key", provider, key)
    spec.idempotent = False  # a retried rotation could replace the key twice
    return spec


def build_delete_provider_key(config: ClientConfig, provider: object) -> RequestSpec:
    """``DELETE /ai/providers/{provider}/key``."""
    return _provider_key_spec(config, "delete_provider_key", provider, None)


def build_create_widget_key(config: ClientConfig, agent_id: str | None = None) -> RequestSpec:
    """``POST /ai/widget/key``, body ``{"agent_id": ...}`` when given."""
    row = _endpoint(config, "create_widget_key")
    body: dict[str, Any] = {}
    if agent_id is not None:
        if not isinstance(agent_id, str) or not agent_id:
            raise InvalidRequestError(f"agent_id must be a non-empty string; got {agent_id!r}.")
        body["agent_id"] = agent_id
    headers = dict(_ACCEPT_HEADERS[row.accept])
    return RequestSpec(row.method, row.path, row.operation, body, None, headers, idempotent=False)


def build_revoke_widget_key(config: ClientConfig, key: object) -> RequestSpec:
    """``DELETE /ai/widget/key``, body ``{"key": key}``."""
    row = _endpoint(config, "revoke_widget_key")
    value = check_secret_value(key, "key")
    return RequestSpec(
        row.method,
        row.path,
        row.operation,
        {"key": value},
        None,
        dict(_ACCEPT_HEADERS[row.accept]),
        secrets=(value,),
    )


def base_headers(config: ClientConfig) -> dict[str, str]:
    """The headers every call of a client sends (its key, the user agent, its default
    headers): built once per client, or per ``with_options`` copy."""
    headers = {
        "authorization": f"Bearer {config.api_key}",
        "user-agent": USER_AGENT,
    }
    if config.default_headers:
        headers.update({name.lower(): value for name, value in config.default_headers.items()})
    return headers


def http_request_args(
    config: ClientConfig, spec: RequestSpec, timeout: httpx.Timeout | None, base: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client.build_request`` (the shell builds the request).

    The body was serialised once, when the spec was built; ``timeout=None`` leaves the caller-owned
    client's own timeout in force. ``base`` is :func:`base_headers` of ``config``, when the
    caller keeps it.
    """
    headers = dict(base_headers(config) if base is None else base)
    if config.surface is not None and spec.operation != "chat":
        headers["x-neureus-surface"] = config.surface
    headers.update(spec.headers)
    args: dict[str, Any] = {
        "method": spec.method,
        "url": config.base_url + spec.path,
        "headers": headers,
        # The call's secrets ride on the request (opaque, never sent: httpcore ignores
        # unknown extensions), so the parser can redact an answer that echoes one.
        "extensions": {
            SECRETS_EXTENSION: config.secrets if spec.secrets is NO_SECRETS else config.secrets + spec.secrets
        },
    }
    if spec.content is not None:
        headers["content-type"] = "application/json"
        args["content"] = spec.content
    if spec.params:
        args["params"] = spec.params
    if timeout is not None:
        args["timeout"] = timeout
    return args


_TOO_DEEP: Final = "{}: the gateway's answer is nested too deeply"
# A JSON escape that could spell a key's characters differently: a \u escape (four hex digits) or \/.
_KEY_SPELLING_ESCAPE: Final = re.compile(rb"\\[u/]")


def _load_json(response: httpx.Response, operation: str) -> Any:
    # pydantic-core's parser, the one model_validate_json uses: about 2x json.loads, and it
    # stops at 200 levels of nesting with a ValueError where json.loads would go on to about
    # 1,000 (and the SDK's answer would then fail to pickle, copy or print) or raise
    # RecursionError. Every failure is a ValueError, so one except covers "not JSON".
    try:
        return from_json(response.content)
    except ValueError as exc:
        reason = "nested too deeply" if "recursion limit" in str(exc) else "not valid JSON"
        raise APIResponseValidationError.for_response(
            f"{operation}: the gateway's answer is {reason}", response
        ) from None


def _echoed_secrets(response: httpx.Response) -> Secrets | tuple[str, ...]:
    """The request's secrets when the answer may quote one (else ``()``), for redaction by value.

    The cheap test runs on every answer: a byte search per secret. A JSON escape that could
    spell a key differently (a backslash-u or backslash-slash) sends the answer down the
    careful path too.
    """
    try:
        secrets = response.request.extensions.get(SECRETS_EXTENSION)
    except RuntimeError:  # a response built by hand has no request
        return ()
    if secrets is None:  # a request not built by the SDK: read the key from it
        secrets = request_secrets(response)
    if not secrets:
        return ()
    content = response.content
    if b"\\" in content and _KEY_SPELLING_ESCAPE.search(content):  # memchr first: most answers have none
        return secrets
    found = secrets.appear_in(content) if isinstance(secrets, Secrets) else any(s.encode() in content for s in secrets)
    return secrets if found else ()


def _redact_answer(data: Any, secrets: Iterable[str], response: httpx.Response, operation: str) -> Any:
    # A key the server echoes (in an unknown field, say) must not live on in the model,
    # where reprs, logs and crash reporters would show it.
    try:
        return redact_json(data, secrets)
    except ValueError:
        raise APIResponseValidationError.for_response(_TOO_DEEP.format(operation), response) from None


def _validate(model_type: type[_ModelT], data: Any, response: httpx.Response, operation: str) -> _ModelT:
    try:
        return model_type.model_validate(data)
    except ValidationError as exc:
        raise APIResponseValidationError.for_response(
            f"{operation}: the gateway's answer does not match {model_type.__name__} "
            f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']})",
            response,
        ) from None


def parse_model(model_type: type[_ModelT], response: httpx.Response, operation: str) -> _ModelT:
    """Validate a JSON answer as ``model_type``; a mismatch is an ``APIResponseValidationError``.

    Secrets of the request that the answer echoes are redacted by value first.
    """
    echoed = _echoed_secrets(response)
    if not echoed:
        try:
            # pydantic parses and validates in one pass, about half the cost of json.loads then
            # model_validate on a small answer. On any failure the general path below runs, so
            # what is accepted and every error raised stay exactly those of json.loads + validate.
            return model_type.model_validate_json(response.content)
        except ValidationError:
            pass
    data = _load_json(response, operation)
    if echoed:
        data = _redact_answer(data, echoed, response, operation)
    return _validate(model_type, data, response, operation)


def _load_answer(response: httpx.Response, operation: str) -> Any:
    data = _load_json(response, operation)
    echoed = _echoed_secrets(response)
    return _redact_answer(data, echoed, response, operation) if echoed else data


# The models the hot parsers use, looked up once: an import statement in the function
# costs about a microsecond on every call (resolving the relative name).
_HOT_MODELS: dict[str, Any] = {}


def parse_chat(response: httpx.Response) -> ChatResponse:
    """The JSON answer of ``POST /ai/chat``."""
    model_type = _HOT_MODELS.get("chat")
    if model_type is None:
        from .types import ChatResponse

        model_type = _HOT_MODELS["chat"] = ChatResponse
    reply: ChatResponse = parse_model(model_type, response, "chat")
    return reply


def parse_embeddings(response: httpx.Response) -> EmbeddingsResponse:
    """Any of the four embeddings shapes API.md lists."""
    model_type = _HOT_MODELS.get("embeddings")
    if model_type is None:
        from .types import EmbeddingsResponse

        model_type = _HOT_MODELS["embeddings"] = EmbeddingsResponse
    answer: EmbeddingsResponse = parse_model(model_type, response, "embeddings")
    return answer


def parse_model_list(response: httpx.Response) -> ModelList:
    """``{"models": [...]}`` (a bare list is accepted too)."""
    from .types import ModelList

    data = _load_answer(response, "list_models")
    return _validate(ModelList, {"models": data} if isinstance(data, list) else data, response, "list_models")


def parse_provider_list(response: httpx.Response) -> ProviderList:
    """``{"providers": [...]}`` with strings or objects (a bare list is accepted too)."""
    from .types import ProviderList

    data = _load_answer(response, "list_providers")
    return _validate(ProviderList, {"providers": data} if isinstance(data, list) else data, response, "list_providers")


def parse_provider_key_status(spec: RequestSpec, response: httpx.Response) -> ProviderKeyStatus:
    """``{"provider", "configured"}``; a 204 or an empty body means the operation took effect."""
    from .types import ProviderKeyStatus

    configured = spec.operation != "delete_provider_key"
    if response.status_code == 204 or not response.content.strip():
        return ProviderKeyStatus(provider=spec.provider or "", configured=configured)
    # The key just sent must not live on in the model, even if the gateway echoes it.
    data = _redact_answer(_load_answer(response, spec.operation), spec.secrets, response, spec.operation)
    if isinstance(data, dict):
        data = {"provider": spec.provider, "configured": configured, **data}
    return _validate(ProviderKeyStatus, data, response, spec.operation)


def parse_widget_key(response: httpx.Response) -> WidgetKey:
    """``{"key": "pk_...", "keyPreview": "pk_xxxx"}``."""
    from .types import WidgetKey

    widget_key = parse_model(WidgetKey, response, "create_widget_key")
    if isinstance(widget_key.key, str):  # redacted by value while the object holding it lives
        remember_secrets((widget_key.key,), owner=widget_key)
    return widget_key


def parse_widget_key_revocation(response: httpx.Response) -> WidgetKeyRevocation:
    """A 204 or an empty body counts as revoked; otherwise ``{"revoked": bool}`` (default true)."""
    from .types import WidgetKeyRevocation

    if response.status_code == 204 or not response.content.strip():
        return WidgetKeyRevocation(revoked=True)
    return parse_model(WidgetKeyRevocation, response, "revoke_widget_key")
