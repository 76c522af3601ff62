"""neureus: the typed Python SDK for the Neureus AI Gateway.

>>> from neureus import Neureus
>>> client = Neureus()  # reads NEUREUS_API_KEY  # doctest: +SKIP
>>> print(client.ai.chat([{"role": "user", "content": "Hello"}]).text)  # doctest: +SKIP

Public namespaces: ``neureus`` (clients and errors), ``neureus.types`` (data models),
``neureus.preprocessing`` (the gateway's prompt pipeline, locally) and ``neureus.testing``
(an in-process emulator for tests). Importing ``neureus`` loads neither of the last two.
"""

from typing import TYPE_CHECKING

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
