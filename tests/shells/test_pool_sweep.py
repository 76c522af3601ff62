"""The own pools' linear sweep decides exactly as httpcore's own (a differential test over
random pool states), is given only to the SDK's own pools, and is skipped when httpcore's
method is not the one it was written against."""

from __future__ import annotations

import inspect
import random
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from neureus import AsyncNeureus, Neureus
from neureus._pool_sweep import QUADRATIC, linear_sweep, use_linear_sweep

ORIGINS = [httpcore.URL("http://a.test/").origin, httpcore.URL("http://b.test/").origin]


class FakeConnection:
    """A connection in a random state; the sweep only asks questions of it."""

    def __init__(self, number: int, rng: random.Random) -> None:
        self.number = number
        self.origin = rng.choice(ORIGINS)
        self.closed = rng.random() < 0.1
        self.expired = rng.random() < 0.1
        self.idle = rng.random() < 0.6
        self.available = self.idle or rng.random() < 0.1

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: Any) -> bool:
        return bool(origin == self.origin)


class FakeRequest:
    def __init__(self, number: int, rng: random.Random) -> None:
        self.number = number
        self.queued = rng.random() < 0.5
        self.request = httpcore.Request("GET", f"http://{rng.choice(['a', 'b'])}.test/")
        self.assigned: int | None = None

    def is_queued(self) -> bool:
        return self.queued

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.assigned = connection.number
        self.queued = False


def _pool(pool_class: type, seed: int) -> Any:
    rng = random.Random(seed)
    pool = pool_class(max_connections=rng.randint(1, 12), max_keepalive_connections=rng.randint(0, 8))
    pool._connections = [FakeConnection(n, rng) for n in range(rng.randint(0, 16))]
    pool._requests = [FakeRequest(n, rng) for n in range(rng.randint(0, 8))]
    made = iter(range(100, 200))
    pool.create_connection = lambda origin: FakeConnection(next(made), random.Random(seed + 1))
    return pool


def _outcome(pool: Any, closing: list[Any]) -> tuple[Any, ...]:
    return (
        [c.number for c in closing],
        [c.number for c in pool._connections],
        [(r.number, r.assigned, r.queued) for r in pool._requests],
    )


@pytest.mark.parametrize("pool_class", [httpcore.ConnectionPool, httpcore.AsyncConnectionPool])
def test_the_linear_sweep_decides_as_httpcores_own(pool_class: type) -> None:
    sweep = linear_sweep(pool_class)
    assert sweep is not None  # the httpcore this SDK is tested with has the quadratic count
    differed = 0
    for seed in range(2000):
        plain, linear = _pool(pool_class, seed), _pool(pool_class, seed)
        expected = _outcome(plain, plain._assign_requests_to_connections())
        assert _outcome(linear, sweep(linear)) == expected, seed
        differed += expected[0] != []  # some states close connections (the count matters)
    assert differed > 100


def test_a_sweep_without_the_expected_count_is_left_alone() -> None:
    class OtherPool(httpcore.ConnectionPool):
        def _assign_requests_to_connections(self) -> list[Any]:  # another httpcore's
            return []

    assert linear_sweep(OtherPool) is None
    pool = OtherPool()
    use_linear_sweep(pool)
    assert "_assign_requests_to_connections" not in vars(pool)
    assert QUADRATIC in inspect.getsource(httpcore.ConnectionPool._assign_requests_to_connections)


def test_only_the_sdks_own_pools_get_it() -> None:
    own = Neureus(api_key="nk_test_0123456789abcdef", base_url="http://127.0.0.1:9")
    theirs_http = httpx.Client()
    theirs = Neureus(api_key="nk_test_0123456789abcdef", base_url="http://127.0.0.1:9", http_client=theirs_http)
    try:
        own_pool = own._http._transport._pool  # built on first use
        assert "_assign_requests_to_connections" in vars(own_pool)
        assert "_assign_requests_to_connections" not in vars(theirs._http._transport._pool)
    finally:
        own.close()
        theirs_http.close()


def test_the_async_own_pool_gets_it_too() -> None:
    async def main() -> None:
        async with AsyncNeureus(api_key="nk_test_0123456789abcdef", base_url="http://127.0.0.1:9") as client:
            assert "_assign_requests_to_connections" in vars(client._http._transport._pool)

    anyio.run(main)
