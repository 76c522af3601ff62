"""Stream decoding in-process: N token events through httpx.MockTransport, sync and async.

Every client reads the same token stream in its own dialect, delivered by an in-process
mock transport one chunk per event (as a gateway flushes them), so what is measured is
the client's own work per event: HTTP body plumbing, SSE decoding, JSON, objects.

- ``bytes split + json.loads``: the floor, no HTTP library at all.
- ``httpx + httpx-sse``: the raw stack neureus is built on, with ``json.loads`` per event.
- ``neureus``: ``client.ai.stream(...)``, iterating ``str`` tokens.
- ``openai``: ``client.chat.completions.create(stream=True)``, reading ``choices[0].delta.content``.
- ``anthropic``: ``client.messages.create(stream=True)``, reading each event's text delta.

Target (issue #12): neureus >= 1.0x httpx + httpx-sse, events per second, sync and async.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import _common
import _patched
import httpx
import httpx_sse
from _common import Case, Report, interleave
from _payloads import MESSAGES, STREAMS

import neureus

Factory = Callable[[str, str, bool], tuple[Any, str]]
URL = "http://127.0.0.1:9"  # never dialled: MockTransport answers


def _handler(events: list[bytes], asynchronous: bool) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def sync_handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=iter(events))

    def async_handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for e in events:
                yield e

        return httpx.Response(200, headers=headers, content=body())

    return async_handler if asynchronous else sync_handler


def _handler2(events: list[bytes], asynchronous: bool):  # type: ignore[no-untyped-def]
    import httpx2

    headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def sync_handler(request):  # type: ignore[no-untyped-def]
        return httpx2.Response(200, headers=headers, content=iter(events))

    def async_handler(request):  # type: ignore[no-untyped-def]
        async def body():  # type: ignore[no-untyped-def]
            for e in events:
                yield e

        return httpx2.Response(200, headers=headers, content=body())

    return async_handler if asynchronous else sync_handler


def mock_factory(n: int) -> Factory:
    """httpx / httpx2 clients answered in-process by MockTransport, in each dialect."""

    def make(lib: str, dialect: str, asynchronous: bool) -> tuple[Any, str]:
        events = STREAMS[dialect](n)
        if lib == "httpx":
            cls = httpx.AsyncClient if asynchronous else httpx.Client
            return cls(transport=httpx.MockTransport(_handler(events, asynchronous))), URL
        import httpx2

        cls2 = httpx2.AsyncClient if asynchronous else httpx2.Client
        return cls2(transport=httpx2.MockTransport(_handler2(events, asynchronous))), URL

    return make


def build_cases(
    n: int,
    with_peers: bool,
    make: Factory,
    n_peers: int | None = None,
    make_peers: Factory | None = None,
    patched: ModuleType | None = None,
) -> tuple[list[Case], list[Case]]:
    loop = _common.new_loop()
    ne = STREAMS["neureus"](n)
    body = b"".join(ne)

    def floor() -> float:
        t = time.perf_counter()
        count = 0
        for block in body.split(b"\n\n"):
            if block.startswith(b"data: "):
                d = json.loads(block[6:])
                if not d.get("done"):
                    d["delta"]["content"]
                count += 1
        assert count == n + 1
        return count / (time.perf_counter() - t)

    sync_http, url = make("httpx", "neureus", False)
    async_http, _ = make("httpx", "neureus", True)

    def raw_sync() -> float:
        t = time.perf_counter()
        count = 0
        with httpx_sse.connect_sse(
            sync_http, "POST", url + "/ai/chat", json={"messages": MESSAGES, "stream": True}
        ) as es:
            for sse in es.iter_sse():
                d = json.loads(sse.data)
                if not d.get("done"):
                    d["delta"]["content"]
                count += 1
        assert count == n + 1
        return count / (time.perf_counter() - t)

    async def _raw_async() -> int:
        count = 0
        async with httpx_sse.aconnect_sse(
            async_http, "POST", url + "/ai/chat", json={"messages": MESSAGES, "stream": True}
        ) as es:
            async for sse in es.aiter_sse():
                d = json.loads(sse.data)
                if not d.get("done"):
                    d["delta"]["content"]
                count += 1
        return count

    def raw_async() -> float:
        t = time.perf_counter()
        count = loop.run_until_complete(_raw_async())
        assert count == n + 1
        return count / (time.perf_counter() - t)

    def neureus_cases(package: ModuleType, label: str = "") -> tuple[Case, Case]:
        http, url = make("httpx", "neureus", False)
        client = package.Neureus(api_key="nru_bench", base_url=url, http_client=http)
        ahttp, url = make("httpx", "neureus", True)
        aclient = package.AsyncNeureus(api_key="nru_bench", base_url=url, http_client=ahttp)

        def neureus_sync() -> float:
            t = time.perf_counter()
            count = 0
            with client.ai.stream(MESSAGES) as stream:
                for _ in stream:
                    count += 1
            assert count == n and stream.output_tokens == n
            return (count + 1) / (time.perf_counter() - t)

        async def _neureus_async() -> int:
            count = 0
            async with aclient.ai.stream(MESSAGES) as stream:
                async for _ in stream:
                    count += 1
            assert stream.output_tokens == n
            return count

        def neureus_async() -> float:
            t = time.perf_counter()
            count = loop.run_until_complete(_neureus_async())
            assert count == n
            return (count + 1) / (time.perf_counter() - t)

        return Case("neureus" + label, neureus_sync), Case("neureus async" + label, neureus_async)

    neureus_sync, neureus_async = neureus_cases(neureus)

    sync_cases = [
        Case("bytes split + json.loads", floor),
        Case("httpx + httpx-sse", raw_sync),
        neureus_sync,
    ]
    async_cases = [
        Case("httpx + httpx-sse async", raw_async),
        neureus_async,
    ]
    if patched is not None:  # the other copy of the package, side by side (``--patched``)
        patched_sync, patched_async = neureus_cases(patched, _patched.LABEL)
        sync_cases.append(patched_sync)
        async_cases.append(patched_async)
    if with_peers:
        sync_cases += peer_cases(n_peers or n, loop, False, make_peers or make)
        async_cases += peer_cases(n_peers or n, loop, True, make_peers or make)
    return sync_cases, async_cases


def peer_cases(n: int, loop: asyncio.AbstractEventLoop, asynchronous: bool, make: Factory) -> list[Case]:
    import anthropic
    import openai

    cases: list[Case] = []
    ohttp, ourl = make("httpx2", "openai", asynchronous)
    ahttp, aurl = make("httpx2", "anthropic", asynchronous)
    if not asynchronous:
        oc = openai.OpenAI(base_url=ourl + "/v1", api_key="sk-bench", http_client=ohttp)
        ac = anthropic.Anthropic(base_url=aurl, api_key="sk-ant-bench", http_client=ahttp)

        def openai_sync() -> float:
            t = time.perf_counter()
            count = 0
            for chunk in oc.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                if chunk.choices and chunk.choices[0].delta.content:
                    count += 1
            assert count == n
            return n / (time.perf_counter() - t)

        def anthropic_sync() -> float:
            t = time.perf_counter()
            count = 0
            for event in ac.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    count += 1
            assert count == n
            return n / (time.perf_counter() - t)

        cases += [Case("openai", openai_sync), Case("anthropic", anthropic_sync)]
    else:
        oc2 = openai.AsyncOpenAI(base_url=ourl + "/v1", api_key="sk-bench", http_client=ohttp)
        ac2 = anthropic.AsyncAnthropic(base_url=aurl, api_key="sk-ant-bench", http_client=ahttp)

        async def _openai() -> int:
            count = 0
            async for chunk in await oc2.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                if chunk.choices and chunk.choices[0].delta.content:
                    count += 1
            return count

        async def _anthropic() -> int:
            count = 0
            async for event in await ac2.messages.create(
                model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES, stream=True
            ):  # type: ignore[arg-type]
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    count += 1
            return count

        def openai_async() -> float:
            t = time.perf_counter()
            assert loop.run_until_complete(_openai()) == n
            return n / (time.perf_counter() - t)

        def anthropic_async() -> float:
            t = time.perf_counter()
            assert loop.run_until_complete(_anthropic()) == n
            return n / (time.perf_counter() - t)

        cases += [Case("openai async", openai_async), Case("anthropic async", anthropic_async)]
    return cases


def extra_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-peers", action="store_true")
    _patched.add_argument(parser)


def patched_ratios(patched: ModuleType | None) -> list[tuple[str, str]]:
    """The working tree's cases over the ``--patched`` copy's (when there is one)."""
    if patched is None:
        return []
    return [(name, name + _patched.LABEL) for name in ("neureus", "neureus async")]


def main() -> Report:
    args = _common.parse_args(__doc__.splitlines()[0], extra_arguments)
    n = 200 if args.smoke else 5000 if args.full else 2000
    n_peers = n if args.full else 500  # the peers are 3-40x slower: fewer events in --quick
    rounds = 1 if args.smoke else 21 if args.full else 15
    args.no_peers = args.no_peers or args.smoke
    patched = _patched.load(args.patched) if args.patched else None
    sync_cases, async_cases = build_cases(
        n, not args.no_peers, mock_factory(n), n_peers, mock_factory(n_peers), patched
    )
    interleave(sync_cases + async_cases, rounds)
    _common.close_loops()
    report = Report(
        bench="stream_inprocess",
        title=f"Stream decoding in-process (MockTransport), {n:,} token events (peers {n_peers:,}), events/s, {rounds} interleaved rounds",
        unit="ev/s",
        higher_is_better=True,
        cases=sync_cases + async_cases,
        baseline="httpx + httpx-sse",
        subject="neureus",
        target=1.0,
        notes=["one chunk per event; every case reads the token text of every event"],
        versions=_common.versions("neureus", "httpx", "httpx-sse", "pydantic", "openai", "anthropic"),
    )
    report.print(
        [("neureus", "httpx + httpx-sse"), ("neureus async", "httpx + httpx-sse async")],
        info_ratios=patched_ratios(patched),
    )
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
