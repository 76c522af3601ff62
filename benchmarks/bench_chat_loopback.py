"""One small non-streaming chat call over a real loopback server, sync and async, µs per call.

Each client keeps one keep-alive connection to ``_server.py`` (a separate process on
127.0.0.1 answering with a pre-rendered JSON body) and makes calls one after another.

- ``raw httpx``: ``httpx.Client.post(json=...)`` + ``json.loads`` (and the same on ``httpx.AsyncClient``).
- ``neureus``: ``client.ai.chat(messages).text``.
- ``openai`` / ``anthropic``: ``chat.completions.create`` / ``messages.create`` in their dialects.

Target (issue #7): neureus <= 1.15x raw httpx, sync and async.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import _common
import _patched
import httpx
from _common import Case, Report, interleave
from _payloads import CHAT_JSON, MESSAGES
from _server import ServerProcess

import neureus


def build(server: ServerProcess, batch: int, with_peers: bool, patched: ModuleType | None = None) -> list[Case]:
    loop = _common.new_loop()

    def per_call(fn: Callable[[], object]) -> Callable[[], float]:
        return _common.per_call(fn, batch)

    def per_acall(fn: Callable[[], Awaitable[object]]) -> Callable[[], float]:
        return _common.per_acall(loop, fn, batch)

    url = server.url("neureus")
    raw = httpx.Client(timeout=30)
    araw = httpx.AsyncClient(timeout=30)
    auth = {"authorization": "Bearer nru_bench"}
    client = neureus.Neureus(api_key="nru_bench", base_url=url)
    aclient = neureus.AsyncNeureus(api_key="nru_bench", base_url=url)

    def raw_call() -> str:
        text: str = json.loads(raw.post(url + "/ai/chat", json={"messages": MESSAGES}, headers=auth).content)["text"]
        return text

    async def araw_call() -> str:
        r = await araw.post(url + "/ai/chat", json={"messages": MESSAGES}, headers=auth)
        text: str = json.loads(r.content)["text"]
        return text

    async def aneureus_call() -> str:
        return (await aclient.ai.chat(MESSAGES)).text

    expected = json.loads(CHAT_JSON["neureus"])["text"]
    assert raw_call() == expected and client.ai.chat(MESSAGES).text == expected  # the right answer, before timing
    assert loop.run_until_complete(araw_call()) == expected
    assert loop.run_until_complete(aneureus_call()) == expected

    cases = [
        Case("raw httpx", per_call(raw_call)),
        Case("neureus", per_call(lambda: client.ai.chat(MESSAGES).text)),
        Case("raw httpx async", per_acall(araw_call)),
        Case("neureus async", per_acall(aneureus_call)),
    ]
    if patched is not None:  # the other copy of the package, built and checked the same way
        pclient = patched.Neureus(api_key="nru_bench", base_url=url)
        paclient = patched.AsyncNeureus(api_key="nru_bench", base_url=url)

        cases += _patched.chat_cases(pclient, paclient, MESSAGES, expected, loop, per_call, per_acall)
    if with_peers:
        import anthropic
        import openai

        oc = openai.OpenAI(base_url=server.url("openai") + "/v1", api_key="sk-bench")
        ac = anthropic.Anthropic(base_url=server.url("anthropic"), api_key="sk-ant-bench")
        oc2 = openai.AsyncOpenAI(base_url=server.url("openai") + "/v1", api_key="sk-bench")
        ac2 = anthropic.AsyncAnthropic(base_url=server.url("anthropic"), api_key="sk-ant-bench")
        kw: dict[str, Any] = {"messages": MESSAGES}

        async def ao() -> object:
            return (await oc2.chat.completions.create(model="gpt-4o-mini", **kw)).choices[0].message.content

        async def aa() -> object:
            return (await ac2.messages.create(model="claude-sonnet-4-5", max_tokens=1024, **kw)).content[0]

        cases += [
            Case(
                "openai",
                per_call(lambda: oc.chat.completions.create(model="gpt-4o-mini", **kw).choices[0].message.content),
            ),
            Case(
                "anthropic",
                per_call(lambda: ac.messages.create(model="claude-sonnet-4-5", max_tokens=1024, **kw).content[0]),
            ),
            Case("openai async", per_acall(ao)),
            Case("anthropic async", per_acall(aa)),
        ]
    return cases


def main() -> Report:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--no-peers", action="store_true")
        _patched.add_argument(parser)

    args = _common.parse_args(__doc__.splitlines()[0], extra)
    rounds = 1 if args.smoke else 21 if args.full else 7
    batch = 10 if args.smoke else 100
    patched = _patched.load(args.patched) if args.patched else None
    with ServerProcess() as server:
        cases = build(server, batch, not (args.no_peers or args.smoke), patched)
        interleave(cases, rounds)
        _common.close_loops()
    report = Report(
        bench="chat_loopback",
        title=f"One small chat call over loopback HTTP/1.1 (keep-alive), µs per call (batches of {batch}), {rounds} interleaved rounds",
        unit="µs",
        higher_is_better=False,
        cases=cases,
        baseline="raw httpx",
        subject="neureus",
        target=1.10,
        notes=["server: asyncio protocol in its own process, pre-rendered JSON answer"],
        versions=_common.versions("neureus", "httpx", "openai", "anthropic"),
    )
    info = _patched.chat_info_ratios(patched)
    report.print([("neureus", "raw httpx"), ("neureus async", "raw httpx async")], info)
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
