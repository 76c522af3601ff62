"""Hooks: the records handed to observers of every call, and the one dispatcher. No I/O.

A hook is an object with any of :data:`HOOK_NAMES` as methods (or a plain callable, which
receives every event), registered with ``Neureus(hooks=[...])``. The events of one call:

- ``on_request`` before each attempt is sent (``attempt`` 0, 1, ...);
- ``on_retry`` when a failed attempt will be retried (``error_type``, ``status_code``,
  ``retry_wait``);
- ``on_response`` once when the call succeeded (for a stream: when its first event came,
  with ``time_to_first_token``);
- ``on_error`` once when the call failed (for a stream, also when it failed mid-way);
- ``on_stream_end`` once for every stream that was opened, when it ends: at ``done``
  (tokens, ``time_to_first_token``), on a failure (``error_type``), or when it is closed
  early (``completed`` false, no ``error_type``).

Decisions live here: :class:`CallObserver` turns what the request flow and a stream see
into :class:`HookRecord` objects, wrapped in :class:`Notify` actions that the shells hand
to :class:`HookDispatcher` (``emit`` in the sync shell, ``aemit`` in the async one; the
dispatcher only calls, and for ``aemit`` awaits, the hooks). A record never holds a key:
it is built from the operation, the model, counts, timings and class names only.

The client's usage ledger is not a hook: it follows every call in the core
(:class:`neureus._usage.Call`), inside the observer, so it has counted a call before the
hooks hear of its end (a hook that reads ``client.usage`` sees its call counted). This
module loads only for a client with hooks (or once a global hook is added): a client
without them builds no record at all. Token counts and costs in the records are the
ledger's reading of the parsed answer (``Call.counts``): a body is parsed once, by the
flow, and its counts read once, by the ledger, so both always agree.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlsplit

import httpx

from ._exceptions import _STATUS_TO_ERROR, APIConnectionError, ConfigurationError, NeureusError, _safe_request_id
from ._logs import logger
from ._retry import Failed, PullFirstEvent, SendRequest, Sleep
from ._usage import answer_fields

if TYPE_CHECKING:
    from ._config import ClientConfig
    from ._retry import Action, FlowResult
    from ._stream_state import StreamState
    from ._usage import Call, Counts
    from ._wire import RequestSpec

__all__ = [
    "HOOK_NAMES",
    "CallObserver",
    "HookDispatcher",
    "HookRecord",
    "Notify",
    "add_global_hook",
    "remove_global_hook",
]

HOOK_NAMES: Final = ("on_request", "on_response", "on_retry", "on_stream_end", "on_error")
"""The events a hook object may listen to (any subset)."""

# Operations whose JSON answer carries token counts worth reading for the records.
_USAGE_OPERATIONS: Final = frozenset({"chat", "embeddings"})
_call_ids = itertools.count(1)

HookFn: TypeAlias = Callable[["HookRecord"], Any]


class HookRecord:
    """What a hook is told about one event of one call: read-only, and never a secret.

    Every field is ``None`` when it does not apply to the event or is not known. The key,
    headers and bodies are never part of a record; message contents (``messages``,
    ``output_text``) are there for telemetry that opts in to them, and are left out of
    ``repr``.
    """

    __slots__ = (
        "attempt",
        "call_id",
        "completed",
        "cost_usd",
        "duration",
        "error_type",
        "event",
        "input_tokens",
        "log_id",
        "messages",
        "model",
        "operation",
        "output_text",
        "output_tokens",
        "request_id",
        "response_model",
        "retry_after",
        "retry_wait",
        "server_address",
        "server_port",
        "status_code",
        "stream",
        "time_to_first_token",
    )

    event: str
    """The hook being called: one of :data:`HOOK_NAMES`."""
    call_id: int
    """The same number for every event of one call (unique within the process)."""
    operation: str
    """``chat``, ``embeddings``, ``list_models``, ...: the call's name on ``client.ai``."""
    model: str | None
    """The model asked for (``None``: the gateway's default)."""
    response_model: str | None
    """The model the gateway says answered, when it says."""
    stream: bool
    """Whether the call is a stream."""
    attempt: int
    """The attempt this event is about, 0 for the first."""
    status_code: int | None
    """The HTTP status of the attempt (``None`` for a connection error)."""
    request_id: str | None
    """The gateway's ``x-request-id`` (else ``cf-ray``)."""
    log_id: str | None
    """The gateway's log id of a successful chat."""
    duration: float | None
    """Seconds since the call started (all attempts and waits included)."""
    time_to_first_token: float | None
    """For a stream: seconds from the call's start to its first event."""
    input_tokens: int | None
    """Input tokens billed, when the gateway says."""
    output_tokens: int | None
    """Output tokens billed, when the gateway says."""
    cost_usd: float | None
    """What the call cost (the gateway's ``costUsd``), when it says."""
    error_type: str | None
    """The class name of the error (``RateLimitError``, ``APITimeoutError``, ...)."""
    retry_wait: float | None
    """For ``on_retry``: the seconds waited before the next attempt."""
    retry_after: float | None
    """For ``on_retry`` and ``on_error``: the wait the gateway asked for (``Retry-After``), if it did."""
    completed: bool | None
    """For ``on_stream_end``: whether the stream reached its ``done`` event."""
    server_address: str | None
    """The gateway's host name."""
    server_port: int | None
    """The gateway's port."""
    messages: tuple[dict[str, Any], ...] | None
    """The chat messages sent (role and content), for telemetry that records contents."""
    output_text: str | None
    """The reply text, for telemetry that records contents."""

    def __init__(self, **fields: Any) -> None:
        if not fields.keys() <= _RECORD_FIELD_SET:
            raise TypeError(f"unknown HookRecord fields: {sorted(fields.keys() - _RECORD_FIELD_SET)}")
        for name, value in fields.items():
            _set(self, name, value)

    @classmethod
    def _build(cls, event: str, duration: float, base: dict[str, Any], fields: dict[str, Any]) -> HookRecord:
        # Every call makes a few records (the ledger hears them all): only the fields that
        # apply are set; the others read as None (``__getattr__``).
        record = object.__new__(cls)
        _set(record, "event", event)
        _set(record, "duration", duration)
        for name, value in base.items():
            _set(record, name, value)
        for name, value in fields.items():
            _set(record, name, value)
        return record

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field never set: it does not apply to this event.
        if name in _RECORD_FIELD_SET:
            return None
        raise AttributeError(f"'HookRecord' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"HookRecord is read-only (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"HookRecord is read-only (tried to delete {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Slots and a refusing __setattr__: pickle through the constructor (for hooks that
        # hand records to another process).
        return (_record_from_fields, ({name: getattr(self, name) for name in self.__slots__},))

    def replace(self, **changes: Any) -> HookRecord:
        """A copy with some fields changed."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return HookRecord(**fields)

    def __repr__(self) -> str:
        shown = []
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "messages":
                value = f"<{len(value)} message(s)>"
            elif name == "output_text":
                value = f"<{len(value)} chars>"
            else:
                value = repr(value)
            shown.append(f"{name}={value}")
        return f"HookRecord({', '.join(shown)})"


_RECORD_FIELDS: Final = HookRecord.__slots__
_RECORD_FIELD_SET: Final = frozenset(_RECORD_FIELDS)
_set = object.__setattr__


def _record_from_fields(fields: dict[str, Any]) -> HookRecord:
    return HookRecord(**fields)


class Notify:
    """A flow action: hand ``record`` to the hooks (the shell calls the dispatcher)."""

    __slots__ = ("dispatcher", "record")

    def __init__(self, dispatcher: HookDispatcher, record: HookRecord) -> None:
        self.dispatcher = dispatcher
        self.record = record

    def __repr__(self) -> str:
        return f"Notify({self.record!r})"


# Hooks added by instrumentation (``NeureusInstrumentor``) for every client in the process.
_global_hooks: list[object] = []


def add_global_hook(hook: object) -> None:
    """Observe every client's calls with ``hook`` (sync methods only), until removed."""
    _validate_one(hook, asynchronous=False)
    if hook not in _global_hooks:
        _global_hooks.append(hook)


def remove_global_hook(hook: object) -> None:
    """Stop observing with ``hook``; a hook that was not added is ignored."""
    if hook in _global_hooks:
        _global_hooks.remove(hook)


def _is_async_callable(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


def _validate_one(hook: object, *, asynchronous: bool) -> dict[str, HookFn]:
    if inspect.isclass(hook):
        raise ConfigurationError(
            f"each hook must be an instance, not the class {hook.__name__}: pass {hook.__name__}()."
        )
    methods: dict[str, HookFn] = {}
    for name in HOOK_NAMES:
        method = getattr(hook, name, None)
        if method is None:
            continue
        if not callable(method):
            raise ConfigurationError(
                f"hook {type(hook).__name__}.{name} must be callable; got {type(method).__name__}."
            )
        methods[name] = method
    if not methods:
        if not callable(hook):
            raise ConfigurationError(
                f"each hook must be an object with any of {', '.join(HOOK_NAMES)} (or a callable taking "
                f"a neureus.HookRecord); got {type(hook).__name__}."
            )
        methods = dict.fromkeys(HOOK_NAMES, hook)
    if not asynchronous:
        for name, method in methods.items():
            if _is_async_callable(method):
                raise ConfigurationError(
                    f"hook {type(hook).__name__}.{name} is async, and the sync Neureus client cannot await it: "
                    "use a plain function here, or the hook with AsyncNeureus."
                )
    return methods


class HookDispatcher:
    """The hooks of one client, checked once; calls them with each record.

    A user's hook that raises is logged on the ``neureus`` logger and never breaks the call.
    """

    __slots__ = ("_by_event", "_has_own", "asynchronous")

    def __init__(self, hooks: Sequence[object], *, asynchronous: bool) -> None:
        self.asynchronous = asynchronous
        by_event: dict[str, list[HookFn]] = {name: [] for name in HOOK_NAMES}
        for hook in hooks:
            for name, method in _validate_one(hook, asynchronous=asynchronous).items():
                by_event[name].append(method)
        self._by_event = {name: tuple(fns) for name, fns in by_event.items()}
        self._has_own = any(self._by_event.values())

    def _targets(self, event: str) -> Iterable[HookFn]:
        own = self._by_event[event]
        if not _global_hooks:
            return own
        extra = (_method(hook, event) for hook in tuple(_global_hooks))
        return (*own, *(fn for fn in extra if fn is not None))

    @property
    def active(self) -> bool:
        """Whether any hook (this client's or a global one) is registered."""
        return self._has_own or bool(_global_hooks)

    def observer(
        self, spec: RequestSpec, config: ClientConfig, usage: Call, clock: Callable[[], float] = time.monotonic
    ) -> CallObserver:
        """A fresh observer for one call (``usage``: the ledger's view of it, heard first)."""
        return CallObserver(self, spec, config, clock, usage)

    def emit(self, action: Notify, *, skip_async: bool = False) -> None:
        """Call the hooks for this event (sync client; ``skip_async`` where none can be awaited)."""
        record = action.record
        for fn in self._targets(record.event):
            if skip_async and _is_async_callable(fn):
                continue
            try:
                result = fn(record)
            except Exception:
                _log_failure(fn, record)
                continue
            if inspect.isawaitable(result):
                # Only a global hook can get here (client hooks are checked at construction).
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                logger.warning("hook %s returned an awaitable where it cannot be awaited; it was not", _name(fn))

    async def aemit(self, action: Notify) -> None:
        """Call the hooks for this event, awaiting async ones (async client)."""
        record = action.record
        for fn in self._targets(record.event):
            try:
                result = fn(record)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log_failure(fn, record)


def _method(hook: object, event: str) -> HookFn | None:
    # A hook object's method for this event; a plain callable hears every event.
    method = getattr(hook, event, None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    if any(callable(getattr(hook, name, None)) for name in HOOK_NAMES) or not callable(hook):
        return None
    return hook


def _name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _log_failure(fn: object, record: HookRecord) -> None:
    logger.warning(
        "hook %s raised on %s (%s); the call goes on", _name(fn), record.event, record.operation, exc_info=True
    )


def _error_type_for_status(status: int) -> str:
    cls = _STATUS_TO_ERROR.get(status)
    if cls is not None:
        return cls.__name__
    return "InternalServerError" if status >= 500 else "APIStatusError"


def _usage_from_answer(operation: str, answer: object, counts: Counts) -> dict[str, Any]:
    """Token counts, cost, model (``counts``: as the ledger read them from this answer),
    log id and text of a parsed chat or embeddings answer."""
    if operation not in _USAGE_OPERATIONS:
        return {}
    found = answer_fields(answer)
    if found is None:
        return {}
    fields, extra = found
    input_tokens, output_tokens, cost, model = counts
    log_id = fields.get("log_id")
    if log_id is None:
        log_id = extra.get("logId")
    text: object = None
    if operation == "chat":
        if "text" in answer.__pydantic_fields_set__:  # type: ignore[attr-defined]
            text = fields.get("text")
        else:
            choices = fields.get("choices")
            text = choices[0].message.content if choices else None
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": cost,
        "response_model": model,
        "log_id": log_id if isinstance(log_id, str) else None,
        "output_text": text if isinstance(text, str) else None,
    }


@functools.lru_cache(maxsize=64)
def _server(base_url: str) -> tuple[str | None, int | None]:
    # The same for every call of a client: worked out once per base URL.
    url = urlsplit(base_url)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # pragma: no cover - the config already refused such URLs
        port = None
    return url.hostname, port


def _callers_own(error: BaseException) -> bool:
    # An ordinary exception that is not the SDK's: the caller's code failed, not the call.
    # (Cancellation and KeyboardInterrupt are not Exceptions, and do count.)
    return isinstance(error, Exception) and not isinstance(error, NeureusError)


class CallObserver:
    """Builds the records of one call, from its start to its end; pure (clock injected).

    Made only when a hook listens. It wraps the ledger's view of the call (``usage``), so
    the ledger has counted each outcome before a hook hears of it.
    """

    __slots__ = (
        "_base",
        "_clock",
        "_config",
        "_ended",
        "_first_at",
        "_opened",
        "_spec",
        "_start",
        "dispatcher",
        "usage",
    )

    def __init__(
        self,
        dispatcher: HookDispatcher,
        spec: RequestSpec,
        config: ClientConfig,
        clock: Callable[[], float],
        usage: Call,
    ) -> None:
        self.dispatcher = dispatcher
        self.usage = usage
        self._spec = spec
        self._config = config
        self._clock = clock
        self._start = clock()
        self._first_at: float | None = None
        self._ended = False
        self._opened = False
        body = spec.json_body if isinstance(spec.json_body, dict) else {}
        model = body.get("model")
        messages = body.get("messages") if spec.operation == "chat" else None
        host, port = _server(config.base_url)
        self._base: dict[str, Any] = {
            "call_id": next(_call_ids),
            "operation": spec.operation,
            "model": model if isinstance(model, str) else None,
            "stream": bool(spec.stream),
            "server_address": host,
            "server_port": port,
            "messages": tuple(
                {"role": m.get("role"), "content": m.get("content")} for m in messages if isinstance(m, dict)
            )
            if isinstance(messages, list)
            else None,
        }

    def _secrets(self) -> Iterable[str]:
        return self._config.secrets + self._spec.secrets

    def _record(self, event: str, **fields: Any) -> Notify:
        record = HookRecord._build(event, self._clock() - self._start, self._base, fields)
        return Notify(self.dispatcher, record)

    def observe(self, flow: Generator[Action, Any, FlowResult]) -> Generator[Action | Notify, Any, FlowResult]:
        """Wrap a request flow: the same actions, with a :class:`Notify` before each event.

        The ledger's view of the call wraps the flow first: its budget check refuses the
        call from the first step (an ``on_error`` record, nothing sent).
        """
        # The call starts when its flow does (an async stream is made before it is opened).
        self._start = self._clock()
        flow = self.usage.observe(flow)
        outcome: Any = None
        last: dict[str, Any] = {}
        answered: Any = None  # the last answer with a success status
        attempt = 0
        try:
            while True:
                try:
                    action = flow.send(outcome)
                except StopIteration as stop:
                    result: FlowResult = stop.value
                    yield self._success(result, attempt)
                    return result
                kind = type(action)
                if kind is SendRequest:
                    attempt = action.attempt  # type: ignore[union-attr]
                    yield self._record("on_request", attempt=attempt)
                elif kind is Sleep:
                    yield self._record("on_retry", attempt=attempt, retry_wait=action.seconds, **last)  # type: ignore[union-attr]
                outcome = yield action
                if kind is SendRequest:
                    if isinstance(outcome, httpx.Response):
                        status = outcome.status_code
                        if status < 300:
                            # Its request id is read when a record needs it (headers are slow to search).
                            last = {"status_code": status, "error_type": None, "retry_after": None}
                            answered = outcome
                        else:
                            last = {
                                "status_code": status,
                                "request_id": _safe_request_id(outcome.headers, self._secrets()),
                                "error_type": _error_type_for_status(status),
                                "retry_after": self._config.retry_policy.retry_after(outcome.headers),
                            }
                    else:
                        # A transport failure (wrapped with its retry facts) or a local refusal.
                        error = outcome.error if isinstance(outcome, Failed) else outcome
                        last = {
                            "status_code": None,
                            "request_id": None,
                            "error_type": type(error).__name__,
                            "retry_after": None,
                        }
                elif kind is PullFirstEvent and outcome is not None and not isinstance(outcome, APIConnectionError):
                    self._first_at = self._clock()
                elif kind is PullFirstEvent:
                    last = {
                        **last,
                        "request_id": _safe_request_id(answered.headers, self._secrets()),
                        "error_type": type(outcome).__name__ if outcome is not None else "APIConnectionError",
                    }
        except GeneratorExit:
            # Abandoned mid-call (cancelled, interrupted): tell the sync hooks, which can be
            # called from here; async ones cannot be awaited without a loop turn.
            if not self._ended:
                self._ended = True
                flow.close()  # the ledger counts the call first
                self.dispatcher.emit(self._record("on_error", attempt=attempt, error_type="Cancelled"), skip_async=True)
            raise
        except BaseException as exc:
            self._ended = True
            error_type = type(exc).__name__
            notify = self._record(
                "on_error",
                attempt=attempt,
                error_type=error_type,
                status_code=getattr(exc, "status_code", None),
                request_id=getattr(exc, "request_id", None),
                retry_after=getattr(exc, "retry_after", None),
            )
            yield notify
            raise

    def _success(self, result: FlowResult, attempt: int) -> Notify:
        response = result.response
        fields: dict[str, Any] = {
            "attempt": attempt,
            "status_code": response.status_code,
            "request_id": _safe_request_id(response.headers, self._secrets()),
        }
        if result.first_event is not None:
            self._opened = True
            fields["time_to_first_token"] = (self._first_at or self._clock()) - self._start
            return self._record("on_response", **fields)
        self._ended = True
        value = result.value
        # The ledger has read this answer's counts (it hears the outcome first): one reading.
        fields.update(_usage_from_answer(self._base["operation"], value, self.usage.counts))
        error = result.error
        if error is not None and value is not None:
            # Parsed, but past the deadline: the call fails, with what it cost.
            return self._record("on_error", error_type=type(error).__name__, **fields)
        # (An answer that does not parse was still an answer: on_response, then the error.)
        return self._record("on_response", **fields)

    def stream_end(self, state: StreamState, error: BaseException | None) -> list[Notify]:
        """The records for a stream that ended: ``on_stream_end`` (always, once), and
        ``on_error`` when it failed. ``error`` is the exception being handled, if any."""
        self.usage.stream_end(state, error)  # the ledger first
        if self._ended or not self._opened:
            return []
        self._ended = True
        final = state.final
        fields: dict[str, Any] = {
            "completed": final is not None,
            "output_text": state.text,
            "time_to_first_token": None if self._first_at is None else self._first_at - self._start,
        }
        if final is not None:
            # As the ledger read the final event, just now (it hears the end first).
            input_tokens, output_tokens, cost, model = self.usage.counts
            fields.update(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                log_id=final.log_id,
                cost_usd=cost,
                response_model=model,
            )
            return [self._record("on_stream_end", **fields)]
        if error is None or isinstance(error, GeneratorExit) or _callers_own(error):
            # Closed early: by the caller, by the garbage collector, or because the
            # caller's own code raised while the stream was open; the stream did not fail.
            return [self._record("on_stream_end", **fields)]
        # A broken connection surfaces to the caller as IncompleteStreamError.
        error_type = "IncompleteStreamError" if isinstance(error, APIConnectionError) else type(error).__name__
        end = self._record("on_stream_end", error_type=error_type, **fields)
        return [end, Notify(self.dispatcher, end.record.replace(event="on_error", completed=None, output_text=None))]


# Public as neureus.X, which loads this module on first use (neureus/__init__.py): show that
# name in reprs, tracebacks and pickles even when the SDK handed one out first.
for _cls in (HookRecord,):
    _cls.__module__ = "neureus"
del _cls
