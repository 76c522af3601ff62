"""docs/bulk.md, Budgets: once a ``chat_many`` run has spent ``max_spend_usd`` no new call
starts; the calls in flight finish, "so the total can pass it by at most ``concurrency``
calls", and the items not started fail with ``BudgetExceededError``. Attacked over real
HTTP at concurrency 8 and 32, every flavour, with answers of three prices that take a
random few milliseconds each, so calls overlap and end out of order."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from neureus import BudgetExceededError
from neureus.testing import EmulatorServer, FakeGateway
from neureus.testing._gateway import RecordedRequest
from tests.conftest import Api

pytestmark = [pytest.mark.anyio, pytest.mark.network]

KEY = "nru_local_0123456789"
PRICED = "claude-opus-4-8"
# Three prices: the longer the prompt (and the emulator's echo of it), the dearer the call.
PROMPTS = [f"item {i}: " + "word " * (1, 40, 200)[i % 3] for i in range(240)]


class SlowGateway(FakeGateway):
    """The emulator, answering each chat after a random 0-15 ms (its server has a thread
    per connection, so calls overlap as on a real gateway)."""

    def __init__(self) -> None:
        super().__init__()
        self._random = random.Random(1234)
        self._random_lock = threading.Lock()

    def respond(self, recorded: RecordedRequest) -> Any:
        if recorded.path == "/ai/chat":
            with self._random_lock:
                pause = self._random.uniform(0, 0.015)
            time.sleep(pause)
        return super().respond(recorded)


@pytest.fixture
def slow_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(SlowGateway()) as running:
        yield running


def _costs(server: EmulatorServer) -> dict[str, float]:
    """What each distinct prompt costs, asked once outside the run."""
    from neureus import Neureus

    costs: dict[str, float] = {}
    with Neureus(api_key=KEY, base_url=server.base_url) as probe:
        for prompt in PROMPTS[:3]:
            cost = probe.ai.chat([{"role": "user", "content": prompt}], model=PRICED).cost_usd
            assert cost
            costs[prompt.split(":")[1]] = cost
    return costs


@pytest.mark.parametrize("concurrency", [8, 32])
async def test_a_run_passes_its_budget_by_at_most_its_calls_in_flight(
    api: Api, slow_server: EmulatorServer, concurrency: int
) -> None:
    costs = _costs(slow_server)
    most = max(costs.values())
    budget = sum(costs.values()) * 15  # reached after about 45 of the 240 calls
    gateway = slow_server.gateway
    sent_before = len(gateway.requests)
    client = api.real_client(api_key=KEY, base_url=slow_server.base_url, max_retries=0)
    result = await api.run(
        client.ai.chat_many(PROMPTS, model=PRICED, concurrency=concurrency, max_spend_usd=budget, progress=False)
    )
    sent = len(gateway.requests) - sent_before
    done = [item for item in result if item.ok]
    refused = [item for item in result if not item.ok]
    # Every item either ran or was refused before it was sent; nothing else failed.
    assert all(isinstance(item.error, BudgetExceededError) for item in refused), result.errors
    assert len(done) == sent and len(done) + len(refused) == len(PROMPTS)
    assert refused, "the budget never stopped the run"
    for item in refused:
        error: Any = item.error
        assert error.budget_usd == budget and error.spent_usd >= budget
    spent = result.usage.cost_usd
    assert spent == pytest.approx(sum(item.response.cost_usd for item in done))
    assert spent >= budget  # no item was refused before the budget was reached
    # The promise: past the budget by at most `concurrency` calls (each at most the dearest).
    assert spent < budget + concurrency * most, (spent, budget, len(done))
    # Sharper, counted in calls: when the last call started, the run had spent less than
    # the budget, and at most `concurrency - 1` other calls were in flight.
    by_cost = sorted(costs[item.input.split(":")[1]] for item in done)
    assert sum(by_cost[: len(done) - concurrency]) < budget
