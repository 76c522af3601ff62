"""Stream decoding over a real loopback server: N token events per stream, events/s.

The same cases as ``bench_stream_inprocess.py`` (raw httpx + httpx-sse, neureus, openai,
anthropic; sync and async), but every client talks HTTP/1.1 to ``_server.py``, a separate
process on 127.0.0.1 that writes the pre-rendered SSE body (one chunk per event) in one
go, so the client's socket reads, HTTP parsing and SSE decoding are what is measured.

Target (issue #12): neureus >= 1.0x httpx + httpx-sse, sync and async.

Three more cases measure what a stream's connection costs when streams are short:
back-to-back streams of 10 events, sync, as ``raw httpx (keep-alive)`` (read to the end:
the connection is reused), ``raw httpx (close at done)`` (the same, closing at ``done``:
a new connection per stream, what neureus did before it learned to hand a finished
body's connection back to the pool at ``done``), and ``neureus short`` (this server
writes the body's end with the ``done`` event, so neureus reuses the connection). Their
ratios are printed for context, not judged.
"""

from __future__ import annotations

import json
import time
from types import ModuleType
from typing import Any

import _common
import _patched
import httpx
import httpx_sse
from _common import Case, Report, interleave
from _payloads import MESSAGES
from _server import ServerProcess
from bench_stream_inprocess import Factory, build_cases, extra_arguments, patched_ratios

import neureus

SHORT = 10  # events in a short stream


def short_cases(server: ServerProcess, batch: int, patched: ModuleType | None = None) -> list[Case]:
    """Back-to-back short streams (events/s): what a new connection per stream costs."""
    url = server.url("neureus", SHORT)
    raw = httpx.Client(timeout=30)
    client = neureus.Neureus(api_key="nru_bench", base_url=url)
    patched_client = None if patched is None else patched.Neureus(api_key="nru_bench", base_url=url)
    body = {"messages": MESSAGES, "stream": True}

    def raw_stream(close_at_done: bool) -> None:
        count = done = 0
        with httpx_sse.connect_sse(raw, "POST", url + "/ai/chat", json=body) as es:
            for sse in es.iter_sse():  # to the body's end: the connection goes back to the pool
                data = json.loads(sse.data)
                if data.get("done"):
                    done += 1
                    if close_at_done:
                        es.response.close()
                        break
                    continue
                data["delta"]["content"]
                count += 1
        assert count == SHORT and done == 1

    def neureus_stream(client: Any = client) -> None:
        with client.ai.stream(MESSAGES) as stream:
            count = sum(1 for _ in stream)
        assert count == SHORT and stream.done

    def rate(fn: Any) -> Any:
        def run() -> float:
            t = time.perf_counter()
            for _ in range(batch):
                fn()
            return batch * SHORT / (time.perf_counter() - t)

        return run

    cases = [
        Case("raw httpx (keep-alive) short", rate(lambda: raw_stream(False))),
        Case("raw httpx (close at done) short", rate(lambda: raw_stream(True))),
        Case("neureus short", rate(neureus_stream)),
    ]
    if patched_client is not None:
        cases.append(Case("neureus short" + _patched.LABEL, rate(lambda: neureus_stream(patched_client))))
    return cases


def server_factory(server: ServerProcess, n: int) -> Factory:
    def make(lib: str, dialect: str, asynchronous: bool) -> tuple[Any, str]:
        url = server.url(dialect, n)
        if lib == "httpx":
            return (httpx.AsyncClient if asynchronous else httpx.Client)(timeout=30), url
        import httpx2

        return (httpx2.AsyncClient if asynchronous else httpx2.Client)(timeout=30), url

    return make


def main() -> Report:
    args = _common.parse_args(__doc__.splitlines()[0], extra_arguments)
    n = 200 if args.smoke else 5000 if args.full else 2000
    n_peers = n if args.full else 500  # the peers are 3-40x slower: fewer events in --quick
    rounds = 1 if args.smoke else 21 if args.full else 15
    args.no_peers = args.no_peers or args.smoke
    patched = _patched.load(args.patched) if args.patched else None
    with ServerProcess() as server:
        sync_cases, async_cases = build_cases(
            n, not args.no_peers, server_factory(server, n), n_peers, server_factory(server, n_peers), patched
        )
        cases = [c for c in sync_cases + async_cases if c.name != "bytes split + json.loads"]
        cases += short_cases(server, 5 if args.smoke else 100, patched)
        interleave(cases, rounds)
        _common.close_loops()
    report = Report(
        bench="stream_loopback",
        title=f"Stream decoding over loopback HTTP/1.1, {n:,} token events (peers {n_peers:,}), events/s, {rounds} interleaved rounds",
        unit="ev/s",
        higher_is_better=True,
        cases=cases,
        baseline="httpx + httpx-sse",
        subject="neureus",
        target=1.0,
        notes=["server: asyncio protocol in its own process, pre-rendered chunked SSE body, one chunk per event"],
        versions=_common.versions("neureus", "httpx", "httpx-sse", "openai", "anthropic"),
    )
    report.print(
        [("neureus", "httpx + httpx-sse"), ("neureus async", "httpx + httpx-sse async")],
        info_ratios=[
            ("raw httpx (close at done) short", "raw httpx (keep-alive) short"),
            ("neureus short", "raw httpx (keep-alive) short"),
            ("neureus short", "raw httpx (close at done) short"),
            *patched_ratios(patched),
            *([("neureus short", "neureus short" + _patched.LABEL)] if patched is not None else []),
        ],
    )
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
