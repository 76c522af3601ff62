"""``chat_many`` throughput against hand-written loops, checkpoint cost, memory per item.

2,000 chat calls at concurrency 64 over loopback, each case in a fresh worker process
(so none inherits another's imports, pool or event loop), interleaved round by round:

- ``anyio + httpx``: an ``httpx.AsyncClient``, an ``anyio`` task group and a semaphore of
  64, each answer's JSON decoded (the loop people write by hand);
- ``chat_many async``: ``await AsyncNeureus(...).ai.chat_many(prompts, concurrency=64)``;
- ``chat_many async + checkpoint``: the same, appending every item to a JSONL checkpoint;
- ``ThreadPoolExecutor + httpx.Client``: 64 threads over one ``httpx.Client``;
- ``chat_many sync``: ``Neureus(...).ai.chat_many(prompts, concurrency=64)`` (its thread pool);
- ``anyio + AsyncNeureus.chat`` / ``ThreadPoolExecutor + Neureus.chat``: the hand-written
  loops over the SDK's ``chat()``, which split a gap into the SDK's per-call cost and the
  bulk driver's own.

Targets (issue 14): async >= 0.95x the anyio loop, sync >= 0.9x the thread pool, the
checkpoint costs <= 5% (>= 0.95x), and peak RSS per 1k items stays flat from 1k to 100k
items (``--full``; the quick run goes to 20k).

The server is ``_server.py`` (a bare asyncio server on 127.0.0.1, its own process) rather
than ``neureus emulator``: the emulator's thread-per-connection stdlib server is slower
than every client here, so it would measure itself. ``--emulator`` uses it anyway.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
import _patched
from _common import Case, Report, interleave
from _server import ServerProcess

CALLS = 2000
CONCURRENCY = 64
KEY = "nru_bench_0123456789"
CASES = [
    "anyio + httpx",
    "anyio + AsyncNeureus.chat",
    "chat_many async",
    "chat_many async + checkpoint",
    "ThreadPoolExecutor + httpx.Client",
    "ThreadPoolExecutor + Neureus.chat",
    "chat_many sync",
]


def _prompts(n: int) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


# The cases that run the SDK: ``--patched DIR`` runs each again on that copy of the package.
SDK_CASES = [name for name in CASES if "eureus" in name or name.startswith("chat_many")]


def _worker(case: str, base: str, calls: int) -> dict[str, Any]:
    import resource

    import anyio
    import httpx

    prompts = _prompts(calls)
    url = base + "/ai/chat"
    headers = {"authorization": f"Bearer {KEY}"}
    if case in SDK_CASES:
        import neureus  # noqa: F401  (imported before the clocks start, as httpx and anyio are)
    cpu_start = time.process_time()
    start = time.perf_counter()
    ok = 0
    if case == "anyio + httpx":

        async def run() -> int:
            done = 0
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                semaphore = anyio.Semaphore(CONCURRENCY)
                results: list[Any] = [None] * len(prompts)

                async def one(i: int, prompt: str) -> None:
                    async with semaphore:
                        body = {"messages": [{"role": "user", "content": prompt}]}
                        response = await http.post(url, json=body, headers=headers)
                        response.raise_for_status()
                        results[i] = response.json()

                async with anyio.create_task_group() as group:
                    for i, prompt in enumerate(prompts):
                        group.start_soon(one, i, prompt)
                done = sum(r is not None for r in results)
            return done

        ok = anyio.run(run)
    elif case == "anyio + AsyncNeureus.chat":
        from neureus import AsyncNeureus

        async def run() -> int:
            async with AsyncNeureus(api_key=KEY, base_url=base) as client:
                semaphore = anyio.Semaphore(CONCURRENCY)
                results: list[Any] = [None] * len(prompts)

                async def one(i: int, prompt: str) -> None:
                    async with semaphore:
                        results[i] = await client.ai.chat([{"role": "user", "content": prompt}])

                async with anyio.create_task_group() as group:
                    for i, prompt in enumerate(prompts):
                        group.start_soon(one, i, prompt)
            return sum(r is not None for r in results)

        ok = anyio.run(run)
    elif case.startswith("chat_many async"):
        from neureus import AsyncNeureus

        async def run() -> int:
            async with AsyncNeureus(api_key=KEY, base_url=base) as client:
                with tempfile.TemporaryDirectory() as folder:
                    checkpoint = Path(folder) / "run.jsonl" if case.endswith("checkpoint") else None
                    result = await client.ai.chat_many(
                        prompts, concurrency=CONCURRENCY, checkpoint=checkpoint, progress=False
                    )
            return len(result) - len(result.errors)

        ok = anyio.run(run)
    elif case == "ThreadPoolExecutor + httpx.Client":
        from concurrent.futures import ThreadPoolExecutor

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        with httpx.Client(timeout=60, limits=limits) as http:

            def one(prompt: str) -> Any:
                response = http.post(url, json={"messages": [{"role": "user", "content": prompt}]}, headers=headers)
                response.raise_for_status()
                return response.json()

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                ok = sum(r is not None for r in pool.map(one, prompts))
    elif case == "ThreadPoolExecutor + Neureus.chat":
        from concurrent.futures import ThreadPoolExecutor

        from neureus import Neureus

        with Neureus(api_key=KEY, base_url=base) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
            replies = pool.map(lambda prompt: client.ai.chat([{"role": "user", "content": prompt}]), prompts)
            ok = sum(r is not None for r in replies)
    elif case == "chat_many sync":
        from neureus import Neureus

        with Neureus(api_key=KEY, base_url=base) as client:
            result = client.ai.chat_many(prompts, concurrency=CONCURRENCY, progress=False)
            ok = len(result) - len(result.errors)
    else:
        raise SystemExit(f"unknown case {case!r}")
    seconds = time.perf_counter() - start
    cpu_us = (time.process_time() - cpu_start) / calls * 1e6
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"items_per_s": calls / seconds, "ok": ok, "rss_mib": rss_kib / 1024, "cpu_us_per_item": cpu_us}


def _spawn(case: str, base: str, calls: int, patched: str | None = None) -> dict[str, Any]:
    env = None
    if case.endswith(_patched.LABEL):
        import os

        assert patched is not None
        case = case[: -len(_patched.LABEL)]
        env = {**os.environ, "NEUREUS_BENCH_PATCHED": str(Path(patched).resolve())}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", case, base, str(calls)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["ok"] != calls:
        raise RuntimeError(f"{case}: only {result['ok']} of {calls} calls succeeded")
    return result


def _base_url(server: Any) -> str:
    return str(server.base_url) if hasattr(server, "base_url") else server.url("neureus")


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--emulator", action="store_true", help="serve with `neureus emulator` instead")
        _patched.add_argument(parser)

    args = _common.parse_args(__doc__.splitlines()[0], extra)
    rounds = 1 if args.smoke else 7 if args.full else 3
    sizes = [200, 400] if args.smoke else [1_000, 10_000, 100_000] if args.full else [1_000, 5_000, 20_000]
    calls = 200 if args.smoke else CALLS
    if args.emulator:
        from neureus.testing import EmulatorServer

        server_cm: Any = EmulatorServer()
    else:
        server_cm = ServerProcess()
    with server_cm as server:
        base = _base_url(server)
        names = list(CASES)
        if args.patched:
            names += [name + _patched.LABEL for name in SDK_CASES]
        # The client process's CPU time per item (all its threads), a steadier view on a busy machine.
        cpu: dict[str, list[float]] = {name: [] for name in names}

        def sample(name: str) -> float:
            result = _spawn(name, base, calls, args.patched)
            cpu[name].append(result["cpu_us_per_item"])
            items_per_s: float = result["items_per_s"]
            return items_per_s

        cases = [Case(name, lambda name=name: sample(name)) for name in names]
        interleave(cases, rounds=rounds, warmup=1)
        memory: dict[str, float] = {}
        for size in sizes:
            rss = _spawn("chat_many async", base, size)["rss_mib"]
            memory[str(size)] = rss
    report = Report(
        bench="chat_many",
        title=f"chat_many: {calls:,} calls at concurrency {CONCURRENCY} over loopback (items/s, higher is better)",
        unit="it/s",
        higher_is_better=True,
        cases=cases,
        baseline="anyio + httpx",
        subject="chat_many async",
        target=0.95,
        versions=_common.versions("httpx", "anyio"),
        notes=[
            "peak RSS of a chat_many async process: "
            + ", ".join(f"{int(k):,} items {v:.0f} MiB" for k, v in memory.items()),
            "peak RSS added per 1k more items (flat = memory grows only with the results kept): "
            + ", ".join(
                f"{int(a):,}->{int(b):,}: {(memory[b] - memory[a]) / (int(b) - int(a)) * 1000:.2f} MiB"
                for a, b in zip(list(memory), list(memory)[1:], strict=False)
            ),
        ],
        extra={"peak_rss_mib": memory},
    )
    # The sync target is 0.9 and the checkpoint's 0.95; the headline (last line) is async.
    report.print(
        key_ratios=[("chat_many async", "anyio + httpx")],
        info_ratios=[
            ("chat_many sync", "ThreadPoolExecutor + httpx.Client"),
            ("chat_many async + checkpoint", "chat_many async"),
            # Where a gap comes from: the SDK's per-call cost (the same loop over chat()),
            # or the bulk driver itself (chat_many against that loop).
            ("anyio + AsyncNeureus.chat", "anyio + httpx"),
            ("chat_many async", "anyio + AsyncNeureus.chat"),
            ("ThreadPoolExecutor + Neureus.chat", "ThreadPoolExecutor + httpx.Client"),
            ("chat_many sync", "ThreadPoolExecutor + Neureus.chat"),
        ],
    )
    if args.patched:
        for name in SDK_CASES:
            r = report.ratio(name, name + _patched.LABEL)
            print(f"  info: {name} / {name}{_patched.LABEL} = {r:.3f} (median of per-round ratios)")
    print("  client CPU per item, µs (median over rounds, warm-up included; lower is better):")
    for name, values in cpu.items():
        print(f"    {name:<45} {statistics.median(values):8.0f}")
    sync_ratio = report.info["chat_many sync / ThreadPoolExecutor + httpx.Client"]
    checkpoint_ratio = report.info["chat_many async + checkpoint / chat_many async"]
    print(f"  sync target >= 0.9: {'MET' if sync_ratio >= 0.9 else 'NOT MET'} ({sync_ratio:.3f})")
    print(f"  checkpoint target >= 0.95: {'MET' if checkpoint_ratio >= 0.95 else 'NOT MET'} ({checkpoint_ratio:.3f})")
    print(f"RATIO chat_many async / anyio + httpx = {report.ratio():.3f} (target >= 0.95)")
    if args.json:
        data = report.to_json()
        data["targets"] = {"sync": 0.9, "checkpoint": 0.95}
        Path(args.json).write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        import os

        if os.environ.get("NEUREUS_BENCH_PATCHED"):  # this worker times the other copy
            _patched.load(os.environ["NEUREUS_BENCH_PATCHED"], "neureus")
        print(json.dumps(_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
