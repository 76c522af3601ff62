"""Every row of the endpoint table, checked through the public API, sync and async.

One row per ``client.ai`` call (``neureus._wire.ENDPOINTS``): its method, path, key scope,
``accept`` header and parser are compared with what the emulator received and what the
call returned. A new endpoint is a new row; this test then covers it or fails for want of
sample arguments.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from neureus import AsyncChatStream, ChatStream, WidgetKeyScopeError
from neureus._wire import ENDPOINTS, Endpoint
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio

PROVIDER = "anthropic"
BYOK = "sk-ant-endpoint-test-0123456789abcdef"

# How each call is made: a function of the client's ``ai`` and a live widget key.
CALLS: dict[str, Callable[[Any, str], Any]] = {
    "chat": lambda ai, _: ai.chat(MESSAGES),
    "stream": lambda ai, _: ai.stream(MESSAGES),
    "embeddings": lambda ai, _: ai.embeddings(["a", "b"]),
    "list_models": lambda ai, _: ai.list_models(),
    "list_providers": lambda ai, _: ai.list_providers(),
    "set_provider_key": lambda ai, _: ai.set_provider_key(PROVIDER, BYOK),
    "rotate_provider_key": lambda ai, _: ai.rotate_provider_key(PROVIDER, BYOK + "2"),
    "delete_provider_key": lambda ai, _: ai.delete_provider_key(PROVIDER),
    "create_widget_key": lambda ai, _: ai.create_widget_key(),
    "revoke_widget_key": lambda ai, widget: ai.revoke_widget_key(widget),
}
ACCEPT = {
    "application/json": {"accept": "application/json"},
    "text/event-stream": {"accept": "text/event-stream", "cache-control": "no-cache"},
}


def _parser(row: Endpoint) -> object:
    module, _, name = row.parser.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_call_has_a_row_and_every_row_a_call() -> None:
    import neureus

    public = {name for name, _ in inspect.getmembers(neureus.AI, inspect.isfunction) if not name.startswith("_")}
    assert set(ENDPOINTS) == set(CALLS)
    assert set(ENDPOINTS) <= public
    for row in ENDPOINTS.values():
        assert row.scope in ("any", "server") and row.accept in ACCEPT
        assert callable(_parser(row))


async def _result(api: Api, value: Any) -> Any:
    result = await api.run(value)
    if isinstance(result, (ChatStream, AsyncChatStream)):
        assert await api.collect(result)  # the stream reads through to its final event
    return result


async def test_every_row_is_what_the_client_sends(api: Api) -> None:
    server = api.client()
    widget = (await api.run(server.ai.create_widget_key())).key
    for call, row in ENDPOINTS.items():
        before = len(api.gateway.requests)
        result = await _result(api, CALLS[call](server.ai, widget))
        sent = api.gateway.requests[before:]
        assert len(sent) == 1, call
        request = sent[0]
        assert (request.method, request.path) == (row.method, row.path.format(provider=PROVIDER)), call
        for name, value in ACCEPT[row.accept].items():
            assert request.headers[name] == value, (call, name)
        parser = _parser(row)
        if inspect.isfunction(parser):  # the parser's return type is what the call gave
            assert inspect.signature(parser).return_annotation == type(result).__name__, call


async def test_every_server_row_refuses_a_widget_key_before_sending(api: Api) -> None:
    widget = (await api.run(api.client().ai.create_widget_key())).key
    widget_client = api.client(api_key=widget)
    for call, row in ENDPOINTS.items():
        before = len(api.gateway.requests)
        if row.scope == "any":
            await _result(api, CALLS[call](widget_client.ai, widget))
            assert len(api.gateway.requests) == before + 1, call
            assert api.gateway.requests[-1].api_key == widget
        else:
            with pytest.raises(WidgetKeyScopeError, match=rf"^{row.operation}\(\) is not allowed"):
                await api.run(CALLS[call](widget_client.ai, widget))
            assert len(api.gateway.requests) == before, call
