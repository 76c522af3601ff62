"""The front door: exports, the names API.md promises, sync/async parity, core purity."""

from __future__ import annotations

import ast
import inspect
import pathlib

import pytest

import neureus
import neureus.types

ROOT = pathlib.Path(neureus.__file__).parent

API_MD_NAMES = [
    "Neureus", "AsyncNeureus", "NeureusError", "APIError", "APIConnectionError", "APITimeoutError",
    "APIStatusError", "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "UnprocessableEntityError", "RateLimitError", "InternalServerError", "StreamError",
    "IncompleteStreamError", "WidgetKeyScopeError", "ConfigurationError", "InvalidRequestError",
    "ChatMessage", "ChatResponse", "ChatStream", "AsyncChatStream", "EmbeddingsResponse", "ModelList", "Model",
    "ProviderList", "ProviderStatus", "ProviderKeyStatus", "WidgetKey", "WidgetKeyRevocation", "CostEstimate",
    "BatchItem", "BatchResult", "BudgetExceededError", "Usage",
]  # fmt: skip
AI_CALLS = [
    "chat", "stream", "embeddings", "list_models", "list_providers", "set_provider_key", "rotate_provider_key",
    "delete_provider_key", "create_widget_key", "revoke_widget_key", "preprocess", "estimate_cost",
    "chat_many", "embed_many",
]  # fmt: skip


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest.
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return group, name


def test_all_is_sorted_complete_and_importable() -> None:
    assert neureus.__all__ == sorted(neureus.__all__, key=_isort_key)
    assert len(set(neureus.__all__)) == len(neureus.__all__)
    for name in neureus.__all__:
        assert hasattr(neureus, name), name
    for name in API_MD_NAMES:
        assert name in neureus.__all__, name
    for name in neureus.types.__all__:
        assert hasattr(neureus.types, name)


def test_public_classes_show_the_public_module() -> None:
    assert neureus.Neureus.__module__ == "neureus"
    assert neureus.RateLimitError.__module__ == "neureus"
    assert repr(neureus.InvalidRequestError("x")) == "InvalidRequestError('x')"


def test_every_public_name_has_a_docstring() -> None:
    for name in neureus.__all__:
        obj = getattr(neureus, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name
    for cls in (neureus.AI, neureus.AsyncAI, neureus.ChatStream, neureus.AsyncChatStream):
        for attr, member in vars(cls).items():
            if not attr.startswith("_") and callable(member):
                assert inspect.getdoc(member), f"{cls.__name__}.{attr}"


def test_every_ai_call_exists_on_both_clients() -> None:
    for call in AI_CALLS:
        assert callable(getattr(neureus.AI, call)), call
        assert callable(getattr(neureus.AsyncAI, call)), call


def _public(cls: type) -> dict[str, object]:
    return {n: m for n, m in inspect.getmembers(cls) if not n.startswith("_")}


@pytest.mark.parametrize(
    ("sync_cls", "async_cls", "allowed"),
    [
        (neureus.AI, neureus.AsyncAI, set()),
        (neureus.Neureus, neureus.AsyncNeureus, {"aclose"}),
        (neureus.ChatStream, neureus.AsyncChatStream, {"aclose"}),
    ],
)
def test_sync_and_async_twins_match(sync_cls: type, async_cls: type, allowed: set[str]) -> None:
    sync_members, async_members = _public(sync_cls), _public(async_cls)
    assert set(async_members) - set(sync_members) == allowed
    assert set(sync_members) - set(async_members) == set()
    for name, member in sync_members.items():
        other = async_members[name]
        if not callable(member) or isinstance(member, type):
            continue
        sync_sig, async_sig = inspect.signature(member), inspect.signature(other)  # type: ignore[arg-type]
        assert list(sync_sig.parameters) == list(async_sig.parameters), name
        for param in sync_sig.parameters:
            assert sync_sig.parameters[param].default == async_sig.parameters[param].default, (name, param)
            assert sync_sig.parameters[param].kind == async_sig.parameters[param].kind, (name, param)


def test_async_calls_are_coroutines_except_stream() -> None:
    for call in AI_CALLS:
        member = getattr(neureus.AsyncAI, call)
        assert inspect.iscoroutinefunction(member) == (call != "stream"), call


def test_sync_calls_are_never_coroutines() -> None:
    for cls in (neureus.AI, neureus.Neureus, neureus.ChatStream):
        for name, member in _public(cls).items():
            assert not inspect.iscoroutinefunction(member), f"{cls.__name__}.{name}"
            assert not inspect.isasyncgenfunction(member), f"{cls.__name__}.{name}"


CORE = ["_config", "_validation", "_wire", "_exceptions", "_retry", "_retry_policy", "_stream_state", "_sse", "_record",
        "_redact", "_logs", "_models", "types", "_cost", "_display", "_bulk_core", "_batch"]  # fmt: skip
FORBIDDEN_IMPORTS = {"anyio", "trio", "asyncio", "socket", "threading"}


@pytest.mark.parametrize("module", CORE)
def test_the_core_does_no_io(module: str) -> None:
    """DESIGN.md habit 2: no sleeping, event loops, sockets or httpx sends in the core."""
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & FORBIDDEN_IMPORTS, module
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in FORBIDDEN_IMPORTS, module
            assert not (node.module == "time" and any(a.name == "sleep" for a in node.names)), module
        elif isinstance(node, ast.Attribute):
            assert node.attr not in {"sleep", "send", "aread", "iter_bytes", "aiter_bytes"}, (
                module,
                node.attr,
            )


def test_every_private_module_declares_all() -> None:
    for path in ROOT.rglob("_*.py"):
        if path.name in {"__init__.py", "__main__.py"}:
            continue
        tree = ast.parse(path.read_text())
        names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert "__all__" in names, path
