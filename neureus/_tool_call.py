"""``ToolCall``: one tool call a model asked for, read from the OpenAI or Anthropic shape. No I/O.

The gateway hands tool calls on as the provider sent them (``toolCalls``):

- OpenAI: ``{"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}``;
- Anthropic: ``{"type": "tool_use", "id", "name", "input": {...}}``;
- flat: ``{"id", "name", "arguments": {...} | "<JSON text>"}``.

Each becomes ``ToolCall(id, name, arguments: dict, raw)``; ``raw`` keeps the item as sent.
Arguments that are not a JSON object (a model may write broken JSON) give ``arguments ==
{}``, with the text still in ``raw``: one bad call must not make the whole reply unreadable.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from ._models import NeureusModel

__all__ = ["ToolCall"]


def _arguments(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (ValueError, RecursionError):
            return {}
    return dict(value) if isinstance(value, dict) else {}


class ToolCall(NeureusModel):
    """A tool call the model asked for.

    >>> reply.tool_calls[0].name, reply.tool_calls[0].arguments  # doctest: +SKIP
    ('get_weather', {'city': 'Paris'})
    """

    id: str | None = None
    """The provider's id of this call (quote it when answering with the tool's result)."""
    name: str
    """The tool's name."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """The arguments, decoded from JSON (``{}`` when the model's JSON was not an object)."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """The item exactly as the gateway sent it."""

    @model_validator(mode="before")
    @classmethod
    def _normalise_shape(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "raw" in data:
            return data
        function = data.get("function")
        if isinstance(function, dict):  # OpenAI
            name, arguments = function.get("name"), function.get("arguments")
        elif "input" in data and "arguments" not in data:  # Anthropic tool_use
            name, arguments = data.get("name"), data.get("input")
        else:
            name, arguments = data.get("name"), data.get("arguments", data.get("args"))
        call_id = data.get("id", data.get("toolCallId", data.get("tool_call_id")))
        return {
            "id": call_id if isinstance(call_id, str) else None,
            "name": name,
            "arguments": _arguments(arguments),
            "raw": data,
        }
