"""1,000 concurrent async streams on one client, 10 events each, 100 ms apart: wall time.

The server (``_server.py``, its own process on 127.0.0.1) sleeps 100 ms between events,
so the ideal wall time is about 0.9 s; what is measured is how long one client takes to
open 1,000 connections and drain 1,000 slow streams at once, whether any fail, and the
client process's peak RSS. Each sample runs in a fresh worker process (so peak RSS is
the case's own) and the cases are interleaved.

- ``raw httpx``: one ``httpx.AsyncClient(limits=max_connections=1000)`` + ``httpx-sse``.
- ``neureus``: ``AsyncNeureus(api_key=..., base_url=...)`` built with NO other options,
  which checks that the default pool limits carry 1,000 concurrent streams.
- ``openai`` / ``anthropic``: their async clients, default options.
- ``neureus, patched`` (with ``--patched DIR``): the same as ``neureus``, importing the
  copy of the package in ``DIR/neureus`` (e.g. main's, to compare a branch with it).

Targets (issue #16): neureus <= 1.10x raw httpx's wall time and peak RSS, 0 failures. The
notes also give each case's CPU time over the streams (steadier than wall time on a busy
machine).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import _common
from _common import Case, Report, interleave
from _payloads import MESSAGES
from _server import ServerProcess

EVENTS = 10
DELAY_MS = 100


async def _worker(case: str, base: str, streams: int) -> dict[str, Any]:
    import httpx

    if case == "raw httpx":
        import httpx_sse

        http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))
        url = base.replace("/anthropic/", "/neureus/").replace("/openai/", "/neureus/") + "/ai/chat"

        async def one() -> int:
            n = 0
            async with httpx_sse.aconnect_sse(http, "POST", url, json={"messages": MESSAGES, "stream": True}) as es:
                async for sse in es.aiter_sse():
                    d = json.loads(sse.data)
                    if not d.get("done"):
                        n += 1
            return n

    elif case.startswith("neureus"):
        import neureus

        client = neureus.AsyncNeureus(api_key="nru_bench", base_url=base)

        async def one() -> int:
            n = 0
            async for _ in client.ai.stream(MESSAGES):
                n += 1
            return n

    elif case == "openai":
        import openai

        oc = openai.AsyncOpenAI(api_key="sk-bench", base_url=base + "/v1")

        async def one() -> int:
            n = 0
            async for chunk in await oc.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                if chunk.choices and chunk.choices[0].delta.content:
                    n += 1
            return n

    else:
        import anthropic

        ac = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=base)

        async def one() -> int:
            n = 0
            async for event in await ac.messages.create(
                model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, stream=True
            ):  # type: ignore[arg-type]
                if event.type == "content_block_delta":
                    n += 1
            return n

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    cpu = time.process_time()
    results = await asyncio.gather(*[one() for _ in range(streams)], return_exceptions=True)
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    errors = [r for r in results if isinstance(r, BaseException)]
    short = [r for r in results if not isinstance(r, BaseException) and r != EVENTS]
    return {
        "wall": wall,
        "cpu": cpu,
        "failures": len(errors) + len(short),
        "error_kinds": sorted({type(e).__name__ for e in errors}),
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before,
    }


def run_worker(case: str, base: str, streams: int, tree: str | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", case, "--base", base, "--streams", str(streams)]
        + (["--tree", tree] if tree else []),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> Report:
    if "--worker" in sys.argv:
        i = sys.argv.index
        if "--tree" in sys.argv:  # a patched copy of the package, found before this tree's
            sys.path.insert(0, sys.argv[i("--tree") + 1])
        result = asyncio.run(
            _worker(sys.argv[i("--worker") + 1], sys.argv[i("--base") + 1], int(sys.argv[i("--streams") + 1]))
        )
        print(json.dumps(result))
        raise SystemExit(0)

    def extra(p: Any) -> None:
        p.add_argument("--no-peers", action="store_true")
        p.add_argument("--streams", type=int, default=1000)
        p.add_argument("--patched", metavar="DIR", help="also run the copy of the package in DIR/neureus")

    args = _common.parse_args(__doc__.splitlines()[0], extra)
    rounds = 1 if args.smoke else 7 if args.full else 3
    if args.smoke:
        args.streams = min(args.streams, 50)
    names = ["raw httpx", "neureus"]
    if args.patched:
        names.append("neureus, patched")
    if args.full and not args.no_peers:  # the peers take 3-10x longer: --full only
        names += ["openai", "anthropic"]
    details: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with ServerProcess() as server:
        dialect = {"openai": "openai", "anthropic": "anthropic"}

        def make(name: str) -> Case:
            tree = args.patched if name == "neureus, patched" else None

            def run() -> float:
                r = run_worker(name, server.url(dialect.get(name, "neureus"), EVENTS, DELAY_MS), args.streams, tree)
                details[name].append(r)
                return float(r["wall"])

            return Case(name, run)

        cases = [make(n) for n in names]
        interleave(cases, rounds, warmup=0)
    failures = {n: sum(d["failures"] for d in details[n]) for n in names}
    rss = {n: max(d["rss_peak_mb"] for d in details[n]) for n in names}
    kinds = {n: sorted({k for d in details[n] for k in d["error_kinds"]}) for n in names}
    report = Report(
        bench="concurrency",
        title=f"{args.streams:,} concurrent async streams, one client, {EVENTS} events {DELAY_MS} ms apart: wall s, {rounds} interleaved rounds",
        unit="s",
        higher_is_better=False,
        cases=cases,
        baseline="raw httpx",
        subject="neureus",
        target=1.10,
        notes=[
            f"{n}: {failures[n]} failed stream(s) in {len(details[n]) * args.streams:,}{' ' + str(kinds[n]) if kinds[n] else ''}; peak RSS {rss[n]:.0f} MB"
            for n in names
        ],
        extra={"failures": failures, "peak_rss_mb": rss, "error_kinds": kinds, "streams": args.streams},
        versions=_common.versions("neureus", "httpx", "openai", "anthropic"),
    )
    # Peak RSS, paired within each round like the wall time (both ran back to back).
    rss_ratio = statistics.median(
        n["rss_peak_mb"] / r["rss_peak_mb"] for n, r in zip(details["neureus"], details["raw httpx"], strict=True)
    )
    # Peak RSS less the RSS after the imports, paired per round. Not the streams alone:
    # raw httpx's client builds its transport (httpcore, the TLS context) before that point,
    # neureus at its first call, so neureus's growth holds that and pydantic too. Run with
    # --streams 1 for the one-time part (docs/performance.md, "Peak RSS of 1,000 streams").
    growth_ratio = statistics.median(
        (n["rss_peak_mb"] - n["rss_before_mb"]) / (r["rss_peak_mb"] - r["rss_before_mb"])
        for n, r in zip(details["neureus"], details["raw httpx"], strict=True)
    )
    before = {n: statistics.median(d["rss_before_mb"] for d in details[n]) for n in names}
    report.notes.append(
        "RSS after the imports, before the streams: " + ", ".join(f"{n} {v:.0f} MB" for n, v in before.items())
    )
    report.extra["rss_before_mb"] = before
    # CPU time of the worker process over the streams: steadier than wall time on a busy machine.
    cpu = {n: statistics.median(d["cpu"] for d in details[n]) for n in names}
    report.notes.append("CPU time over the streams (median): " + ", ".join(f"{n} {v:.2f} s" for n, v in cpu.items()))
    report.extra["cpu_s"] = cpu
    report.print()
    report.info["neureus RSS growth / raw httpx RSS growth"] = growth_ratio
    print(
        f"  info: neureus RSS growth / raw httpx RSS growth = {growth_ratio:.3f} (from after the imports, per round; not like for like: see the comment above)"
    )
    if args.patched:
        patched_ratio = statistics.median(
            n["rss_peak_mb"] / p["rss_peak_mb"]
            for n, p in zip(details["neureus"], details["neureus, patched"], strict=True)
        )
        report.info["neureus peak RSS / patched peak RSS"] = patched_ratio
        print(f"  info: neureus peak RSS / neureus, patched peak RSS = {patched_ratio:.3f} (per round)")
    report.ratios["neureus peak RSS / raw httpx peak RSS"] = rss_ratio
    verdict = "MET" if report.met(rss_ratio) else "NOT MET"
    print(
        f"RATIO neureus peak RSS / raw httpx peak RSS = {rss_ratio:.3f} (median of per-round ratios; target <= {report.target}) {verdict}"
    )
    print(
        f"RATIO neureus / raw httpx = {report.ratios['neureus / raw httpx']:.3f} (wall time, repeated as the headline)"
    )
    report.save(args.json)
    if any(failures.values()):
        raise SystemExit(f"FAILURES: {failures} (target 0)")
    return report


if __name__ == "__main__":
    main()
