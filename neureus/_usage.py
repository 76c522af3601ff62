"""The usage ledger: what a client's calls used and cost, and the spending budget.

A :class:`Ledger` belongs to a client (its ``with_options`` copies share it). It is written
as a hook: it observes each call through four entry points, :meth:`Ledger.on_response`,
:meth:`Ledger.on_error`, :meth:`Ledger.on_retry` and :meth:`Ledger.on_stream_end`, plus
:meth:`Ledger.before_call` (the budget check). Today they are called from exactly two
places: :meth:`Ledger.observe`, which wraps the pure request flow of every call (one line
in ``_transport._TransportBase._flow``, shared by both flavours), and
:func:`stream_closed`, called when a stream releases its connection (``_streaming``).

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
from collections.abc import Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from ._exceptions import BudgetExceededError, NeureusError, RateLimitError

if TYPE_CHECKING:
    import httpx

    from ._config import ClientConfig
    from ._wire import RequestSpec
    from .types import StreamFinal

__all__ = ["Ledger", "Scope", "Usage", "active_scopes", "enter_scopes", "stream_closed"]

_PRICED_OPERATIONS = frozenset({"chat", "embeddings"})
_DEFAULT_MODEL = "default"
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
            setattr(self, name, getattr(self, name) + value)
        if track_model:
            per_model = self._by_model.get(model)
            if per_model is None:
                per_model = self._by_model[model] = Usage()
            per_model._add(model, track_model=False, **counts)

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


class _PendingStream:
    __slots__ = ("ledger", "model", "scopes")

    def __init__(self, ledger: Ledger, model: str, scopes: tuple[Scope, ...]) -> None:
        self.ledger = ledger
        self.model = model
        self.scopes = scopes


# Open streams -> what is needed to count them when they end. Weak, so a stream dropped
# without being closed leaves nothing behind; locked, as streams end on many threads.
_OPEN_STREAMS: weakref.WeakKeyDictionary[Any, _PendingStream] = weakref.WeakKeyDictionary()
_STREAMS_LOCK = threading.Lock()
_LEDGERS: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() time would stay held forever in the child.
    global _STREAMS_LOCK
    _STREAMS_LOCK = threading.Lock()
    for ledger in list(_LEDGERS):
        ledger._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def stream_closed(response: httpx.Response | None, final: StreamFinal | None) -> None:
    """A stream released its connection; count its tokens if its final event came."""
    if response is None:
        return
    with _STREAMS_LOCK:
        pending = _OPEN_STREAMS.pop(response, None)
    if pending is not None and final is not None:
        pending.ledger.on_stream_end(pending.model, final, pending.scopes)


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

    def _count(self, model: str | None, scopes: tuple[Scope, ...], **counts: Any) -> None:
        # model None: a call that is not priced (list_models, ...) counts in the totals only.
        with self._lock:
            self._total._add(model or "", track_model=model is not None, **counts)
            for scope in scopes:
                if scope.ledger is self:
                    scope.usage._add(model or "", track_model=model is not None, **counts)

    # -- the hook entry points -----------------------------------------------------------

    def before_call(self, config: ClientConfig, spec: RequestSpec) -> None:
        """Refuse a priced call once the client's spending has reached its budget."""
        budget = config.max_spend_usd
        if budget is None or spec.operation not in _PRICED_OPERATIONS:
            return
        with self._lock:
            spent = self._total.cost_usd
        if spent >= budget:
            raise BudgetExceededError(
                f"This client has spent ${spent:.6g} of its max_spend_usd=${budget:.6g}; no new call starts. "
                "Raise the budget with client.with_options(max_spend_usd=...) to go on.",
                spent_usd=spent,
                budget_usd=budget,
            )

    def on_retry(self, spec: RequestSpec, rate_limited_for: float | None, scopes: tuple[Scope, ...]) -> None:
        """An attempt failed and will be made again (the retry is counted with the call's
        outcome); ``rate_limited_for`` is the wait a 429's ``Retry-After`` asked for, which
        pauses every worker of a bulk run open here."""
        if rate_limited_for is not None:
            _cool_down(scopes, rate_limited_for)

    def on_error(self, spec: RequestSpec, error: BaseException, scopes: tuple[Scope, ...], retries: int = 0) -> None:
        """A call failed (after ``retries`` retries)."""
        model = _request_model(spec) if spec.operation in _PRICED_OPERATIONS else None
        self._count(model, scopes, calls=1, failed_calls=1, retries=retries)

    def on_response(
        self, spec: RequestSpec, response: httpx.Response, scopes: tuple[Scope, ...], retries: int = 0
    ) -> None:
        """A call succeeded (after ``retries`` retries); a stream is counted again when it
        ends (:meth:`on_stream_end`)."""
        model = _request_model(spec)
        if spec.stream:
            with _STREAMS_LOCK:
                _OPEN_STREAMS[response] = _PendingStream(self, model, scopes)
            self._count(model, scopes, calls=1, retries=retries)
            return
        if spec.operation not in _PRICED_OPERATIONS:
            if spec.operation == "list_models":
                self._remember_wire_prices(response)
            self._count(None, scopes, calls=1, retries=retries)
            return
        input_tokens = output_tokens = 0
        cost = estimated = 0.0
        try:
            data = from_json(response.content)  # bounded nesting: never a RecursionError
        except ValueError:  # the parser has already accepted it; nothing to count then
            data = None
        if isinstance(data, dict):
            answered = data.get("model")
            if isinstance(answered, str) and answered:
                model = answered
            input_tokens, output_tokens = _tokens(data)
            raw_cost = data.get("costUsd")
            if isinstance(raw_cost, (int, float)) and not isinstance(raw_cost, bool) and raw_cost >= 0:
                cost = float(raw_cost)
            elif spec.operation == "chat":
                cost = estimated = self._estimate(model, input_tokens, output_tokens)
        self._count(
            model,
            scopes,
            calls=1,
            retries=retries,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            estimated_cost_usd=estimated,
        )

    def _remember_wire_prices(self, response: httpx.Response) -> None:
        try:
            data = from_json(response.content)  # bounded nesting: never a RecursionError
        except ValueError:
            return
        rows = data.get("models", data.get("data")) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            return
        prices: dict[str, tuple[float, float]] = {}
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                prices[row["id"]] = (_price(row.get("inputCostPer1k")), _price(row.get("outputCostPer1k")))
        with self._lock:
            self._prices.update(prices)

    def on_stream_end(self, model: str, final: StreamFinal, scopes: tuple[Scope, ...]) -> None:
        """A stream's final event came: its tokens, and a cost estimated from catalog prices."""
        input_tokens = final.input_tokens or 0
        output_tokens = final.output_tokens or 0
        estimated = self._estimate(model, input_tokens, output_tokens)
        self._count(
            model,
            scopes,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=estimated,
            estimated_cost_usd=estimated,
        )

    def _estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        with self._lock:
            price = self._prices.get(model)
        if price is None:
            return 0.0
        return input_tokens / 1000 * price[0] + output_tokens / 1000 * price[1]

    # -- the one place the ledger sees calls ---------------------------------------------

    def observe(
        self, config: ClientConfig, spec: RequestSpec, flow: Generator[Any, Any, Any]
    ) -> Generator[Any, Any, Any]:
        """Wrap a request flow (``_retry.request_flow``): the budget check before it starts,
        then every retry, the success or the failure, counted in the scopes open here."""
        from ._retry import Sleep

        scopes = _SCOPES.get()
        self.before_call(config, spec)
        outcome: Any = None
        retries = 0
        try:
            while True:
                action = flow.send(outcome)
                if type(action) is Sleep:
                    retries += 1
                    status = getattr(outcome, "status_code", None)
                    retry_after = config.retry_policy.retry_after(outcome.headers) if status == 429 else None
                    self.on_retry(spec, retry_after, scopes)
                outcome = yield action
        except StopIteration as stop:
            result = stop.value
            self.on_response(spec, result.response, scopes, retries)
            return result
        except NeureusError as exc:
            retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
            if retry_after is not None and retry_after <= config.retry_policy.max_retry_after:
                # Out of retries on a 429: the run's other workers still wait as asked. A wait
                # longer than the policy's cap is not imposed on them (the item fails instead).
                self.on_retry(spec, retry_after, scopes)
            self.on_error(spec, exc, scopes, retries)
            raise


def _cool_down(scopes: tuple[Scope, ...], seconds: float) -> None:
    for scope in scopes:
        if scope.on_rate_limit is not None:
            scope.on_rate_limit(seconds)


def _price(value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    return float(value) if ok else 0.0  # type: ignore[arg-type]


def _tokens(data: dict[str, Any]) -> tuple[int, int]:
    def whole(value: object) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    input_tokens, output_tokens = whole(data.get("inputTokens")), whole(data.get("outputTokens"))
    usage = data.get("usage")
    if isinstance(usage, dict):
        if not input_tokens:
            input_tokens = whole(usage.get("prompt_tokens"))
        if not output_tokens:
            output_tokens = whole(usage.get("completion_tokens"))
    return input_tokens, output_tokens


def enter_scopes(scopes: tuple[Scope, ...]) -> None:
    """Make ``scopes`` the open scopes of the current context (a bulk worker's own)."""
    _SCOPES.set(scopes)
