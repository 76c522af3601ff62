"""``BatchItem`` and ``BatchResult``: what ``chat_many`` and ``iter_many`` hand back. No I/O."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from ._exceptions import NeureusError
    from ._usage import Usage
    from .types import ChatResponse

__all__ = ["BatchItem", "BatchResult"]

_R = TypeVar("_R")


class BatchItem(Generic[_R]):
    """One input of a bulk run and how it ended: ``response`` or ``error``, never both.

    >>> for item in client.ai.iter_many(["a", "b"]):  # doctest: +SKIP
    ...     print(item.index, item.response.text if item.ok else item.error)
    """

    __slots__ = ("error", "index", "input", "response")

    index: int
    """The input's position (0-based)."""
    input: Any
    """The input as given (a str, a list of messages or a dict of chat() keywords)."""
    response: _R | None
    """The reply, when the call succeeded."""
    error: NeureusError | None
    """What went wrong, when it failed (the run goes on regardless)."""

    def __init__(self, index: int, input: Any, response: _R | None = None, error: NeureusError | None = None) -> None:
        self.index = index
        self.input = input
        self.response = response
        self.error = error

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchItem):
            return NotImplemented
        return (self.index, self.input, self.response, self.error) == (
            other.index,
            other.input,
            other.response,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.index, self.input, self.response, self.error)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.index, self.input, self.response, self.error = state

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else f"response={self.response!r}"
        return f"BatchItem(index={self.index}, {outcome})"


class BatchResult(Sequence["BatchItem[ChatResponse]"]):
    """Every item of a ``chat_many`` run, in input order; failures included.

    >>> result = client.ai.chat_many(["Name a colour.", "Name a fruit."])  # doctest: +SKIP
    >>> [r.text for r in result.responses if r is not None]  # doctest: +SKIP
    >>> result.errors  # doctest: +SKIP
    {}

    ``len(result)``, iteration and ``result[i]`` agree (``result[i].index == i``).
    ``responses`` lines up with the inputs (``None`` where an item failed), ``errors``
    maps the index of each failed item to its error, and ``usage`` is what this run's
    calls used and cost (items read back from a checkpoint cost nothing again).
    """

    __slots__ = ("_items", "usage")

    usage: Usage
    """What this run's calls used and cost."""

    def __init__(self, items: Sequence[BatchItem[ChatResponse]], usage: Usage) -> None:
        self._items = list(items)
        self.usage = usage

    @overload
    def __getitem__(self, index: int) -> BatchItem[ChatResponse]: ...
    @overload
    def __getitem__(self, index: slice) -> list[BatchItem[ChatResponse]]: ...
    def __getitem__(self, index: int | slice) -> BatchItem[ChatResponse] | list[BatchItem[ChatResponse]]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[BatchItem[ChatResponse]]:
        return iter(self._items)

    @property
    def responses(self) -> list[ChatResponse | None]:
        """One reply per input, in input order; ``None`` where the item failed."""
        return [item.response for item in self._items]

    @property
    def errors(self) -> dict[int, NeureusError]:
        """The index of each failed item -> its error (empty when all succeeded)."""
        return {item.index: item.error for item in self._items if item.error is not None}

    @property
    def texts(self) -> list[str | None]:
        """The reply text per input, in input order; ``None`` where the item failed."""
        return [None if item.response is None else item.response.text for item in self._items]

    def __getstate__(self) -> tuple[Any, ...]:
        return (self._items, self.usage)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._items, self.usage = state

    def __repr__(self) -> str:
        failed = sum(1 for item in self._items if item.error is not None)
        return f"BatchResult({len(self._items)} items, {failed} failed, cost_usd={self.usage.cost_usd:.6g})"


# Public as neureus.X, which loads this module on first use (neureus/__init__.py): show that
# name in reprs, tracebacks and pickles even when the SDK handed one out first.
for _cls in (BatchItem, BatchResult):
    _cls.__module__ = "neureus"
del _cls
