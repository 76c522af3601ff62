"""How long a new async client's first call blocks its event loop, measured by a probe task.

Each sample is a fresh interpreter (the first call of a process is the one that pays for
the TLS context and httpcore), with the dependencies and the SDK already imported. A probe
task wakes every millisecond; while the first call runs (a small chat over loopback to
``_server.py``), each probe tick records

- the **block**: CPU time the event loop's own thread spent between two ticks
  (``time.thread_time``), i.e. the longest stretch the loop ran something other than the
  probe. Other processes on a shared machine cannot inflate it, so the target is judged on
  it; and
- the **lag**: how late the tick woke (wall time), which also counts the OS scheduler and
  waits for the GIL while another thread (the TLS worker) runs Python code (up to
  ``sys.getswitchinterval()``, 5 ms). Printed for context.

Cases: ``idle`` (the probe alone for as long: the noise floor), ``raw httpx`` (a new
``httpx.AsyncClient``'s first post), ``neureus`` (a new ``AsyncNeureus``'s first chat), and
``neureus, 2nd client`` (a second new client in the same process).

Target (issue 16): neureus's first call blocks its loop for at most 2 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import _common
from _common import Case, Report, interleave
from _server import ServerProcess

HERE = Path(__file__).resolve().parent

CHILD = r"""
import asyncio, json, sys, time
import httpx, httpx_sse, pydantic, anyio  # the dependencies: imported before the clock starts
import neureus

MESSAGES = [{"role": "user", "content": "Hello"}]
mode, url = sys.argv[1], sys.argv[2]


async def first_call(client_number, ticks):
    if mode == "raw httpx":
        async with httpx.AsyncClient() as client:
            r = await client.post(url + "/ai/chat", json={"messages": MESSAGES}, headers={"authorization": "Bearer nru_bench"})
            return json.loads(r.content)["text"]
    if mode == "idle":
        await asyncio.sleep(0.05)
        return "idle"
    cpu = time.thread_time()
    client = neureus.AsyncNeureus(api_key="nru_bench", base_url=url)
    construct_ms.append((time.thread_time() - cpu) * 1e3)
    ticks.clear()  # the construction ran before the call: reported on its own
    restart.append(True)
    try:
        return (await client.ai.chat(MESSAGES)).text
    finally:
        await client.aclose()


construct_ms = []
restart = []  # the probe starts its clocks afresh (after the client's construction)


async def measure(client_number):
    ticks = []  # (wall lag, loop-thread CPU) per probe tick
    done = False

    async def probe():
        last_wall, last_cpu = time.perf_counter(), time.thread_time()
        while not done:
            await asyncio.sleep(0.001)
            wall, cpu = time.perf_counter(), time.thread_time()
            if restart:
                restart.clear()
            else:
                ticks.append((wall - last_wall - 0.001, cpu - last_cpu))
            last_wall, last_cpu = wall, cpu

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    ticks.clear()
    text = await first_call(client_number, ticks)
    await asyncio.sleep(0.002)
    done = True
    await task
    return {
        "text": text,
        "block_ms": max(c for _, c in ticks) * 1e3,
        "lag_ms": max(w for w, _ in ticks) * 1e3,
        "ticks": len(ticks),
        "construct_ms": construct_ms[-1] if construct_ms else 0.0,
    }


async def main():
    first = await measure(1)
    second = await measure(2) if mode == "neureus" else None
    print(json.dumps({"first": first, "second": second}))


asyncio.run(main())
"""


def sample(mode: str, url: str) -> dict[str, object]:
    # NEUREUS_BENCH_PACKAGE_DIR: time another copy of the package (e.g. main, for a before/after).
    env = dict(os.environ, PYTHONPATH=os.environ.get("NEUREUS_BENCH_PACKAGE_DIR", str(HERE.parent)))
    # Bytecode caches on, as in an installed package (see bench_import.py): otherwise the
    # client's construction would be timed compiling the modules it loads from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, url], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{out.stderr[-2000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> Report:
    args = _common.parse_args(__doc__.splitlines()[0])
    rounds = 1 if args.smoke else 15 if args.full else 7
    lags: dict[str, list[float]] = {}
    constructs: dict[str, list[float]] = {}
    expected_text = _expected_text()
    with ServerProcess() as server:
        url = server.url("neureus")
        results: dict[str, dict[str, object]] = {}

        def runner(mode: str, which: str) -> Case:
            def run() -> float:
                if which == "first":
                    results[mode] = sample(mode, url)
                got = results[mode][which]
                assert isinstance(got, dict)
                want = "idle" if mode == "idle" else expected_text
                assert got["text"] == want, f"{mode}: wrong answer {got['text']!r}"
                assert got["ticks"] > 0, f"{mode}: the probe never ran"
                lags.setdefault(f"{mode} ({which})", []).append(float(got["lag_ms"]))
                constructs.setdefault(f"{mode} ({which})", []).append(float(got["construct_ms"]))
                return float(got["block_ms"])

            return run

        # "neureus, 2nd client" reads the sample the "neureus" case just took: keep them in order.
        first = runner("neureus", "first")
        second = runner("neureus", "second")

        def neureus_pair() -> float:
            value = first()
            pair.append(second())
            return value

        pair: list[float] = []
        cases = [
            Case("idle", runner("idle", "first")),
            Case("raw httpx", runner("raw httpx", "first")),
            Case("neureus", neureus_pair),
        ]
        interleave(cases, rounds, warmup=1)  # the warm-up round writes the bytecode caches
        for kept in (pair, *lags.values(), *constructs.values()):
            del kept[: len(kept) - rounds]  # the warm-up round's
        cases.append(Case("neureus, 2nd client", lambda: 0.0, samples=pair))
    report = Report(
        bench="loop_lag",
        title=f"Event-loop block during a new async client's first call, ms (fresh process each), {rounds} interleaved rounds",
        unit="ms",
        higher_is_better=False,
        cases=cases,
        baseline="raw httpx",
        subject="neureus",
        target=2.0,
        absolute=True,
        notes=[
            "block: the loop thread's CPU time between two 1 ms probe ticks (max over the call)",
            "lag (wall, max): "
            + ", ".join(f"{k} {sorted(v)[len(v) // 2]:.1f} ms" for k, v in lags.items() if "second" not in k),
            "AsyncNeureus() itself (before the call, one synchronous stretch): "
            + ", ".join(f"{k} {sorted(v)[len(v) // 2]:.1f} ms" for k, v in constructs.items() if "neureus" in k),
            f"GIL switch interval {sys.getswitchinterval() * 1e3:.0f} ms bounds the lag while the TLS worker runs",
        ],
        extra={"lag_ms": lags, "construct_ms": constructs},
        versions=_common.versions("neureus", "httpx", "httpcore"),
    )
    report.print([("neureus", "raw httpx")])
    report.save(args.json)
    return report


def _expected_text() -> str:
    from _payloads import CHAT_JSON

    text: str = json.loads(CHAT_JSON["neureus"])["text"]
    return text


if __name__ == "__main__":
    main()
