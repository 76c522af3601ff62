"""``Record``: a small base for the core's internal value objects. No I/O.

A dataclass costs about a millisecond to create at import (slotted and frozen ones more);
a plain class with ``__slots__`` costs microseconds, and is cheaper to build per call too.
Records are immutable by convention: the core never assigns to one after building it.
"""

from __future__ import annotations

__all__ = ["Record"]


class Record:
    """Equality and a readable repr from ``__slots__``; subclasses write their ``__init__``."""

    __slots__ = ()

    def _fields(self) -> tuple[str, ...]:
        fields: tuple[str, ...] = type(self).__slots__
        return fields

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._fields())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__name__}({fields})"
