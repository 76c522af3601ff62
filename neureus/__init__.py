"""neureus: the typed Python SDK for the Neureus AI Gateway.

>>> from neureus import Neureus
>>> client = Neureus()  # reads NEUREUS_API_KEY  # doctest: +SKIP
>>> print(client.ai.chat([{"role": "user", "content": "Hello"}]).text)  # doctest: +SKIP

Public namespaces: ``neureus`` (clients and errors), ``neureus.types`` (data models),
``neureus.preprocessing`` (the gateway's prompt pipeline, locally) and ``neureus.testing``
(an in-process emulator for tests). Importing ``neureus`` loads neither of the last two.
"""

import os as _os
import sys as _sys
from typing import TYPE_CHECKING, Any

from ._ai import AI, AsyncAI
from ._client import AsyncNeureus, Neureus
from ._config import NOT_GIVEN, NotGiven
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    IncompleteStreamError,
    InternalServerError,
    InvalidRequestError,
    NeureusError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    UnprocessableEntityError,
    WidgetKeyScopeError,
)
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from ._batch import BatchItem, BatchResult
    from ._hooks import HookRecord
    from ._notebook import adisplay_stream, display_stream
    from ._streaming import AsyncChatStream, ChatStream
    from ._structured import LengthFinishReasonError, OutputValidationError, ParsedChatResponse
    from ._usage import Usage
    from .types import (
        ChatMessage,
        ChatResponse,
        CostEstimate,
        EmbeddingsResponse,
        Model,
        ModelList,
        ProviderKeyStatus,
        ProviderList,
        ProviderStatus,
        StreamFinal,
        ToolCall,
        WidgetKey,
        WidgetKeyRevocation,
    )

# Loaded on first use: the pydantic models (the costliest part of an eager import), the
# streaming machinery (needed with the first stream), structured output (``parse``), the
# hooks' record and the notebook helpers. A lazy exception is still caught as
# ``except neureus.OutputValidationError``: the name loads its module when it is evaluated.
# tests/test_import_budget.py pins what ``import neureus`` and a new client load.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "ChatMessage",
            "ChatResponse",
            "CostEstimate",
            "EmbeddingsResponse",
            "Model",
            "ModelList",
            "ProviderKeyStatus",
            "ProviderList",
            "ProviderStatus",
            "StreamFinal",
            "ToolCall",
            "WidgetKey",
            "WidgetKeyRevocation",
        ),
        "types",
    ),
    "AsyncChatStream": "_streaming",
    "BatchItem": "_batch",
    "BatchResult": "_batch",
    "ChatStream": "_streaming",
    "HookRecord": "_hooks",
    "LengthFinishReasonError": "_structured",
    "OutputValidationError": "_structured",
    "ParsedChatResponse": "_structured",
    "Usage": "_usage",
    "adisplay_stream": "_notebook",
    "display_stream": "_notebook",
}


def _finish_imports_before_fork() -> None:
    """Before ``os.fork()``, wait for every neureus module another thread is loading (a lazy
    name, or what a client's first call loads). A child would inherit that module's import
    lock held by a thread it does not have, and its first use of the module would wait
    forever. Asking for a module being loaded waits for its lock; one load can start another
    (the ledger, then the models), so this looks again until none is in progress. (A load
    that starts in the instant between the last look and the fork is not covered.)"""
    import importlib._bootstrap as bootstrap

    # A load holds its module's lock from before the module is in sys.modules (while its
    # file is found) until it ends, however it was started (import, reload): importlib's
    # table of the locks alive is all there is to look at, a handful of names at most, where
    # sys.modules holds thousands in a large program and this runs at every fork.
    locks = getattr(bootstrap, "_module_locks", {})
    for _ in range(1000):  # bounded: each pass waits for the loads it saw
        loading = [name for name in list(locks) if name.startswith("neureus.")]
        if not loading:
            return
        import contextlib
        import importlib

        for name in loading:
            with contextlib.suppress(Exception):  # the thread loading it reports its own failure
                importlib.import_module(name)


_HELD_OVER_FORK: list[object] = []


def _before_fork() -> None:
    _finish_imports_before_fork()
    # pydantic builds a model's schema on first use (the SDK's models defer it) under one
    # global lock; held by another thread at the fork, the child's first parse would wait on
    # it forever. Hold it across the fork (as logging does its own), so no build is half-done.
    lock: Any = getattr(_sys.modules.get("pydantic.main"), "_rebuild_lock", None)
    if lock is not None and lock.acquire(timeout=10):
        _HELD_OVER_FORK.append(lock)


def _after_fork() -> None:
    while _HELD_OVER_FORK:
        lock: Any = _HELD_OVER_FORK.pop()
        lock.release()


if hasattr(_os, "register_at_fork"):  # not on Windows
    _os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    if isinstance(value, type) and value.__module__.startswith("neureus._"):
        value.__module__ = "neureus"
    globals()[name] = value
    return value


__all__ = [
    "AI",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncAI",
    "AsyncChatStream",
    "AsyncNeureus",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchResult",
    "BudgetExceededError",
    "ChatMessage",
    "ChatResponse",
    "ChatStream",
    "ConfigurationError",
    "ConflictError",
    "CostEstimate",
    "EmbeddingsResponse",
    "HookRecord",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "Model",
    "ModelList",
    "Neureus",
    "NeureusError",
    "NotFoundError",
    "NotGiven",
    "OutputValidationError",
    "ParsedChatResponse",
    "PermissionDeniedError",
    "ProviderKeyStatus",
    "ProviderList",
    "ProviderStatus",
    "RateLimitError",
    "RetryPolicy",
    "StreamError",
    "StreamFinal",
    "ToolCall",
    "UnprocessableEntityError",
    "Usage",
    "WidgetKey",
    "WidgetKeyRevocation",
    "WidgetKeyScopeError",
    "__version__",
    "adisplay_stream",
    "display_stream",
]

# Show public names as `neureus.X` in reprs, tracebacks and docs, not `neureus._module.X`.
for _name in __all__:
    _obj = globals().get(_name)  # the lazy names are not loaded yet
    if isinstance(_obj, type) and _obj.__module__.startswith("neureus._"):
        _obj.__module__ = "neureus"
del _name, _obj
