"""Shared benchmark plumbing: interleaved runs, medians, min-max, the table, the ratio line.

Every benchmark measures its cases *side by side*: each round runs every case once, in
an order rotated round by round, so a noisy neighbour on a shared machine slows all cases
alike rather than one. We report the median of the rounds, the min-max spread, and the
ratio of medians against the case named as the baseline. The ratio is the figure the
targets are written in, and it is printed LAST, on a line of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


warnings.filterwarnings("ignore", category=DeprecationWarning)

_loops: list[asyncio.AbstractEventLoop] = []


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop for ``run_until_complete`` samples; :func:`close_loops` ends it."""
    loop = asyncio.new_event_loop()
    _loops.append(loop)
    return loop


def close_loops() -> None:
    for loop in _loops:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    _loops.clear()


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="full", action="store_false", help="a quick run, under a minute (default)")
    mode.add_argument("--full", dest="full", action="store_true", help="more rounds, tighter medians")
    mode.add_argument(
        "--smoke", action="store_true", help="the quickest run: checks that it runs and its results are right (CI)"
    )
    parser.set_defaults(full=False, smoke=False)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def versions(*names: str) -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


@dataclass
class Case:
    """One thing measured: ``run()`` returns one sample (seconds, or a rate)."""

    name: str
    run: Callable[[], float]
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def interleave(cases: Sequence[Case], rounds: int, warmup: int = 1) -> None:
    """Run every case once per round, rotating the order; keep the samples after warm-up."""
    n = len(cases)
    for r in range(warmup + rounds):
        order = [cases[(r + i) % n] for i in range(n)]
        if r % 2:
            order.reverse()
        for case in order:
            gc.collect()
            value = case.run()
            if r >= warmup:
                case.samples.append(value)


def per_call(fn: Callable[[], object], batch: int) -> Callable[[], float]:
    """A sample: µs per call of ``fn``, over ``batch`` calls."""

    def run() -> float:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        return (time.perf_counter() - t) / batch * 1e6

    return run


def per_acall(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any], batch: int) -> Callable[[], float]:
    """A sample: µs per awaited call of ``fn`` on ``loop``, over ``batch`` calls."""

    async def many() -> None:
        for _ in range(batch):
            await fn()

    def run() -> float:
        t = time.perf_counter()
        loop.run_until_complete(many())
        return (time.perf_counter() - t) / batch * 1e6

    return run


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Seconds per call of ``fn``, over ``repeat`` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


@dataclass
class Report:
    """A benchmark's results: rows, the key ratio, and the target it is judged against."""

    bench: str
    title: str
    unit: str  # e.g. "ms", "µs", "ev/s", "s"
    higher_is_better: bool
    cases: list[Case]
    baseline: str
    subject: str
    target: float  # the ratio subject/baseline must be <= (lower is better) or >= (higher)
    absolute: bool = False  # the target is on the subject's own median (e.g. ms), not a ratio
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    info: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    def ratio(self, subject: str | None = None, baseline: str | None = None) -> float:
        """The median of the per-round ratios subject/baseline (paired within each round).

        Both cases ran back to back in every round, so a ratio taken inside a round
        cancels the machine's slow drift; its median over rounds is steadier than the
        ratio of the two medians (which the table's last column shows).
        """
        a = self.case(subject or self.subject).samples
        if self.absolute and baseline is None:
            return statistics.median(a)
        b = self.case(baseline or self.baseline).samples
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    def met(self, ratio: float) -> bool:
        return ratio >= self.target if self.higher_is_better else ratio <= self.target

    def print(
        self,
        key_ratios: Sequence[tuple[str, str]] | None = None,
        info_ratios: Sequence[tuple[str, str]] = (),
    ) -> None:
        """The table, then the ratios; the very last line is the headline ratio.

        ``key_ratios`` are judged against the target (the first is the headline);
        ``info_ratios`` are printed for context only.
        """
        width = max(len(c.name) for c in self.cases)
        base = self.case(self.baseline).median
        print(f"\n{self.title}")
        print(
            f"  {'case':<{width}}  {'median':>12}  {'min - max':>25}  {'vs ' + self.baseline:>14}  n   (ratio of medians)"
        )
        for c in self.cases:
            lo, hi = min(c.samples), max(c.samples)
            print(
                f"  {c.name:<{width}}  {_fmt(c.median):>9} {self.unit:<4}  {_fmt(lo):>11} - {_fmt(hi):<11}  "
                f"{c.median / base:>13.2f}x  {len(c.samples)}"
            )
        for note in self.notes:
            print(f"  note: {note}")
        if self.versions:
            print("  versions: " + ", ".join(f"{k} {v}" for k, v in self.versions.items()))
        for subject, baseline in info_ratios:
            r = self.ratio(subject, baseline)
            self.info[f"{subject} / {baseline}"] = r
            print(f"  info: {subject} / {baseline} = {r:.3f} (median of per-round ratios)")
        pairs = list(key_ratios or [(self.subject, self.baseline)])
        cmp = ">=" if self.higher_is_better else "<="
        if self.absolute:
            value = self.ratio()
            self.ratios[f"{self.subject} ({self.unit})"] = value
            verdict = "MET" if self.met(value) else "NOT MET"
            print(
                f"VALUE {self.subject} = {value:.3f} {self.unit} (median of rounds; target {cmp} {self.target}) {verdict}"
            )
            return
        for subject, baseline in pairs:
            self.ratios[f"{subject} / {baseline}"] = self.ratio(subject, baseline)
        for subject, baseline in pairs[1:] + pairs[:1]:  # the headline goes last
            r = self.ratios[f"{subject} / {baseline}"]
            verdict = "MET" if self.met(r) else "NOT MET"
            print(
                f"RATIO {subject} / {baseline} = {r:.3f} (median of per-round ratios; target {cmp} {self.target}) {verdict}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "title": self.title,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "baseline": self.baseline,
            "subject": self.subject,
            "target": self.target,
            "absolute": self.absolute,
            "ratio": self.ratio(),
            "ratios": self.ratios,
            "info_ratios": self.info,
            "met": all(self.met(r) for r in self.ratios.values()) if self.ratios else self.met(self.ratio()),
            "cases": {
                c.name: {
                    "median": c.median,
                    "min": min(c.samples),
                    "max": max(c.samples),
                    "n": len(c.samples),
                    "vs_baseline": self.ratio(c.name, self.baseline),
                    "samples": c.samples,
                }
                for c in self.cases
            },
            "notes": self.notes,
            "extra": self.extra,
            "versions": self.versions,
        }

    def save(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps(self.to_json(), indent=2))


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"
