"""The usage ledger: what a client's calls used and cost, and the spending budget.

A :class:`Ledger` belongs to a client (its ``with_options`` copies share it). It hears
calls in the core, from one place: :meth:`Call.observe` wraps every call's request flow
(the budget check when the call starts; its counts when its outcome is known, before any
hook hears of it) and :meth:`Call.stream_end` hears how an opened stream ended. No hook
record is built for it: a client with no hooks pays only for a few additions per call.

``client.track()`` scopes live in a :class:`contextvars.ContextVar`, so a call counts in
the scopes that were open where it started: in a task spawned inside the block (tasks
copy their context), but not in a concurrent task started elsewhere. A bulk run
registers a scope too, which is how its workers hear of a 429 seen by any of them.

No I/O here; a lock makes the counters safe for the thread pool of ``chat_many``. The
module loads with a client's first call (or ``client.usage``/``track()``), not with the
client.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from ._cost import listed_prices, price_tokens
from ._exceptions import BudgetExceededError, RateLimitError
from ._retry import SendRequest, Sleep

if TYPE_CHECKING:
    from ._config import ClientConfig
    from ._cost import Prices
    from ._retry import Action, FlowResult
    from ._stream_state import StreamState
    from ._wire import RequestSpec
    from .types import ModelList, StreamFinal

__all__ = [
    "NO_COUNTS",
    "Call",
    "Counts",
    "Ledger",
    "Scope",
    "Usage",
    "active_scopes",
    "answer_counts",
    "enter_scopes",
    "final_counts",
]

_PRICED_OPERATIONS = frozenset({"chat", "embeddings"})
_DEFAULT_MODEL = "default"
# One call's counts, in _COUNTERS order.
_Counts: TypeAlias = "tuple[int, int, int, int, int, float, float, int]"
_COUNTERS = (
    "calls",
    "failed_calls",
    "retries",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "estimated_cost_usd",
    "unpriced_calls",
)
Counts: TypeAlias = "tuple[int | None, int | None, float | None, str | None]"
"""What an answer says it used: input tokens, output tokens, cost and the answering model
(each ``None`` when it does not say, or says something no one could bill)."""
NO_COUNTS: Counts = (None, None, None, None)


class Usage:
    """What calls used and cost: ``client.usage``, ``with client.track() as usage:``, ``BatchResult.usage``.

    >>> with client.track() as usage:  # doctest: +SKIP
    ...     client.ai.chat([{"role": "user", "content": "Hi"}])
    >>> usage.calls, usage.cost_usd  # doctest: +SKIP
    (1, 0.00012)

    ``cost_usd`` is the gateway's ``costUsd``; where the gateway sends none (a stream's
    final event carries no cost) it is estimated from the catalog prices the client has
    fetched and the estimate is also counted in ``estimated_cost_usd``; a call that could
    not be priced either way counts in ``unpriced_calls`` (not as a silent $0).
    ``by_model`` maps a model id to that model's own ``Usage``. ``client.usage`` is a
    snapshot; the object a ``track()`` block yields is updated as calls end and holds the
    final counts once the block ends.
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
        "unpriced_calls",
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
    unpriced_calls: int
    """Answered calls whose cost is unknown: the gateway sent none and the client had no
    catalog price for the model (their tokens are counted; ``cost_usd`` lacks their cost)."""

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
        unpriced_calls: int = 0,
    ) -> None:
        self.calls = calls
        self.failed_calls = failed_calls
        self.retries = retries
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd
        self.estimated_cost_usd = estimated_cost_usd
        self.unpriced_calls = unpriced_calls
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

    def _bump(self, model: str | None, counts: _Counts) -> None:
        # One call's counts, in _COUNTERS order, to the totals and (model given) to its model's.
        self._add_counts(counts)
        if model is not None:
            per_model = self._by_model.get(model)
            if per_model is None:
                per_model = self._by_model[model] = Usage()
            per_model._add_counts(counts)

    def _add_counts(self, counts: _Counts) -> None:
        calls, failed_calls, retries, input_tokens, output_tokens, cost_usd, estimated_cost_usd, unpriced = counts
        self.calls += calls
        self.failed_calls += failed_calls
        self.retries += retries
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd
        self.estimated_cost_usd += estimated_cost_usd
        self.unpriced_calls += unpriced

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        total = self.copy()
        total._bump(None, other._key())  # type: ignore[arg-type]
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
        self.unpriced_calls = 0  # (a Usage pickled before 0.2 had no such counter)
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return (
            f"Usage(calls={self.calls}, failed_calls={self.failed_calls}, retries={self.retries}, "
            f"input_tokens={self.input_tokens}, output_tokens={self.output_tokens}, "
            f"cost_usd={self.cost_usd:.6g}, estimated_cost_usd={self.estimated_cost_usd:.6g}, "
            f"unpriced_calls={self.unpriced_calls}, by_model={sorted(self._by_model)})"
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
        self._prices: dict[str, Prices] = {}
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

    def call(self, config: ClientConfig, spec: RequestSpec) -> Call:
        """A call about to start: :meth:`Call.observe` follows its flow."""
        return Call(self, config, spec)

    def _count(self, model: str | None, scopes: tuple[Scope, ...], counts: _Counts) -> None:
        # model None: a call that is not priced (list_models, ...) counts in the totals only.
        # A few additions under one lock: this runs once per call, on every thread of a bulk run.
        with self._lock:
            self._total._bump(model, counts)
            for scope in scopes:
                if scope.ledger is self:
                    scope.usage._bump(model, counts)

    def _spent(self) -> float:
        with self._lock:
            return self._total.cost_usd

    def _remember_prices(self, models: ModelList) -> None:
        prices = {model.id: listed_prices(model) for model in models.models}
        with self._lock:
            self._prices.update(prices)

    def _estimate(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        # estimate_cost's rule (_cost.price_tokens): None where it would refuse, never $0.
        cost = price_tokens(self._prices.get(model), input_tokens, output_tokens)  # (one dict read: atomic)
        return None if cost is None else cost[0] + cost[1]


class Call:
    """One call as its client's ledger follows it: the budget check when it starts, the
    scopes open where it started, and its counts once, when its outcome is known.

    The ledger hears calls from here only, in the core, before any hook: :meth:`observe`
    wraps the call's request flow (every call, hooks or not, with no record built), and
    :meth:`stream_end` hears how an opened stream ended.
    """

    __slots__ = ("_config", "_ledger", "_operation", "_spec", "counts", "ended", "model", "scopes")

    def __init__(self, ledger: Ledger, config: ClientConfig, spec: RequestSpec) -> None:
        self._ledger = ledger
        self._config = config
        self._spec = spec
        self._operation = spec.operation
        self.model = _DEFAULT_MODEL
        self.scopes: tuple[Scope, ...] = ()
        self.ended = False  # an opened stream's tokens are counted
        # What the answer (or a stream's final event) said it used, as the ledger read it:
        # the hook records take it from here, so both read one answer once, the same way.
        self.counts: Counts = NO_COUNTS

    def _start(self) -> None:
        # Refuse a priced call once the client's spending has reached its budget (nothing is
        # sent then, and nothing counted); else remember the scopes open here.
        self.model = _request_model(self._spec)
        budget = self._config.max_spend_usd
        if budget is not None and self._operation in _PRICED_OPERATIONS:
            spent = self._ledger._spent()
            if spent >= budget:
                raise BudgetExceededError(
                    f"This client has spent ${spent:.6g} of its max_spend_usd=${budget:.6g}; no new call starts. "
                    "Raise the budget with client.with_options(max_spend_usd=...) to go on.",
                    spent_usd=spent,
                    budget_usd=budget,
                )
            if self._spec.stream and self._ledger._estimate(self.model, 1, 1) is None:
                # A streamed reply carries no cost: one the client cannot price would spend
                # without counting, and the budget would no longer bound anything.
                model = "the gateway's default model" if self.model == _DEFAULT_MODEL else f"model {self.model!r}"
                raise BudgetExceededError(
                    f"This client has max_spend_usd=${budget:.6g}, and a streamed reply carries no cost: "
                    f"{model} has no price in the catalog this client has fetched, so this stream's "
                    "spending could not be counted; it was not started. Call client.ai.list_models() "
                    "once (the client keeps the prices), pass a model the catalog prices, or use "
                    "chat() without streaming (its answer carries its cost).",
                    spent_usd=spent,
                    budget_usd=budget,
                )
        self.scopes = _SCOPES.get()

    def observe(self, flow: Generator[Action, Any, FlowResult]) -> Generator[Action, Any, FlowResult]:
        """The flow's own actions, passed through; the call is counted when it ends."""
        self._start()  # (a refusal raises from the first step, before anything is sent)
        outcome: Any = None
        attempt = 0
        answered: httpx.Response | None = None  # the last attempt's response, if it had one
        try:
            while True:
                try:
                    action = flow.send(outcome)
                except StopIteration as stop:
                    result: FlowResult = stop.value
                    break
                kind = type(action)
                if kind is SendRequest:
                    attempt = action.attempt  # type: ignore[union-attr]
                elif kind is Sleep and answered is not None and answered.status_code == 429 and self.scopes:
                    # A 429's Retry-After pauses every worker of a bulk run open here.
                    retry_after = self._config.retry_policy.retry_after(answered.headers)
                    if retry_after is not None:
                        _cool_down(self.scopes, retry_after)
                outcome = yield action
                if kind is SendRequest:
                    answered = outcome if isinstance(outcome, httpx.Response) else None
        except GeneratorExit:  # abandoned mid-call (cancelled, interrupted): a failed call
            self._failed(attempt, None)
            raise
        except BaseException as exc:
            self._failed(attempt, exc)
            raise
        # Counted once: a call either ends here or failed above (a stream that fails after it
        # opened ended here, and its end is heard by stream_end).
        self._answered(result, attempt)
        return result

    def _answered(self, result: FlowResult, attempt: int) -> None:
        if result.first_event is not None:  # an opened stream: its tokens count when it ends
            self._ledger._count(self.model, self.scopes, (1, 0, attempt, 0, 0, 0.0, 0.0, 0))
            return
        value = result.value
        if result.error is not None and value is not None:
            # Parsed, but past the deadline: the call fails, with what it cost.
            self._count_answer(value, calls=1, failed_calls=1, retries=attempt)
        elif self._operation in _PRICED_OPERATIONS:
            # (An answer that does not parse was still an answer: a call, with no counts.)
            self._count_answer(value, calls=1, retries=attempt)
        else:
            if self._operation == "list_models" and value is not None:
                self._ledger._remember_prices(value)
            self._ledger._count(None, self.scopes, (1, 0, attempt, 0, 0, 0.0, 0.0, 0))

    def _failed(self, attempt: int, error: BaseException | None) -> None:
        retry_after = getattr(error, "retry_after", None)
        if (
            isinstance(error, RateLimitError)
            and retry_after is not None
            and retry_after <= self._config.retry_policy.max_retry_after
        ):
            # Out of retries on a 429: the run's other workers still wait as asked. A wait
            # longer than the policy's cap is not imposed on them (the item fails instead).
            _cool_down(self.scopes, retry_after)
        self._count_answer(None, calls=1, failed_calls=1, retries=attempt)

    def _count_answer(
        self,
        answer: object,
        calls: int = 0,
        failed_calls: int = 0,
        retries: int = 0,
        counts: Counts | None = None,
    ) -> None:
        # Tokens and cost from the parsed answer (or a stream's final event), read once and
        # kept for the hook records. A stream is counted under the model asked for (as its
        # price estimate is).
        streamed = counts is not None
        if counts is None:
            counts = answer_counts(self._operation, answer)
        self.counts = counts
        input_tokens, output_tokens, cost, response_model = counts
        model = self.model if streamed else (response_model or self.model)
        input_tokens, output_tokens = input_tokens or 0, output_tokens or 0
        estimated = 0.0
        unpriced = 0
        if cost is None:
            cost = 0.0
            if (streamed or answer is not None) and self._operation in _PRICED_OPERATIONS:
                estimate = self._ledger._estimate(model, input_tokens, output_tokens)
                if estimate is None:
                    unpriced = 1
                else:
                    cost = estimated = estimate
        self._ledger._count(
            model if self._operation in _PRICED_OPERATIONS else None,
            self.scopes,
            (calls, failed_calls, retries, input_tokens, output_tokens, cost, estimated, unpriced),
        )

    def stream_end(self, state: StreamState, error: BaseException | None) -> list[Any]:
        """An opened stream ended: its tokens and cost (estimated from catalog prices where
        the gateway gave none) when it reached its final event. No hook records (none listen)."""
        final = state.final
        if final is not None and not self.ended:
            self.ended = True
            self._count_answer(None, counts=final_counts(final))
        return []


def _count(value: object) -> int | None:
    # A token count someone could bill: a whole number >= 0 (not a bool, not negative).
    return value if type(value) is int and value >= 0 else None


def _usage_count(usage: object, name: str) -> object:
    return usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)


def _cost(value: object) -> float | None:
    # A cost someone could bill: a finite number >= 0 (NaN, infinity and debts are not).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        cost = float(value)
    except OverflowError:  # an integer no float can hold
        return None
    return cost if 0 <= cost < math.inf else None


_NO_EXTRA: dict[str, Any] = {}


def answer_fields(answer: object) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A parsed answer's declared fields and the wire's other fields (``None``: not a model)."""
    # A pydantic model (not imported here: it is heavy) keeps its fields in __dict__ and the
    # wire's other fields as extras: plain dict look-ups (its __getattr__ raises, slowly,
    # for a name it lacks).
    if getattr(answer, "__pydantic_fields_set__", None) is None:
        return None
    return answer.__dict__, getattr(answer, "__pydantic_extra__", None) or _NO_EXTRA


def answer_counts(operation: str, answer: object) -> Counts:
    """Input tokens, output tokens, cost and the answering model of a parsed chat or
    embeddings answer (each ``None`` when the answer does not say, or says something no
    one could bill: a negative count, a cost that is negative, NaN or infinite)."""
    found = answer_fields(answer) if operation in _PRICED_OPERATIONS else None
    if found is None:
        return None, None, None, None
    fields, extra = found
    # Each read: the model's field, else the wire's name among the extras (an embeddings
    # answer does not declare them), else the OpenAI-style usage block for the tokens.
    input_tokens = fields.get("input_tokens")
    if input_tokens is None:
        input_tokens = extra.get("inputTokens")
    output_tokens = fields.get("output_tokens")
    if output_tokens is None:
        output_tokens = extra.get("outputTokens")
    input_tokens, output_tokens = _count(input_tokens), _count(output_tokens)
    if input_tokens is None or output_tokens is None:
        usage = fields.get("usage")
        if input_tokens is None and usage is not None:
            input_tokens = _count(_usage_count(usage, "prompt_tokens"))
        if output_tokens is None and usage is not None:
            output_tokens = _count(_usage_count(usage, "completion_tokens"))
    cost = fields.get("cost_usd")
    if cost is None:
        cost = extra.get("costUsd")
    model = fields.get("model")
    if model is None:
        model = extra.get("model")
    return input_tokens, output_tokens, _cost(cost), model if isinstance(model, str) else None


def final_counts(final: StreamFinal) -> Counts:
    """The same four of a stream's final event (its cost and model are extras of the event)."""
    extra = final.model_extra or {}
    model = extra.get("model")
    return (
        _count(final.input_tokens),
        _count(final.output_tokens),
        _cost(extra.get("costUsd", extra.get("cost_usd"))),
        model if isinstance(model, str) else None,
    )


def _cool_down(scopes: tuple[Scope, ...], seconds: float) -> None:
    for scope in scopes:
        if scope.on_rate_limit is not None:
            scope.on_rate_limit(seconds)


def enter_scopes(scopes: tuple[Scope, ...]) -> None:
    """Make ``scopes`` the open scopes of the current context (a bulk worker's own)."""
    _SCOPES.set(scopes)


# Public as neureus.X, which loads this module on first use (neureus/__init__.py): show that
# name in reprs, tracebacks and pickles even when the SDK handed one out first.
for _cls in (Usage,):
    _cls.__module__ = "neureus"
del _cls
