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
from ._streaming import AsyncChatStream, ChatStream
from ._version import __version__

if TYPE_CHECKING:  # type checkers see the real classes; at run time they load on first use
    from ._notebook import adisplay_stream, display_stream
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
        WidgetKey,
        WidgetKeyRevocation,
    )

_LAZY_TYPES = frozenset(
    {
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
        "WidgetKey",
        "WidgetKeyRevocation",
    }
)


def __getattr__(name: str) -> object:
    # The data models load on first use (pydantic model classes are the costliest part of the import).
    if name in _LAZY_TYPES:
        from . import types

        value = getattr(types, name)
        globals()[name] = value
        return value
    if name in ("display_stream", "adisplay_stream"):  # notebook helpers, on first use too
        from . import _notebook

        helper = getattr(_notebook, name)
        globals()[name] = helper
        return helper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "ChatMessage",
    "ChatResponse",
    "ChatStream",
    "ConfigurationError",
    "ConflictError",
    "CostEstimate",
    "EmbeddingsResponse",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "Model",
    "ModelList",
    "Neureus",
    "NeureusError",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "ProviderKeyStatus",
    "ProviderList",
    "ProviderStatus",
    "RateLimitError",
    "RetryPolicy",
    "StreamError",
    "StreamFinal",
    "UnprocessableEntityError",
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
