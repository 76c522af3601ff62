"""The type names the preprocessing modules share: the message type variable and the callables.

Definitions only: no I/O, and nothing here runs at call time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias, TypeVar

from ..types import ChatMessage

__all__ = ["AsyncCompressor", "Compressor", "MessageT", "TokenCounter"]

MessageT = TypeVar("MessageT", bound=Mapping[str, Any] | ChatMessage)
"""A message as the caller holds it: a ``{"role", "content", ...}`` mapping or a ``ChatMessage``.

Each pass returns messages of the kind it was given (a mapping comes back as a ``dict``).
"""

TokenCounter: TypeAlias = Callable[[str], int]
"""Counts the tokens of one text, e.g. ``lambda text: len(encoding.encode(text))``."""

Compressor: TypeAlias = Callable[[str], str]
"""Turns one message text into a shorter one, synchronously."""

AsyncCompressor: TypeAlias = Callable[[str], Awaitable[str]]
"""Turns one message text into a shorter one, asynchronously (``apreprocess`` takes it)."""
