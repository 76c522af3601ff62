"""The usage ledger: what a client's calls used and cost, and the spending budget.

A :class:`Ledger` belongs to a client (its ``with_options`` copies share it). It is a hook:
the internal one of its client's :class:`~neureus._hooks.HookDispatcher`, always
registered, and it sees calls only through the records every hook gets (``on_request``,
``on_retry``, ``on_response``, ``on_error``, ``on_stream_end``), heard before the user's
hooks. :meth:`Ledger.start` runs when a call starts: the budget check, and the call's
context (the scopes open there), which comes back with each of the call's records.

``client.track()`` scopes live in a :class:`contextvars.ContextVar`, so a call counts in
the scopes that were open where it started: in a task spawned inside the block (tasks
copy their context), but not in a concurrent task started elsewhere. A bulk run
registers a scope too, which is how its workers hear of a 429 seen by any of them.

No I/O here; a lock makes the counters safe for the thread pool of ``chat_many``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

from ._exceptions import BudgetExceededError

if TYPE_CHECKING:
    from ._config import ClientConfig
    from ._hooks import HookRecord
    from ._wire import RequestSpec

__all__ = ["Ledger", "Scope", "Usage", "active_scopes", "enter_scopes"]

_PRICED_OPERATIONS = frozenset({"chat", "embeddings"})
_DEFAULT_MODEL = "default"
# One call's counts, in _COUNTERS order.
_Counts: TypeAlias = "tuple[int, int, int, int, int, float, float]"
_COUNTERS = ("calls", "failed_calls", "retries", "input_tokens", "output_tokens", "cost_usd", "estimated_cost_usd")


class Usage:
    """What calls used and cost: ``client.usage``, ``with client.track() as usage:``, ``BatchResult.usage``.

    >>> with client.track() as usage:  # doctest: +SKIP
    ...     client.ai.chat([{"role": "user", "content": "Hi"}])
    >>> usage.calls, usage.cost_usd  # doctest: +SKIP
    (1, 0.00012)

    ``cost_usd`` is the gateway's ``costUsd``; where the gateway sends none (a stream's
    final event carries no cost) it is estimated from the cached catalog prices and the
    estimate is also counted in ``estimated_cost_usd``. ``by_model`` maps a model id to
    that model's own ``Usage``. ``client.usage`` is a snapshot; the object a ``track()``
    block yields is updated as calls end and holds the final counts once the block ends.
    """

    __slots__ = (
        "_by_model",
        "calls",
        "cost_usd",
        "estimated_cost_usd",
        "failed_calls",
        "input_tokens",
        "output_tokens",
        "retries",
    )

    calls: int
    """Calls made (successful or not; a call's retries count once)."""
    failed_calls: int
    """Calls that ended in an error (after their retries)."""
    retries: int
    """Attempts made again after a retryable failure."""
    input_tokens: int
    """Input tokens billed."""
    output_tokens: int
    """Output tokens billed."""
    cost_usd: float
    """Spent, in US dollars (exact where the gateway said, estimated where not)."""
    estimated_cost_usd: float
    """The part of ``cost_usd`` that was estimated from catalog prices."""

    def __init__(
        self,
        calls: int = 0,
        failed_calls: int = 0,
        retries: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
        estimated_cost_usd: float = 0.0,
        by_model: Mapping[str, Usage] | None = None,
    ) -> None:
        self.calls = calls
        self.failed_calls = failed_calls
        self.retries = retries
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd
        self.estimated_cost_usd = estimated_cost_usd
        self._by_model: dict[str, Usage] = dict(by_model or {})

    @property
    def by_model(self) -> dict[str, Usage]:
        """Model id -> that model's usage (a copy)."""
        return {name: usage.copy() for name, usage in self._by_model.items()}

    @property
    def total_tokens(self) -> int:
        """``input_tokens + output_tokens``."""
        return self.input_tokens + self.output_tokens

    def copy(self) -> Usage:
        """A snapshot that later calls do not change."""
        return Usage(**{name: getattr(self, name) for name in _COUNTERS}, by_model=self.by_model)

    def _add(self, model: str, *, track_model: bool = True, **counts: Any) -> None:
        for name, value in counts.items():
            if value:  # most counts of a call are 0
                setattr(self, name, getattr(self, name) + value)
        if track_model:
            per_model = self._by_model.get(model)
            if per_model is None:
                per_model = self._by_model[model] = Usage()
            per_model._add(model, track_model=False, **counts)

    def _bump(self, model: str | None, counts: _Counts) -> None:
        # _add for the ledger's hot path: one call's counts, in _COUNTERS order.
        calls, failed_calls, retries, input_tokens, output_tokens, cost_usd, estimated_cost_usd = counts
        self.calls += calls
        self.failed_calls += failed_calls
        self.retries += retries
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd
        self.estimated_cost_usd += estimated_cost_usd
        if model is not None:
            per_model = self._by_model.get(model)
            if per_model is None:
                per_model = self._by_model[model] = Usage()
            per_model._bump(None, counts)

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        total = self.copy()
        total._add(_DEFAULT_MODEL, track_model=False, **{name: getattr(other, name) for name in _COUNTERS})
        for name, usage in other._by_model.items():
            mine = total._by_model.get(name)
            total._by_model[name] = usage.copy() if mine is None else mine + usage
        return total

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Usage):
            return NotImplemented
        return self._key() == other._key() and self._by_model == other._by_model

    __hash__ = None  # type: ignore[assignment]

    def _key(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in _COUNTERS)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return (
            f"Usage(calls={self.calls}, failed_calls={self.failed_calls}, retries={self.retries}, "
            f"input_tokens={self.input_tokens}, output_tokens={self.output_tokens}, "
            f"cost_usd={self.cost_usd:.6g}, estimated_cost_usd={self.estimated_cost_usd:.6g}, "
            f"by_model={sorted(self._by_model)})"
        )


class Scope:
    """An open ``track()`` block or bulk run: a :class:`Usage` it fills, for one ledger."""

    __slots__ = ("ledger", "on_rate_limit", "usage")

    def __init__(self, ledger: Ledger, on_rate_limit: Callable[[float], None] | None = None) -> None:
        self.ledger = ledger
        self.usage = Usage()
        self.on_rate_limit = on_rate_limit


_SCOPES: ContextVar[tuple[Scope, ...]] = ContextVar("neureus_usage_scopes", default=())


def active_scopes() -> tuple[Scope, ...]:
    """The scopes open in the current context (innermost last)."""
    return _SCOPES.get()


class _Call:
    """One call as the ledger follows it: where it started, and whether it is counted."""

    __slots__ = ("counted", "max_retry_after", "model", "operation", "scopes")

    def __init__(self, spec: RequestSpec, scopes: tuple[Scope, ...], max_retry_after: float) -> None:
        self.operation = spec.operation
        self.model = _request_model(spec)
        self.scopes = scopes
        self.max_retry_after = max_retry_after
        self.counted = False


_LEDGERS: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() time would stay held forever in the child.
    for ledger in list(_LEDGERS):
        ledger._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _request_model(spec: RequestSpec) -> str:
    body = spec.json_body
    model = body.get("model") if body is not None else None
    return model if isinstance(model, str) and model else _DEFAULT_MODEL


class Ledger:
    """A client's running totals and its price list (for estimating what streams cost)."""

    __slots__ = ("__weakref__", "_lock", "_prices", "_total")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._prices: dict[str, tuple[float, float]] = {}
        _LEDGERS.add(self)

    def snapshot(self) -> Usage:
        """The totals so far, as a snapshot."""
        with self._lock:
            return self._total.copy()

    @contextlib.contextmanager
    def track(self, on_rate_limit: Callable[[float], None] | None = None) -> Iterator[Usage]:
        """Count the calls started in this context until the block ends."""
        scope = Scope(self, on_rate_limit)
        token = _SCOPES.set((*_SCOPES.get(), scope))
        try:
            yield scope.usage
        finally:
            _SCOPES.reset(token)

    def _count(self, model: str | None, scopes: tuple[Scope, ...], counts: _Counts) -> None:
        # model None: a call that is not priced (list_models, ...) counts in the totals only.
        with self._lock:
            self._total._bump(model, counts)
            for scope in scopes:
                if scope.ledger is self:
                    scope.usage._bump(model, counts)

    # -- the hook: the only way the ledger sees calls --------------------------------------

    def start(self, config: ClientConfig, spec: RequestSpec) -> _Call:
        """A call starts: refuse a priced call once the client's spending has reached its
        budget (nothing is sent then, and nothing counted); else its context."""
        budget = config.max_spend_usd
        if budget is not None and spec.operation in _PRICED_OPERATIONS:
            with self._lock:
                spent = self._total.cost_usd
            if spent >= budget:
                raise BudgetExceededError(
                    f"This client has spent ${spent:.6g} of its max_spend_usd=${budget:.6g}; no new call starts. "
                    "Raise the budget with client.with_options(max_spend_usd=...) to go on.",
                    spent_usd=spent,
                    budget_usd=budget,
                )
        return _Call(spec, _SCOPES.get(), config.retry_policy.max_retry_after)

    def hear(self, record: HookRecord, call: _Call | None, answer: object) -> None:
        """One record of a call (``call``: its context from :meth:`start`; ``None`` for a
        call refused before it started, which is not counted)."""
        if call is None:
            return
        event = record.event
        if event == "on_retry":
            # A 429's Retry-After pauses every worker of a bulk run open here.
            if record.status_code == 429 and record.retry_after is not None:
                _cool_down(call.scopes, record.retry_after)
        elif event == "on_response":
            if not call.counted:
                call.counted = True
                self._on_response(record, call, answer)
        elif event == "on_error":
            if not call.counted:  # (a stream that fails after it opened was counted then)
                call.counted = True
                retry_after = record.retry_after
                if (
                    record.error_type == "RateLimitError"
                    and retry_after is not None
                    and retry_after <= call.max_retry_after
                ):
                    # Out of retries on a 429: the run's other workers still wait as asked. A wait
                    # longer than the policy's cap is not imposed on them (the item fails instead).
                    _cool_down(call.scopes, retry_after)
                self._count_answer(record, call, calls=1, failed_calls=1, retries=record.attempt or 0)
        elif event == "on_stream_end" and record.completed:
            # A stream's final event came: its tokens, and the cost (estimated from catalog
            # prices where the gateway gave none).
            self._count_answer(record, call)

    def _on_response(self, record: HookRecord, call: _Call, answer: object) -> None:
        retries = record.attempt or 0
        if record.stream:  # its tokens are counted when it ends (on_stream_end)
            self._count(call.model, call.scopes, (1, 0, retries, 0, 0, 0.0, 0.0))
        elif call.operation in _PRICED_OPERATIONS:
            self._count_answer(record, call, calls=1, retries=retries)
        else:
            if call.operation == "list_models":
                self._remember_prices(answer)
            self._count(None, call.scopes, (1, 0, retries, 0, 0, 0.0, 0.0))

    def _count_answer(
        self, record: HookRecord, call: _Call, calls: int = 0, failed_calls: int = 0, retries: int = 0
    ) -> None:
        # Tokens and cost from the record (filled from the parsed answer, or the final event).
        # A stream is counted under the model asked for (as its price estimate is).
        model = call.model if record.stream else (record.response_model or call.model)
        input_tokens, output_tokens = _whole(record.input_tokens), _whole(record.output_tokens)
        cost = record.cost_usd
        estimated = 0.0
        if cost is None or not cost >= 0:
            cost = 0.0
            if call.operation == "chat":
                cost = estimated = self._estimate(model, input_tokens, output_tokens)
        self._count(
            model if call.operation in _PRICED_OPERATIONS else None,
            call.scopes,
            (calls, failed_calls, retries, input_tokens, output_tokens, cost, estimated),
        )

    def _remember_prices(self, models: object) -> None:
        prices: dict[str, tuple[float, float]] = {}
        for model in getattr(models, "models", ()):
            prices[model.id] = (_price(model.input_cost_per_1k), _price(model.output_cost_per_1k))
        with self._lock:
            self._prices.update(prices)

    def _estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        with self._lock:
            price = self._prices.get(model)
        if price is None:
            return 0.0
        return input_tokens / 1000 * price[0] + output_tokens / 1000 * price[1]


def _cool_down(scopes: tuple[Scope, ...], seconds: float) -> None:
    for scope in scopes:
        if scope.on_rate_limit is not None:
            scope.on_rate_limit(seconds)


def _price(value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    return float(value) if ok else 0.0  # type: ignore[arg-type]


def _whole(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def enter_scopes(scopes: tuple[Scope, ...]) -> None:
    """Make ``scopes`` the open scopes of the current context (a bulk worker's own)."""
    _SCOPES.set(scopes)
