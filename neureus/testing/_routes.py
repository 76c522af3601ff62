"""The emulator's routes: one handler per gateway endpoint, request in, response out.

This is the *other side* of the contract, written from the spec and API.md alone: it does
not import the SDK's wire code, so a bug there cannot pass on both sides. It shares only
the public data shapes. State (BYOK keys per API key, widget keys, queued replies and
failures) lives in :class:`~neureus.testing.FakeGateway`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._sse import BreakConnection, Pause, StreamScript, encode_stream

if TYPE_CHECKING:
    from ._gateway import FakeGateway, RecordedRequest

__all__ = ["DEFAULT_MODELS", "EmulatorResponse", "route"]

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "id": "auto",
        "name": "Auto (task-routed)",
        "provider": "neureus",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "meta-llm",
        "name": "Llama 3.1 8B (default)",
        "provider": "workers-ai",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "claude-opus-4-8",
        "name": "Claude Opus 4.8",
        "provider": "anthropic",
        "type": "reasoning",
        "contextWindow": 200000,
        "inputCostPer1k": 0.015,
        "outputCostPer1k": 0.075,
        "supportedFeatures": ["streaming", "tool_use"],
    },
    {
        "id": "claude-sonnet-4-6",
        "name": "Claude Sonnet 4.6",
        "provider": "anthropic",
        "type": "reasoning",
        "contextWindow": 200000,
        "inputCostPer1k": 0.003,
        "outputCostPer1k": 0.015,
        "supportedFeatures": ["streaming", "tool_use"],
    },
    {
        "id": "claude-haiku-4-5",
        "name": "Claude Haiku 4.5",
        "provider": "anthropic",
        "type": "chat",
        "contextWindow": 200000,
        "inputCostPer1k": 0.001,
        "outputCostPer1k": 0.005,
        "supportedFeatures": ["streaming", "tool_use"],
    },
    {
        "id": "gpt-4o",
        "name": "GPT-4o",
        "provider": "openai",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.0025,
        "outputCostPer1k": 0.01,
        "supportedFeatures": ["streaming", "tool_use", "vision"],
    },
    {
        "id": "gpt-4o-mini",
        "name": "GPT-4o mini",
        "provider": "openai",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.00015,
        "outputCostPer1k": 0.0006,
        "supportedFeatures": ["streaming", "tool_use"],
    },
    {
        "id": "meta/llama-3.3-70b",
        "name": "Llama 3.3 70B",
        "provider": "workers-ai",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "meta/llama-3.1-8b",
        "name": "Llama 3.1 8B",
        "provider": "workers-ai",
        "type": "chat",
        "contextWindow": 128000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "deepseek/r1-32b",
        "name": "DeepSeek R1 32B",
        "provider": "workers-ai",
        "type": "reasoning",
        "contextWindow": 64000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "qwen/coder-32b",
        "name": "Qwen Coder 32B",
        "provider": "workers-ai",
        "type": "coding",
        "contextWindow": 32000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "moonshot/kimi-k2",
        "name": "Kimi K2",
        "provider": "workers-ai",
        "type": "chat",
        "contextWindow": 256000,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": ["streaming"],
    },
    {
        "id": "bge-base-en",
        "name": "BGE base (English)",
        "provider": "workers-ai",
        "type": "embedding",
        "contextWindow": 512,
        "inputCostPer1k": 0.0,
        "outputCostPer1k": 0.0,
        "supportedFeatures": [],
    },
]

SUPPORTED_PROVIDERS = ("openai", "anthropic")
_PROVIDER_PATH = re.compile(r"^/ai/providers/([^/]+)/(key|rotate)$")
_ROLES = ("system", "user", "assistant")
EMBEDDING_DIMENSIONS = 8

Chunk = "bytes | Pause | BreakConnection"


@dataclasses.dataclass
class EmulatorResponse:
    """A status, headers and a body: whole bytes, or chunks (with pauses and faults)."""

    status: int
    headers: dict[str, str]
    body: bytes | Iterator[bytes | Pause | BreakConnection] = b""

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, bytes)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> EmulatorResponse:
    return EmulatorResponse(status, {"content-type": "application/json", **(headers or {})}, json.dumps(data).encode())


def error_response(status: int, message: str, kind: str) -> EmulatorResponse:
    return json_response(status, {"error": {"message": message, "type": kind}})


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def split_tokens(text: str) -> list[str]:
    """Split a reply into word-sized tokens that join back to the text exactly."""
    return re.findall(r"\s*\S+|\s+", text) or [text]


def default_reply(messages: list[dict[str, Any]]) -> str:
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    snippet = " ".join(str(last).split())
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    return f"Hello from the Neureus emulator! You said: {snippet}"


def fake_embedding(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:EMBEDDING_DIMENSIONS]]


def route(gateway: FakeGateway, request: RecordedRequest) -> EmulatorResponse:
    """Answer one request as the gateway would."""
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not key or (gateway.valid_keys is not None and key not in gateway.valid_keys):
        return error_response(401, "Missing or invalid API key.", "authentication_error")
    if key in gateway.revoked_widget_keys:
        return error_response(401, "This widget key has been revoked.", "authentication_error")
    path, method = request.path, request.method
    is_chat = path == "/ai/chat" and method == "POST"
    if key.startswith("pk_") and not is_chat:
        return error_response(403, "Widget keys (pk_) may only call /ai/chat.", "permission_error")
    body = request.json
    if is_chat:
        return _chat(gateway, request, body)
    if path == "/ai/models" and method == "GET":
        return _models(gateway, request)
    if path == "/ai/embeddings" and method == "POST":
        return _embeddings(gateway, body)
    if path == "/ai/providers" and method == "GET":
        return _providers(gateway, key)
    match = _PROVIDER_PATH.match(path)
    if match:
        return _provider_key(gateway, key, method, match.group(1), match.group(2), body)
    if path == "/ai/widget/key":
        return _widget_key(gateway, key, method, body)
    return error_response(404, f"No route for {method} {path}.", "not_found")


def _chat(gateway: FakeGateway, request: RecordedRequest, body: Any) -> EmulatorResponse:
    if not isinstance(body, dict):
        return error_response(400, "The body must be a JSON object.", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response(400, "messages must be a non-empty array.", "invalid_request_error")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return error_response(400, f"messages[{index}].role is invalid.", "invalid_request_error")
        if not isinstance(message.get("content"), str):
            return error_response(400, f"messages[{index}].content must be a string.", "invalid_request_error")
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        return error_response(400, "temperature must be between 0 and 2.", "invalid_request_error")
    model = body.get("model") or "meta-llm"
    if gateway.strict_models and model not in {m["id"] for m in gateway.models}:
        return error_response(404, f"Unknown model {model!r}.", "not_found")
    if isinstance(body.get("systemPrompt"), str):
        messages = [{"role": "system", "content": body["systemPrompt"]}, *messages]
    input_tokens = sum(_tokens(m["content"]) for m in messages)
    reply = gateway._next_reply()
    log_id = "log_" + secrets.token_hex(6)
    if body.get("stream"):
        script = (
            reply
            if isinstance(reply, StreamScript)
            else StreamScript(tokens=split_tokens(reply if isinstance(reply, str) else default_reply(messages)))
        )
        chunks = encode_stream(script, log_id=log_id, input_tokens=input_tokens)
        return EmulatorResponse(200, {"content-type": "text/event-stream", "cache-control": "no-cache"}, chunks)
    if isinstance(reply, StreamScript):
        text = "".join(reply.tokens)
    elif isinstance(reply, str):
        text = reply
    else:
        text = default_reply(messages)
    output_tokens = _tokens(text)
    price = next((m for m in gateway.models if m["id"] == model), {})
    cost = input_tokens / 1000 * price.get("inputCostPer1k", 0.0) + output_tokens / 1000 * price.get(
        "outputCostPer1k", 0.0
    )
    data: dict[str, Any] = {
        "text": text,
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "logId": log_id,
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        "cached": False,
        "costUsd": round(cost, 8),
        "model": model,
    }
    if request.headers.get("x-neureus-debug") == "true":
        data["_preprocessing"] = {
            "originalTokens": input_tokens,
            "finalTokens": input_tokens,
            "originalMessages": len(messages),
            "finalMessages": len(messages),
            "trimmed": False,
            "compressed": request.headers.get("x-neureus-options") == "compress=true",
            "passes": ["normalize", "structure", "trim"]
            + (["compress"] if request.headers.get("x-neureus-options") == "compress=true" else []),
        }
    return json_response(200, data)


def _models(gateway: FakeGateway, request: RecordedRequest) -> EmulatorResponse:
    models = gateway.models
    provider = request.query.get("provider")
    kind = request.query.get("type")
    if provider:
        models = [m for m in models if m.get("provider") == provider]
    if kind:
        models = [m for m in models if m.get("type") == kind]
    return json_response(200, {"models": models}, {"cache-control": "max-age=300"})


def _embeddings(gateway: FakeGateway, body: Any) -> EmulatorResponse:
    if not isinstance(body, dict) or "input" not in body:
        return error_response(400, "input is required.", "invalid_request_error")
    raw = body["input"]
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        return error_response(400, "input must be a string or an array of strings.", "invalid_request_error")
    vectors = [fake_embedding(text) for text in inputs]
    model = body.get("model") or "bge-base-en"
    usage = {"prompt_tokens": sum(_tokens(t) for t in inputs), "total_tokens": sum(_tokens(t) for t in inputs)}
    shape = gateway.embeddings_shape
    if shape == "data_objects":
        # Out of order on purpose: clients must sort by index.
        items = [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)]
        data: dict[str, Any] = {"data": list(reversed(items)), "model": model, "usage": usage}
    elif shape == "data_lists":
        data = {"data": vectors, "model": model}
    elif shape == "embedding" and len(vectors) == 1:
        data = {"embedding": vectors[0], "model": model}
    else:
        data = {"embeddings": vectors, "model": model, "usage": usage}
    return json_response(200, data)


def _providers(gateway: FakeGateway, key: str) -> EmulatorResponse:
    configured = sorted(gateway.provider_keys.get(key, {}))
    if gateway.providers_as_strings:
        return json_response(200, {"providers": configured})
    return json_response(200, {"providers": [{"provider": p, "configured": True} for p in configured]})


def _provider_key(
    gateway: FakeGateway, key: str, method: str, provider: str, action: str, body: Any
) -> EmulatorResponse:
    if provider not in SUPPORTED_PROVIDERS:
        return error_response(
            400,
            f"Unsupported provider {provider!r}; supported: {', '.join(SUPPORTED_PROVIDERS)}.",
            "invalid_request_error",
        )
    store = gateway.provider_keys.setdefault(key, {})
    if action == "key" and method == "DELETE":
        if provider not in store:
            return error_response(404, f"No key is configured for {provider}.", "not_found")
        del store[provider]
        return json_response(200, {"provider": provider, "configured": False})
    if (action, method) not in (("key", "PUT"), ("rotate", "POST")):
        return error_response(405, f"{method} is not allowed here.", "method_not_allowed")
    if not isinstance(body, dict) or not isinstance(body.get("key"), str) or not body["key"]:
        return error_response(400, "key is required.", "invalid_request_error")
    if action == "rotate" and provider not in store:
        return error_response(404, f"No key is configured for {provider}; set one first.", "not_found")
    store[provider] = body["key"]
    return json_response(200, {"provider": provider, "configured": True})


def _widget_key(gateway: FakeGateway, key: str, method: str, body: Any) -> EmulatorResponse:
    if method == "POST":
        agent_id = body.get("agent_id") if isinstance(body, dict) else None
        widget = "pk_" + secrets.token_hex(16)
        gateway.widget_keys[widget] = {"tenant": key, "agent_id": agent_id}
        return json_response(200, {"key": widget, "keyPreview": widget[:7]})
    if method == "DELETE":
        target = body.get("key") if isinstance(body, dict) else None
        owner = gateway.widget_keys.get(target or "")
        if owner is None or owner["tenant"] != key:
            return error_response(404, "No such widget key.", "not_found")
        del gateway.widget_keys[target or ""]
        gateway.revoked_widget_keys.add(target or "")
        return EmulatorResponse(204, {}, b"")
    return error_response(405, f"{method} is not allowed here.", "method_not_allowed")
