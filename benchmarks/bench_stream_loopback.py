"""Stream decoding over a real loopback server: N token events per stream, events/s.

The same cases as ``bench_stream_inprocess.py`` (raw httpx + httpx-sse, neureus, openai,
anthropic; sync and async), but every client talks HTTP/1.1 to ``_server.py``, a separate
process on 127.0.0.1 that writes the pre-rendered SSE body (one chunk per event) in one
go, so the client's socket reads, HTTP parsing and SSE decoding are what is measured.

Target (issue #12): neureus >= 1.0x httpx + httpx-sse, sync and async.
"""

from __future__ import annotations

from typing import Any

import _common
import httpx
from _common import Report, interleave
from _server import ServerProcess
from bench_stream_inprocess import Factory, build_cases


def server_factory(server: ServerProcess, n: int) -> Factory:
    def make(lib: str, dialect: str, asynchronous: bool) -> tuple[Any, str]:
        url = server.url(dialect, n)
        if lib == "httpx":
            return (httpx.AsyncClient if asynchronous else httpx.Client)(timeout=30), url
        import httpx2

        return (httpx2.AsyncClient if asynchronous else httpx2.Client)(timeout=30), url

    return make


def main() -> Report:
    args = _common.parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--no-peers", action="store_true"))
    n = 200 if args.smoke else 5000 if args.full else 2000
    n_peers = n if args.full else 500  # the peers are 3-40x slower: fewer events in --quick
    rounds = 1 if args.smoke else 21 if args.full else 15
    args.no_peers = args.no_peers or args.smoke
    with ServerProcess() as server:
        sync_cases, async_cases = build_cases(
            n, not args.no_peers, server_factory(server, n), n_peers, server_factory(server, n_peers)
        )
        cases = [c for c in sync_cases + async_cases if c.name != "bytes split + json.loads"]
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
    report.print([("neureus", "httpx + httpx-sse"), ("neureus async", "httpx + httpx-sse async")])
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
