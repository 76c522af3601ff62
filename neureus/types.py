"""The public data models of the Neureus AI Gateway, as pydantic v2 models.

Attributes are snake_case; the wire's camelCase names (``logId``, ``inputTokens``,
``contextWindow``) are read as well, and fields the gateway adds later are kept on the
object (``model.model_extra``) rather than dropped.

>>> from neureus.types import ChatMessage
>>> ChatMessage(role="user", content="Hello")
ChatMessage(role='user', content='Hello')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, model_validator

from ._models import NeureusModel
from ._redact import redact_key
from ._tool_call import ToolCall

__all__ = [
    "ChatChoice",
    "ChatChoiceMessage",
    "ChatMessage",
    "ChatResponse",
    "ChatUsage",
    "CostEstimate",
    "EmbeddingsResponse",
    "MessageParam",
    "Model",
    "ModelList",
    "PreprocessingInfo",
    "ProviderKeyStatus",
    "ProviderList",
    "ProviderStatus",
    "Role",
    "StreamFinal",
    "ToolCall",
    "WidgetKey",
    "WidgetKeyRevocation",
]

Role = Literal["system", "user", "assistant"]
"""The roles the gateway accepts for a chat message."""


class ChatMessage(NeureusModel):
    """One message of a conversation.

    >>> ChatMessage(role="system", content="Answer in French.")
    ChatMessage(role='system', content='Answer in French.')
    """

    role: Role
    """Who speaks: ``"system"``, ``"user"`` or ``"assistant"``."""
    content: str
    """The text of the message."""


MessageParam = ChatMessage | dict[str, Any]
"""What ``messages=`` accepts: ``ChatMessage`` objects or plain ``{"role", "content"}`` dicts."""


class ChatChoiceMessage(NeureusModel):
    """The message inside an OpenAI-compatible choice."""

    role: str = "assistant"
    """The role of the reply, normally ``"assistant"``."""
    content: str | None = None
    """The text of the reply."""


class ChatChoice(NeureusModel):
    """One OpenAI-compatible choice of a chat response."""

    message: ChatChoiceMessage = Field(default_factory=ChatChoiceMessage)
    """The reply message."""
    finish_reason: str | None = None
    """Why generation stopped (``"stop"``, ``"length"``, ...)."""
    index: int | None = None
    """The position of this choice."""


class ChatUsage(NeureusModel):
    """OpenAI-compatible token usage."""

    prompt_tokens: int | None = None
    """Tokens in the prompt."""
    completion_tokens: int | None = None
    """Tokens in the reply."""
    total_tokens: int | None = None
    """The sum of both."""


class PreprocessingInfo(NeureusModel):
    """The gateway's ``_preprocessing`` report, sent when ``debug=True``.

    Its exact fields are the gateway's; the common ones are named here and any others
    are kept as extra attributes.
    """

    original_tokens: int | None = None
    """Estimated tokens before the pipeline ran."""
    final_tokens: int | None = None
    """Estimated tokens after the pipeline ran."""
    original_messages: int | None = None
    """Messages before the pipeline ran."""
    final_messages: int | None = None
    """Messages after the pipeline ran."""
    trimmed: bool | None = None
    """Whether the trim pass dropped messages."""
    compressed: bool | None = None
    """Whether the compress pass ran."""
    passes: list[str] | None = None
    """The passes that ran, in order."""


class ChatResponse(NeureusModel):
    """The answer to a non-streaming chat call.

    >>> reply = client.ai.chat([{"role": "user", "content": "Hi"}])  # doctest: +SKIP
    >>> print(reply.text)  # doctest: +SKIP
    """

    text: str = ""
    """The reply text (also available as ``content``)."""
    choices: list[ChatChoice] = Field(default_factory=list)
    """OpenAI-compatible choices."""
    tool_calls: list[ToolCall] | None = None
    """Tool calls the model asked for (``toolCalls``), each a :class:`ToolCall` read from the
    OpenAI or Anthropic shape (``raw`` keeps it as sent)."""
    reasoning: str | None = None
    """The model's reasoning text, for models that expose it."""
    log_id: str | None = None
    """The gateway's log id for this call (``logId``)."""
    input_tokens: int | None = None
    """Tokens billed for the input (``inputTokens``)."""
    output_tokens: int | None = None
    """Tokens billed for the output (``outputTokens``)."""
    usage: ChatUsage | None = None
    """OpenAI-compatible usage."""
    cached: bool | None = None
    """Whether the gateway answered from its cache."""
    cost_usd: float | None = None
    """What the call cost, in US dollars (``costUsd``)."""
    preprocessing: PreprocessingInfo | None = Field(default=None, alias="_preprocessing")
    """The gateway's preprocessing report (sent with ``debug=True``), else ``None``."""

    @property
    def content(self) -> str:
        """The reply text; the same as ``text`` (the name the gateway's JS SDK uses)."""
        return self.text

    def _repr_markdown_(self) -> str:
        from ._display import chat_response_markdown

        return chat_response_markdown(self)


class StreamFinal(NeureusModel):
    """The final ``{"done": true, ...}`` event of a stream."""

    done: bool = True
    """Always true for the final event."""
    log_id: str | None = None
    """The gateway's log id for this call (``logId``)."""
    input_tokens: int | None = None
    """Tokens billed for the input (``inputTokens``)."""
    output_tokens: int | None = None
    """Tokens billed for the output (``outputTokens``)."""


class EmbeddingsResponse(NeureusModel):
    """Embeddings, one vector per input, in input order.

    Whatever shape the gateway sends (``{"embeddings": [[...]]}``, ``{"data": [{"embedding":
    [...], "index": i}]}``, ``{"data": [[...]]}`` or ``{"embedding": [...]}``), ``embeddings``
    is a ``list[list[float]]``.
    """

    embeddings: list[list[float]]
    """One vector per input."""
    model: str | None = None
    """The model that made them, when the gateway says."""
    usage: dict[str, Any] | None = None
    """Token usage, when the gateway says."""

    @model_validator(mode="before")
    @classmethod
    def _normalise_shape(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "embeddings" in data:
            return data
        data = dict(data)
        if "embedding" in data:
            data["embeddings"] = [data.pop("embedding")]
        elif isinstance(data.get("data"), list):
            items = data.pop("data")
            if items and all(isinstance(item, dict) for item in items):
                # Order by "index" when every item has an integer one; else keep the wire order.
                if all(type(item.get("index")) is int for item in items):
                    ordered = sorted(enumerate(items), key=lambda pair: pair[1]["index"])
                else:
                    ordered = list(enumerate(items))
                data["embeddings"] = [item.get("embedding") for _, item in ordered]
            else:
                data["embeddings"] = items
        return data

    # A sequence of its vectors: iteration, indexing and len() agree (pydantic's default
    # __iter__ would yield (field, value) pairs; model_dump and copies do not use it).
    def __iter__(self) -> Iterator[list[float]]:  # type: ignore[override]
        return iter(self.embeddings)

    def __len__(self) -> int:
        return len(self.embeddings)

    def __getitem__(self, index: int) -> list[float]:
        return self.embeddings[index]


class Model(NeureusModel):
    """A model the gateway can route to, with its prices."""

    id: str
    """The id to pass as ``model=`` (e.g. ``"claude-sonnet-4-6"``)."""
    name: str | None = None
    """A human-readable name."""
    provider: str | None = None
    """Who serves it: ``"anthropic"``, ``"openai"``, ``"workers-ai"``, ..."""
    type: str | None = None
    """Its task type: ``"chat"``, ``"reasoning"``, ``"coding"``, ``"embedding"``, ..."""
    context_window: int | None = None
    """The context window in tokens (``contextWindow``)."""
    input_cost_per_1k: float | None = Field(default=None, alias="inputCostPer1k")
    """US dollars per 1,000 input tokens (``inputCostPer1k``)."""
    output_cost_per_1k: float | None = Field(default=None, alias="outputCostPer1k")
    """US dollars per 1,000 output tokens (``outputCostPer1k``)."""
    supported_features: list[str] = Field(default_factory=list)
    """Features such as ``"streaming"`` or ``"tool_use"`` (``supportedFeatures``)."""


class ModelList(NeureusModel):
    """The models the gateway lists; iterable, sized and indexable.

    >>> for model in client.ai.list_models(provider="anthropic"):  # doctest: +SKIP
    ...     print(model.id, model.input_cost_per_1k)
    """

    models: list[Model] = Field(default_factory=list)
    """The models, in the gateway's order."""

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, index: int) -> Model:
        return self.models[index]

    def get(self, model_id: str) -> Model | None:
        """The model with this id, or ``None``."""
        for model in self.models:
            if model.id == model_id:
                return model
        return None

    def _repr_html_(self) -> str:
        from ._display import model_list_html

        return model_list_html(self)


class ProviderStatus(NeureusModel):
    """Whether a BYOK provider key is configured for this tenant."""

    provider: str
    """The provider's name (``"openai"``, ``"anthropic"``, ...)."""
    configured: bool = True
    """Whether a key is stored for it."""

    @model_validator(mode="before")
    @classmethod
    def _accept_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"provider": data, "configured": True}
        if isinstance(data, dict) and "provider" not in data and "name" in data:
            data = dict(data)
            data["provider"] = data.pop("name")
        return data


class ProviderList(NeureusModel):
    """The BYOK providers of this tenant; entries sent as bare strings are configured."""

    providers: list[ProviderStatus] = Field(default_factory=list)
    """One entry per provider."""

    def __iter__(self) -> Iterator[ProviderStatus]:  # type: ignore[override]
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)

    def __getitem__(self, index: int) -> ProviderStatus:
        return self.providers[index]

    @property
    def configured(self) -> list[str]:
        """The names of the providers that have a key."""
        return [p.provider for p in self.providers if p.configured]


class ProviderKeyStatus(NeureusModel):
    """The result of setting, rotating or deleting a BYOK key (the key itself never comes back)."""

    provider: str
    """The provider's name."""
    configured: bool
    """Whether a key is stored for it now."""


class WidgetKey(NeureusModel):
    """A publishable, chat-only widget key (``pk_...``).

    ``key`` holds the full value; ``repr()`` and ``str()`` show it redacted.
    """

    key: str
    """The full widget key; treat it as a secret until you embed it."""
    key_preview: str | None = None
    """A short preview safe to display (``keyPreview``)."""

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield (name, redact_key(value) if name == "key" and isinstance(value, str) else value)


class WidgetKeyRevocation(NeureusModel):
    """The result of revoking a widget key; a 204 counts as revoked."""

    revoked: bool = True
    """Whether the key is revoked now."""


class CostEstimate(NeureusModel):
    """What a chat call would cost, from the model's listed prices and estimated tokens."""

    model: str
    """The model priced."""
    input_tokens: int
    """Estimated input tokens."""
    output_tokens: int
    """Output tokens assumed (``max_output_tokens``, or 0)."""
    input_cost_usd: float
    """Input cost in US dollars."""
    output_cost_usd: float
    """Output cost in US dollars."""
    total_usd: float
    """The sum of both."""
