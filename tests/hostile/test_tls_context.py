"""One TLS context per process, built off the event loop (issue 16, the loop-lag target).

Building httpx's verifying context loads the CA bundle (tens of ms of CPU): every client
pool shares one, an async client's first call builds it in a worker thread, and the
variables httpx reads for it (SSL_CERT_FILE, SSL_CERT_DIR) still take effect.
The time it saves is measured in benchmarks/bench_loop_lag.py, never here.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neureus import APIConnectionError
from neureus import _transport as transport_module

from .conftest import FAST, KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A fresh process-wide cache, and the thread of every context httpx builds for us."""
    monkeypatch.setattr(transport_module, "_TLS_CONTEXTS", {}, raising=False)
    made: list[int] = []
    real = httpx.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    return made


def _context_of(client: Any) -> ssl.SSLContext:
    context: ssl.SSLContext = client._http._transport._pool._ssl_context  # the pool httpcore uses
    return context


async def test_every_client_pool_shares_one_context_built_once(api, hostile: HostileServer, builds: list[int]) -> None:
    clients = [api.real_client(api_key=KEY, base_url=hostile.url) for _ in range(3)]
    for client in clients:
        await api.run(client.ai.chat(MESSAGES))
    assert len(builds) == 1
    assert len({id(_context_of(client)) for client in clients}) == 1
    assert _context_of(clients[0]).verify_mode == ssl.CERT_REQUIRED  # still httpx's verifying default


async def test_an_async_first_call_builds_the_context_off_its_event_loop(
    api, hostile: HostileServer, builds: list[int]
) -> None:
    if not api.is_async:
        pytest.skip("a sync call has no event loop to keep free")
    client = api.real_client(api_key=KEY, base_url=hostile.url)
    await client.ai.chat(MESSAGES)
    assert builds and threading.get_ident() not in builds  # built in a worker thread


async def test_sync_and_async_clients_share_the_context(hostile: HostileServer, builds: list[int]) -> None:
    from neureus import AsyncNeureus, Neureus

    with Neureus(api_key=KEY, base_url=hostile.url) as sync_client:
        sync_client.ai.chat(MESSAGES)
        async with AsyncNeureus(api_key=KEY, base_url=hostile.url) as async_client:
            await async_client.ai.chat(MESSAGES)
            assert _context_of(sync_client) is _context_of(async_client)
    assert len(builds) == 1


@pytest.fixture
def tls_server_and_ca(tmp_path: Path) -> Iterator[tuple[HostileServer, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with HostileServer(tls=context) as server:
        yield server, ca_file


async def test_ssl_cert_file_still_takes_effect_after_the_context_is_cached(
    api, tls_server_and_ca: tuple[HostileServer, Path], builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca_file = tls_server_and_ca
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    untrusting = api.real_client(api_key=KEY, base_url=server.url, max_retries=0, retry_policy=FAST)
    with pytest.raises(APIConnectionError, match=r"(?i)certificate"):
        await api.run(untrusting.ai.chat(MESSAGES))  # the default context is now cached
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    trusting = api.real_client(api_key=KEY, base_url=server.url, max_retries=0, retry_policy=FAST)
    reply = await api.run(trusting.ai.chat(MESSAGES))
    assert reply.text
    assert len(builds) == 2
    assert _context_of(untrusting) is not _context_of(trusting)
