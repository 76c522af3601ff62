"""One small non-streaming chat call, in-process (httpx.MockTransport), µs per call.

- ``raw httpx``: ``httpx.Client.post(json=...)`` + ``json.loads`` of the answer: the floor.
- ``neureus``: ``client.ai.chat(messages).text`` (validation, request build, the retry
  flow, the response model).
- ``openai`` / ``anthropic``: ``chat.completions.create`` / ``messages.create``, each
  answered in its own dialect.

Each sample is the mean of a batch of calls; samples are interleaved across cases.
Target (issue #7): neureus <= 1.3x raw httpx.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from types import ModuleType

import _common
import _patched
import httpx
from _common import Case, Report, interleave
from _payloads import CHAT_JSON, MESSAGES

import neureus

URL = "http://127.0.0.1:9"  # never dialled: MockTransport answers
HEADERS = {"content-type": "application/json", "x-request-id": "req_bench"}


def _mock(body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, headers=HEADERS, content=body))


def sync_cases(batch: int, with_peers: bool, patched: ModuleType | None = None) -> list[Case]:
    raw = httpx.Client(transport=_mock(CHAT_JSON["neureus"]))
    client = neureus.Neureus(
        api_key="nru_bench", base_url=URL, http_client=httpx.Client(transport=_mock(CHAT_JSON["neureus"]))
    )

    def per_call(fn: Callable[[], object]) -> Callable[[], float]:
        return _common.per_call(fn, batch)

    def raw_call() -> str:
        r = raw.post(URL + "/ai/chat", json={"messages": MESSAGES}, headers={"authorization": "Bearer nru_bench"})
        text: str = json.loads(r.content)["text"]
        return text

    def neureus_call() -> str:
        return client.ai.chat(MESSAGES).text

    expected = json.loads(CHAT_JSON["neureus"])["text"]
    assert raw_call() == expected and neureus_call() == expected  # the right answer, before timing

    loop = _common.new_loop()
    araw = httpx.AsyncClient(transport=_mock(CHAT_JSON["neureus"]))
    aclient = neureus.AsyncNeureus(
        api_key="nru_bench", base_url=URL, http_client=httpx.AsyncClient(transport=_mock(CHAT_JSON["neureus"]))
    )

    async def araw_call() -> str:
        r = await araw.post(
            URL + "/ai/chat", json={"messages": MESSAGES}, headers={"authorization": "Bearer nru_bench"}
        )
        text: str = json.loads(r.content)["text"]
        return text

    async def aneureus_call() -> str:
        return (await aclient.ai.chat(MESSAGES)).text

    assert loop.run_until_complete(araw_call()) == expected
    assert loop.run_until_complete(aneureus_call()) == expected

    def per_acall(fn: Callable[[], Awaitable[object]]) -> Callable[[], float]:
        return _common.per_acall(loop, fn, batch)

    cases = [
        Case("raw httpx", per_call(raw_call)),
        Case("neureus", per_call(neureus_call)),
        Case("raw httpx async", per_acall(araw_call)),
        Case("neureus async", per_acall(aneureus_call)),
    ]
    if patched is not None:  # the other copy of the package, built and checked the same way
        pclient = patched.Neureus(
            api_key="nru_bench", base_url=URL, http_client=httpx.Client(transport=_mock(CHAT_JSON["neureus"]))
        )
        paclient = patched.AsyncNeureus(
            api_key="nru_bench", base_url=URL, http_client=httpx.AsyncClient(transport=_mock(CHAT_JSON["neureus"]))
        )

        cases += _patched.chat_cases(pclient, paclient, MESSAGES, expected, loop, per_call, per_acall)
    if with_peers:
        import anthropic
        import httpx2
        import openai

        def mock2(body: bytes) -> httpx2.MockTransport:
            return httpx2.MockTransport(lambda request: httpx2.Response(200, headers=HEADERS, content=body))

        oc = openai.OpenAI(
            base_url=URL + "/v1", api_key="sk-bench", http_client=httpx2.Client(transport=mock2(CHAT_JSON["openai"]))
        )
        ac = anthropic.Anthropic(
            base_url=URL, api_key="sk-ant-bench", http_client=httpx2.Client(transport=mock2(CHAT_JSON["anthropic"]))
        )

        def openai_call() -> object:
            return oc.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content  # type: ignore[arg-type]

        def anthropic_call() -> object:
            return ac.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES).content[0]  # type: ignore[arg-type]

        cases += [Case("openai", per_call(openai_call)), Case("anthropic", per_call(anthropic_call))]
    return cases


def main() -> Report:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--no-peers", action="store_true")
        _patched.add_argument(parser)

    args = _common.parse_args(__doc__.splitlines()[0], extra)
    rounds = 1 if args.smoke else 31 if args.full else 11
    batch = 20 if args.smoke else 200
    patched = _patched.load(args.patched) if args.patched else None
    cases = sync_cases(batch, not (args.no_peers or args.smoke), patched)
    interleave(cases, rounds)
    _common.close_loops()
    report = Report(
        bench="chat_inprocess",
        title=f"One small chat call in-process (MockTransport), µs per call (batches of {batch}), {rounds} interleaved rounds",
        unit="µs",
        higher_is_better=False,
        cases=cases,
        baseline="raw httpx",
        subject="neureus",
        target=1.15,
        versions=_common.versions("neureus", "httpx", "pydantic", "openai", "anthropic"),
    )
    info = _patched.chat_info_ratios(patched)
    report.print([("neureus", "raw httpx"), ("neureus async", "raw httpx async")], info)
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
