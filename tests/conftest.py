"""Shared fixtures: one test body runs against the sync client and the async client, the
latter under both asyncio and trio (anyio's pytest plugin).

    @pytest.mark.anyio
    async def test_something(api, gateway):
        client = api.client()
        reply = await api.run(client.ai.chat(MESSAGES))

``api.run`` checks the call's flavour, then awaits it in the async flavour and passes the
value through in the sync one, so the same line serves both: a sync method that returns an
awaitable, or an async one that returns a plain value, fails the test. Sync calls made inside the async test function only touch the
in-process emulator or a server in another thread, so they never block what they wait on.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from neureus import AsyncChatStream, AsyncNeureus, ChatStream, Neureus
from neureus.testing import EmulatorServer, FakeGateway
from neureus.testing import fake_gateway as fake_gateway  # the fixture users import the same way

MESSAGES = [{"role": "user", "content": "Hello"}]

FLAVORS = [
    pytest.param(("sync", "asyncio"), id="sync"),
    pytest.param(("async", "asyncio"), id="asyncio"),
    pytest.param(("async", "trio"), id="trio"),
]


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(flavor: tuple[str, str]) -> str:
    return flavor[1]


class Api:
    """The flavour under test: builds clients and runs calls the same way for both."""

    def __init__(self, is_async: bool, gateway: FakeGateway) -> None:
        self.is_async = is_async
        self.gateway = gateway
        self._clients: list[Neureus | AsyncNeureus] = []

    def client(self, **options: Any) -> Any:
        """A client of this flavour on the in-process emulator (``Any``: tests call both)."""
        client = self.gateway.async_client(**options) if self.is_async else self.gateway.client(**options)
        self._clients.append(client)
        return client

    def real_client(self, **options: Any) -> Any:
        """A client of this flavour with its own pool (for a real server)."""
        cls = AsyncNeureus if self.is_async else Neureus
        client = cls(**options)
        self._clients.append(client)
        return client

    async def run(self, value: Any) -> Any:
        """The call's result: awaited in the async flavour, as returned in the sync one.

        Strict both ways, so a sync-flavour test tells a sync method from an async one.
        """
        awaitable = inspect.isawaitable(value)
        if self.is_async:
            if not awaitable:
                raise AssertionError(f"an async client's call returned {type(value).__name__}, not an awaitable")
            return await value
        if awaitable:
            if inspect.iscoroutine(value):
                value.close()  # never awaited: closing it spares the "never awaited" warning
            raise AssertionError(f"a sync client's call returned an awaitable ({type(value).__name__})")
        return value

    async def collect(self, stream: ChatStream | AsyncChatStream) -> list[str]:
        """The stream's tokens, read the flavour's way; strict like :meth:`run`."""
        if self.is_async:
            if not isinstance(stream, AsyncChatStream):
                raise AssertionError(f"an async client's stream is a {type(stream).__name__}")
            return [token async for token in stream]
        if not isinstance(stream, ChatStream):
            raise AssertionError(f"a sync client's stream is a {type(stream).__name__}")
        return list(stream)

    async def close(self, thing: Any) -> None:
        closer = getattr(thing, "aclose", None) if self.is_async else None
        if closer is not None:
            await closer()
        else:
            thing.close()

    async def aclose_all(self) -> None:
        for client in self._clients:
            await self.close(client)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
async def api(flavor: tuple[str, str], gateway: FakeGateway) -> AsyncIterator[Api]:
    helper = Api(flavor[0] == "async", gateway)
    yield helper
    await helper.aclose_all()


@pytest.fixture
def server(gateway: FakeGateway) -> Iterator[EmulatorServer]:
    """The same emulator served over real HTTP on 127.0.0.1."""
    with EmulatorServer(gateway) as running:
        yield running


_WILDCARDS = ("", "0.0.0.0", "::", "::0")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests listen on loopback only: a bind to every interface fails the test at once."""
    import socket

    original = socket.socket.bind

    def bind(self: socket.socket, address: Any) -> None:
        inet = self.family in (socket.AF_INET, socket.AF_INET6)
        if inet and isinstance(address, tuple) and address[0] in _WILDCARDS:
            raise AssertionError(f"a test tried to listen on every interface ({address[0]!r}): bind 127.0.0.1")
        original(self, address)

    monkeypatch.setattr(socket.socket, "bind", bind)
