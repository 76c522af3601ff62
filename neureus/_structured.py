"""Structured output for ``client.ai.parse``: the decisions, with no I/O.

:func:`parse_flow` is a generator like the request flow: it *yields* the messages of the
next chat call and is *sent* its :class:`~neureus.ChatResponse`; it returns a
:class:`ParsedChatResponse` or raises. The sync and async ``parse`` only make the calls,
so both share every decision: the schema asked for in a system message, the reply's JSON
(bare or in a fenced block) validated, a failure re-asked with the validation error,
``finish_reason == "length"`` raising :class:`LengthFinishReasonError`, and running out of
attempts raising :class:`OutputValidationError` with the raw replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._exceptions import InvalidRequestError, NeureusError

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from .types import ChatResponse, MessageParam

__all__ = [
    "LengthFinishReasonError",
    "OutputValidationError",
    "ParsedChatResponse",
    "check_parse_arguments",
    "extract_json",
    "parse_flow",
]

T = TypeVar("T")

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)```", re.DOTALL)
# A validation error can be long; the model needs its gist, not 50 KB of it.
_MAX_ERROR_CHARS = 2000


class LengthFinishReasonError(NeureusError):
    """The reply was cut at ``max_tokens`` (``finish_reason == "length"``), so its JSON is
    incomplete: raise ``max_tokens`` or ask for less. ``response`` is the cut reply."""

    response: ChatResponse | None

    def __init__(self, message: str, *, response: ChatResponse | None = None) -> None:
        super().__init__(message)
        self.response = response


class OutputValidationError(NeureusError):
    """No reply validated against the ``response_model`` within ``max_attempts``.

    ``raw_replies`` holds each reply's text, ``errors`` each validation error (as text),
    in attempt order.
    """

    raw_replies: list[str]
    errors: list[str]

    def __init__(self, message: str, *, raw_replies: Sequence[str] = (), errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.raw_replies = list(raw_replies)
        self.errors = list(errors)

    @property
    def attempts(self) -> int:
        """How many replies were tried."""
        return len(self.raw_replies)


class ParsedChatResponse(Generic[T]):
    """What ``client.ai.parse`` returns: the validated object and the calls it took.

    >>> result = client.ai.parse(messages, response_model=City)  # doctest: +SKIP
    >>> result.parsed.name, result.attempts  # doctest: +SKIP
    ('Paris', 1)

    Token counts and cost are summed over every attempt (``None`` when the gateway sent none).
    """

    __slots__ = ("attempts", "cost_usd", "input_tokens", "output_tokens", "parsed", "response", "responses")

    parsed: T
    """The reply, validated as the ``response_model``."""
    attempts: int
    """How many chat calls it took (1 when the first reply validated)."""
    response: ChatResponse
    """The last reply (the one that validated)."""
    responses: list[ChatResponse]
    """Every reply, in order."""
    input_tokens: int | None
    """Input tokens summed over the attempts."""
    output_tokens: int | None
    """Output tokens summed over the attempts."""
    cost_usd: float | None
    """Cost summed over the attempts, in US dollars."""

    def __init__(self, parsed: T, responses: Sequence[ChatResponse]) -> None:
        self.parsed = parsed
        self.responses = list(responses)
        self.response = self.responses[-1]
        self.attempts = len(self.responses)
        self.input_tokens = _sum(r.input_tokens for r in self.responses)
        self.output_tokens = _sum(r.output_tokens for r in self.responses)
        self.cost_usd = _sum(r.cost_usd for r in self.responses)

    @property
    def text(self) -> str:
        """The raw text of the reply that validated."""
        return self.response.text

    @property
    def log_id(self) -> str | None:
        """The gateway's log id of the reply that validated."""
        return self.response.log_id

    def __repr__(self) -> str:
        return f"ParsedChatResponse(parsed={self.parsed!r}, attempts={self.attempts})"


def _sum(values: Any) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def check_parse_arguments(response_model: object, max_attempts: object) -> TypeAdapter[Any]:
    """Refuse bad arguments before anything is sent; return the adapter that validates."""
    from pydantic import BaseModel, TypeAdapter

    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise InvalidRequestError(f"max_attempts must be an int of at least 1; got {max_attempts!r}.")
    if isinstance(response_model, TypeAdapter):
        return response_model
    if isinstance(response_model, type) and issubclass(response_model, BaseModel):
        return TypeAdapter(response_model)
    raise InvalidRequestError(
        "response_model must be a pydantic model class (a BaseModel subclass) or a pydantic.TypeAdapter; "
        f"got {response_model!r}. Wrap other types: response_model=TypeAdapter(list[int])."
    )


def schema_instruction(adapter: TypeAdapter[Any]) -> str:
    """The system message that asks for JSON matching the schema."""
    schema = json.dumps(adapter.json_schema(), separators=(",", ":"))
    return (
        "Answer with a single JSON value that matches this JSON Schema, and nothing else "
        f"(no prose, no explanation):\n{schema}"
    )


def extract_json(text: str) -> str:
    """The JSON in a reply: a fenced ```json block if there is one, else the text from the
    first ``{`` or ``[`` to the last matching bracket, else the text itself."""
    fenced = _FENCE.search(text)
    if fenced:
        return fenced.group(1).strip()
    stripped = text.strip()
    starts = [i for i in (stripped.find("{"), stripped.find("[")) if i >= 0]
    if not starts:
        return stripped
    start = min(starts)
    closer = "}" if stripped[start] == "{" else "]"
    end = stripped.rfind(closer)
    return stripped[start : end + 1] if end > start else stripped[start:]


def _validate(adapter: TypeAdapter[Any], text: str) -> Any:
    return adapter.validate_json(extract_json(text))


def _error_text(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + " ..."


def _finish_reason(response: ChatResponse) -> str | None:
    if response.choices:
        return response.choices[0].finish_reason
    extra = response.model_extra or {}
    reason = extra.get("finishReason", extra.get("finish_reason"))
    return reason if isinstance(reason, str) else None


def parse_flow(
    messages: Sequence[MessageParam], adapter: TypeAdapter[Any], max_attempts: int
) -> Generator[list[Any], ChatResponse, ParsedChatResponse[Any]]:
    """Drive ``parse``: yields the messages of each call, is sent each reply."""
    from pydantic import ValidationError

    conversation: list[Any] = [{"role": "system", "content": schema_instruction(adapter)}, *messages]
    responses: list[ChatResponse] = []
    errors: list[str] = []
    for _ in range(max_attempts):
        response = yield conversation
        responses.append(response)
        if _finish_reason(response) == "length":
            raise LengthFinishReasonError(
                f"The reply was cut at max_tokens (finish_reason 'length') on attempt {len(responses)}, "
                "so its JSON is incomplete: raise max_tokens or ask for a smaller object.",
                response=response,
            )
        try:
            parsed = _validate(adapter, response.text)
        except ValidationError as exc:
            error = _error_text(exc)
            errors.append(error)
            conversation = [
                *conversation,
                {"role": "assistant", "content": response.text},
                {
                    "role": "user",
                    "content": "That reply did not validate against the schema:\n"
                    f"{error}\nAnswer again with only the corrected JSON.",
                },
            ]
            continue
        return ParsedChatResponse(parsed, responses)
    raise OutputValidationError(
        f"No reply matched the response_model in {max_attempts} attempt(s); the last error: "
        f"{errors[-1].splitlines()[0] if errors else 'none'}. The replies are in .raw_replies.",
        raw_replies=[r.text for r in responses],
        errors=errors,
    )


# Public as neureus.X, which loads this module on first use (neureus/__init__.py): show that
# name in tracebacks and reprs even when parse() loaded the module first.
for _cls in (LengthFinishReasonError, OutputValidationError, ParsedChatResponse):
    _cls.__module__ = "neureus"
del _cls
