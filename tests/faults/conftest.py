"""Fixtures of the fault suite, and the summary table printed at the end of the session.

Each fault test records one row in the session's :class:`Ledger`: the fault, the call,
the flavour, how it ended ("recovered" by a retry, "passed" through a harmless fault,
"surfaced" as the right typed error), and the tokens lost or duplicated. A test that
fails before recording counts as not survived.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .server import FaultServer

_create_ssl_context = httpx._transports.default.create_ssl_context  # type: ignore[attr-defined]
_SSL_CONTEXTS: dict[tuple[object, ...], object] = {}


@pytest.fixture(autouse=True)
def _shared_ssl_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client of this suite builds its own pool, and building an ``httpx`` pool loads
    the CA bundle (about 0.1 s). The suite only speaks plain HTTP to loopback, so one
    default SSL context is shared by all of them; nothing else about the pool changes."""

    def cached(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        key = (id(verify) if not isinstance(verify, bool) else verify, cert, trust_env)
        if key not in _SSL_CONTEXTS:
            _SSL_CONTEXTS[key] = _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        return _SSL_CONTEXTS[key]

    monkeypatch.setattr(httpx._transports.default, "create_ssl_context", cached)


@dataclasses.dataclass
class Row:
    fault: str
    operation: str
    flavor: str
    outcome: str  # recovered | passed | surfaced | FAILED
    injected: int = 0
    lost: int = 0
    duplicated: int = 0


class Ledger:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def lines(self) -> list[str]:
        if not self.rows:
            return []
        by_fault: dict[str, list[Row]] = defaultdict(list)
        for row in self.rows:
            by_fault[row.fault].append(row)
        header = f"{'fault':<36} {'cases':>5} {'injected':>8} {'recovered':>9} {'surfaced':>8} {'passed':>6} {'FAILED':>6} {'lost':>4} {'dup':>4}"
        out = [header, "-" * len(header)]
        totals: Counter[str] = Counter()
        for fault in sorted(by_fault):
            rows = by_fault[fault]
            c = Counter(r.outcome for r in rows)
            injected = sum(r.injected for r in rows)
            lost = sum(r.lost for r in rows)
            dup = sum(r.duplicated for r in rows)
            totals.update(c)
            totals["cases"] += len(rows)
            totals["injected"] += injected
            totals["lost"] += lost
            totals["dup"] += dup
            out.append(
                f"{fault:<36} {len(rows):>5} {injected:>8} {c['recovered']:>9} {c['surfaced']:>8} "
                f"{c['passed']:>6} {c['FAILED']:>6} {lost:>4} {dup:>4}"
            )
        out.append("-" * len(header))
        out.append(
            f"{'TOTAL':<36} {totals['cases']:>5} {totals['injected']:>8} {totals['recovered']:>9} "
            f"{totals['surfaced']:>8} {totals['passed']:>6} {totals['FAILED']:>6} {totals['lost']:>4} {totals['dup']:>4}"
        )
        survived = totals["recovered"] + totals["surfaced"] + totals["passed"]
        out.append(
            f"survived {survived}/{totals['cases']} cases ({totals['injected']} faults injected); "
            f"tokens lost: {totals['lost']}, duplicated: {totals['dup']}"
        )
        return out


LEDGER = Ledger()


class CaseRecord:
    """Handed to a test; ``done()`` records its row (a test that never calls it failed)."""

    def __init__(self, fault: str, operation: str, flavor: str) -> None:
        self.row = Row(fault, operation, flavor, "FAILED")
        self.recorded = False

    def done(self, outcome: str, *, lost: int = 0, duplicated: int = 0) -> None:
        self.row.outcome = outcome
        self.row.lost = lost
        self.row.duplicated = duplicated
        self.recorded = True


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture(scope="session")
def other_server() -> Iterator[FaultServer]:
    """A second loopback server: the "other host" a redirect points to."""
    with FaultServer() as server:
        yield server


@pytest.fixture
def ledger_case(request: pytest.FixtureRequest, fault_server: FaultServer) -> Iterator[CaseRecord]:
    params = request.node.callspec.params
    fault = params.get("case")
    op = params.get("op", "stream")
    kind, backend = params.get("flavor", ("?", "?"))
    flavor = "sync" if kind == "sync" else backend
    record = CaseRecord(getattr(fault, "name", str(fault)), str(op), flavor)
    yield record
    record.row.injected = fault_server.faults_injected
    LEDGER.rows.append(record.row)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = LEDGER.lines()
    if not lines:
        return
    terminalreporter.write_sep("=", "neureus fault-injection summary")
    for line in lines:
        terminalreporter.write_line(line)
