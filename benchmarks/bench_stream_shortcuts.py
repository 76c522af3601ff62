"""Do the stream core's speed shortcuts pay? neureus token streams with each one switched off.

In-process (``httpx.MockTransport``, one chunk per event, as bench_stream_inprocess.py),
N token events per stream, events/s, interleaved rounds; each variant is compared with
all shortcuts on, as the median of per-round ratios (the machine is noisy and shared).

- ``no fast path``: ``SSEDecoder.fast_path = False`` (every chunk takes the line loop);
- ``no JSON scanner``: ``_stream_state._loads = json.loads``;

(An async "buffered take", skipping the pull coroutine when an event was already decoded,
measured 0.99x-1.0x: it was removed.)

A shortcut stays only if switching it off costs clearly more than the noise (a few %);
each kept one is pinned by tests/streams/test_shortcuts_differential.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from _common import Case, interleave
from _payloads import MESSAGES, STREAMS

import neureus
from neureus import _sse, _stream_state


def _client(events: list[bytes], asynchronous: bool) -> Any:
    headers = {"content-type": "text/event-stream"}

    def handler(request: httpx.Request) -> httpx.Response:
        if asynchronous:

            async def body() -> AsyncIterator[bytes]:
                for e in events:
                    yield e

            return httpx.Response(200, headers=headers, content=body())
        return httpx.Response(200, headers=headers, content=iter(events))

    transport = httpx.MockTransport(handler)
    if asynchronous:
        return neureus.AsyncNeureus(
            api_key="nru_bench", base_url="http://127.0.0.1:9", http_client=httpx.AsyncClient(transport=transport)
        )
    return neureus.Neureus(
        api_key="nru_bench", base_url="http://127.0.0.1:9", http_client=httpx.Client(transport=transport)
    )


@contextlib.contextmanager
def switched_off(name: str) -> Iterator[None]:
    if name == "no fast path":
        _sse.SSEDecoder.fast_path = False
        try:
            yield
        finally:
            _sse.SSEDecoder.fast_path = True
    elif name == "no JSON scanner":
        saved = _stream_state._loads
        _stream_state._loads = json.loads
        try:
            yield
        finally:
            _stream_state._loads = saved
    else:
        yield


def main() -> None:
    n = 2000
    rounds = 25 if "--full" in sys.argv else 11
    events = STREAMS["neureus"](n)
    loop = asyncio.new_event_loop()
    sync_client = _client(events, False)
    async_client = _client(events, True)

    def sync_case(variant: str) -> Callable[[], float]:
        def run() -> float:
            with switched_off(variant):
                t = time.perf_counter()
                count = sum(1 for _ in sync_client.ai.stream(MESSAGES))
                elapsed = time.perf_counter() - t
            assert count == n
            return (n + 1) / elapsed

        return run

    def async_case(variant: str) -> Callable[[], float]:
        async def read() -> int:
            return len([t async for t in async_client.ai.stream(MESSAGES)])

        def run() -> float:
            with switched_off(variant):
                t = time.perf_counter()
                count = loop.run_until_complete(read())
                elapsed = time.perf_counter() - t
            assert count == n
            return (n + 1) / elapsed

        return run

    variants = ["all shortcuts", "no fast path", "no JSON scanner"]
    for label, make, extra in (("sync", sync_case, []), ("async", async_case, [])):
        cases = [Case(v, make(v)) for v in variants + extra]
        interleave(cases, rounds)
        base = cases[0].samples
        print(f"\n{label}: {n} token events in-process, events/s, {rounds} interleaved rounds")
        for case in cases:
            ratio = statistics.median(x / y for x, y in zip(case.samples, base, strict=True))
            print(f"  {case.name:<20} {case.median:>12,.0f} ev/s   {ratio:.3f}x all shortcuts")


if __name__ == "__main__":
    main()
