"""Local checks that run before anything is built or sent.

Every failure is an :class:`InvalidRequestError` (a ``ValueError``) whose message names
the argument, the message index or the field at fault and says what would be accepted.
Pure functions only: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._exceptions import InvalidRequestError, WidgetKeyScopeError

__all__ = [
    "ROLES",
    "check_embeddings_input",
    "check_max_tokens",
    "check_provider",
    "check_secret_value",
    "check_temperature",
    "check_widget_scope",
    "message_to_wire",
    "messages_to_wire",
]

ROLES = ("system", "user", "assistant")
_PROVIDER_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
# A provider name becomes a URL path segment; a length cap keeps it a name, not a payload.
_PROVIDER_MAX_LEN = 64


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def message_to_wire(message: object, index: int) -> dict[str, Any]:
    """Check one message and return it as a plain ``{"role", "content", ...}`` dict.

    Accepts a mapping or any object with ``role`` and ``content`` attributes (such as
    :class:`neureus.types.ChatMessage`). Extra fields of a mapping are kept.
    """
    if type(message) is dict or isinstance(message, Mapping):  # a dict skips the ABC's check
        if "role" not in message:
            raise InvalidRequestError(f"messages[{index}] has no 'role'; use one of {', '.join(ROLES)}.")
        if "content" not in message:
            raise InvalidRequestError(f"messages[{index}] has no 'content'; give its text as a string.")
        role = message["role"]
        content = message["content"]
        wire = dict(message)
    elif hasattr(message, "role") and hasattr(message, "content"):
        role = message.role
        content = message.content
        extra = getattr(message, "model_extra", None) or {}
        wire = {"role": role, "content": content, **extra}
    else:
        raise InvalidRequestError(
            f"messages[{index}] is {type(message).__name__}; pass a dict like "
            "{'role': 'user', 'content': '...'} or a neureus.types.ChatMessage."
        )
    if role not in ROLES:
        raise InvalidRequestError(f"messages[{index}] has role {_describe(role)}; use one of {', '.join(ROLES)}.")
    if not isinstance(content, str):
        raise InvalidRequestError(
            f"messages[{index}] content is {type(content).__name__}, not a string; "
            "send text (join parts yourself if you have a list)."
        )
    return wire


def messages_to_wire(messages: object) -> list[dict[str, Any]]:
    """Check a whole conversation; it must be a non-empty sequence of messages."""
    if type(messages) is not list and (  # a list skips the ABCs' checks
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable)
    ):
        raise InvalidRequestError(
            "messages must be a list of messages, e.g. [{'role': 'user', 'content': 'Hello'}]; "
            f"got {type(messages).__name__}."
        )
    wire = [message_to_wire(message, index) for index, message in enumerate(messages)]
    if not wire:
        raise InvalidRequestError("messages is empty; send at least one message.")
    return wire


def check_temperature(temperature: float | None) -> None:
    """``temperature`` must be a number from 0 to 2 (the gateway's range)."""
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise InvalidRequestError(f"temperature must be a number from 0 to 2; got {_describe(temperature)}.")
    if math.isnan(temperature) or not 0 <= temperature <= 2:
        raise InvalidRequestError(f"temperature must be from 0 to 2; got {temperature}.")


def check_max_tokens(max_tokens: int | None) -> None:
    """``max_tokens`` must be a positive whole number."""
    if max_tokens is None:
        return
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequestError(f"max_tokens must be a positive whole number; got {_describe(max_tokens)}.")


def check_provider(provider: object) -> str:
    """A provider becomes a path segment: it must match ``[a-z0-9][a-z0-9_-]*``."""
    if not isinstance(provider, str) or not provider:
        raise InvalidRequestError(
            f"provider must be a non-empty name such as 'openai' or 'anthropic'; got {_describe(provider)}."
        )
    if len(provider) > _PROVIDER_MAX_LEN or not _PROVIDER_RE.fullmatch(provider):
        raise InvalidRequestError(
            f"provider {_describe(provider)} is not a valid name: use lowercase letters, digits, "
            "'-' and '_' only, starting with a letter or digit (e.g. 'openai')."
        )
    return provider


def check_secret_value(value: object, what: str) -> str:
    """A key passed to the gateway must be a non-empty string without whitespace at its ends."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{what} must be a non-empty string.")
    if value != value.strip():
        raise InvalidRequestError(f"{what} has leading or trailing whitespace; strip it first.")
    return value


def check_embeddings_input(value: object) -> str | list[str]:
    """A string, or a non-empty sequence of strings."""
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError("input is an empty string; give the text to embed.")
        return value
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidRequestError(f"input must be a string or a list of strings; got {type(value).__name__}.")
    items = list(value)
    if not items:
        raise InvalidRequestError("input is an empty list; give at least one string to embed.")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidRequestError(f"input[{index}] is {type(item).__name__}; every item must be a string.")
    return items


def check_widget_scope(is_widget_key: bool, operation: str) -> None:
    """A ``pk_`` widget key may only chat; refuse anything else before it is sent."""
    if is_widget_key:
        raise WidgetKeyScopeError(
            f"{operation}() is not allowed with a widget key (pk_...): widget keys are chat-only. "
            "Use a server API key (NEUREUS_API_KEY) for this call."
        )
