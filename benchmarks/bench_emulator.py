"""The emulator over loopback vs a minimal uvicorn + Starlette app: requests/s and streams/s.

Users run ``neureus emulator`` / ``EmulatorServer`` in their own test suites, so its speed
is theirs. Both servers run in their own process on 127.0.0.1 and answer through the same
``FakeGateway.respond`` (``_starlette_emulator.py`` wraps it in one Starlette route), so
only the HTTP server differs. The client is the same ``neureus`` client for both.

- ``requests/s``: small chat calls one after another on one keep-alive connection.
- ``streams/s``: whole streamed chats (the emulator's default reply, ~10 events) one after
  another, on one keep-alive connection.
- ``burst requests/s``: 20 concurrent chats from a fresh ``AsyncNeureus`` (20 new
  connections at once), the "20 concurrent async chats" of a test suite.

Target (issue #13): the emulator at least as fast as uvicorn + Starlette (ratio >= 1.0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import _common
from _common import Case, Report, interleave

import neureus

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Hello"}]
KEY = "nru_bench_emulator_key"
BURST = 20


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    cmd = [sys.executable, "-m", "neureus", "emulator", "--port", "0", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        yield str(json.loads(proc.stdout.readline())["base_url"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def starlette_process() -> Iterator[str]:
    with socket.socket() as probe:  # a free port (uvicorn does not report the one it picks)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(HERE / "_starlette_emulator.py"), str(port)])
    try:
        for _ in range(200):  # bounded: 10 s for uvicorn to listen
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.05):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("uvicorn did not start within 10 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def rate(batch: int, fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        return batch / (time.perf_counter() - start)

    return run


def cases_for(label: str, url: str, batch: int, loop: asyncio.AbstractEventLoop) -> list[Case]:
    client = neureus.Neureus(api_key=KEY, base_url=url)

    def one_stream() -> str:
        with client.ai.stream(MESSAGES) as stream:
            for _token in stream:
                pass
        return stream.text

    async def burst() -> None:
        async with neureus.AsyncNeureus(api_key=KEY, base_url=url) as aclient:  # new connections
            await asyncio.gather(*(aclient.ai.chat(MESSAGES) for _ in range(BURST)))

    def bursts() -> float:
        start = time.perf_counter()
        for _ in range(max(1, batch // BURST)):
            loop.run_until_complete(burst())
        return max(1, batch // BURST) * BURST / (time.perf_counter() - start)

    return [
        Case(f"{label} requests/s", rate(batch, lambda: client.ai.chat(MESSAGES).text)),
        Case(f"{label} streams/s", rate(batch, one_stream)),
        Case(f"{label} burst requests/s", bursts),
    ]


def main() -> Report:
    args = _common.parse_args(__doc__.splitlines()[0])
    rounds = 1 if args.smoke else 15 if args.full else 5
    batch = 20 if args.smoke else 200 if args.full else 100
    loop = _common.new_loop()
    with emulator_process() as emulator_url, starlette_process() as starlette_url:
        cases = cases_for("emulator", emulator_url, batch, loop) + cases_for(
            "uvicorn+starlette", starlette_url, batch, loop
        )
        interleave(cases, rounds)
    _common.close_loops()
    report = Report(
        bench="emulator",
        title=f"The emulator vs uvicorn + Starlette over loopback, per second (batches of {batch}), {rounds} interleaved rounds",
        unit="/s",
        higher_is_better=True,
        cases=cases,
        baseline="uvicorn+starlette requests/s",
        subject="emulator requests/s",
        target=1.0,
        notes=[
            "both servers answer through FakeGateway.respond, each in its own process; same neureus client",
            f"burst: {BURST} concurrent chats on {BURST} new connections (a fresh AsyncNeureus each time)",
        ],
        versions=_common.versions("neureus", "httpx", "uvicorn", "starlette", "h11", "httptools", "uvloop"),
    )
    report.print(
        [
            ("emulator requests/s", "uvicorn+starlette requests/s"),
            ("emulator streams/s", "uvicorn+starlette streams/s"),
            ("emulator burst requests/s", "uvicorn+starlette burst requests/s"),
        ]
    )
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
