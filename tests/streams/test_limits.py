"""API.md "Bounded memory", stream half: one SSE event is capped by ``max_response_bytes``,
and memory stays flat over a stream of any length.

An event past the cap is refused as it grows (never held whole), and the connection is
closed. Before the first event it is an :class:`APIResponseValidationError` naming the
limit, not retried; inside a started stream it surfaces as the documented stream error,
:class:`IncompleteStreamError` (with ``partial_text``), its ``__cause__`` that
:class:`APIResponseValidationError`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import anyio
import pytest

from neureus import APIResponseValidationError, IncompleteStreamError
from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, client_on
from .server import Script, SSEServer, token

pytestmark = pytest.mark.anyio

CAP = 2000
HOLD = 5.0

BIG = {
    "one-data-line": b"data: " + b"x" * (CAP + 10) + b"\n\n",
    "many-data-lines": b"data: xxxxxxxxx\n" * (CAP // 10 + 10) + b"\n",
    "endless-line": b"data: " + b"y" * (CAP * 3),  # never ends: no newline at all
    "endless-comment": b": " + b"z" * (CAP * 3),
}


async def collect(api: Api, stream: object) -> list[str]:
    with anyio.fail_after(FAIL_SAFE):
        return await api.collect(stream)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(BIG), ids=list(BIG))
async def test_an_oversized_event_mid_stream_is_incomplete(api: Api, sse_server: SSEServer, kind: str) -> None:
    script = Script([token("Hel"), BIG[kind]], hold=HOLD)
    sse_server.script(script)
    client = client_on(api, sse_server.url, max_response_bytes=CAP)
    with pytest.raises(IncompleteStreamError, match="max_response_bytes") as info:
        await collect(api, client.ai.stream(MESSAGES))
    assert info.value.partial_text == "Hel"
    cause = info.value.__cause__
    assert isinstance(cause, APIResponseValidationError) and f"({CAP} bytes)" in str(cause)
    assert script.finished.wait(FAIL_SAFE) and script.closed_early


async def test_an_oversized_first_event_is_refused_and_not_retried(api: Api, sse_server: SSEServer) -> None:
    script = Script([BIG["one-data-line"]], hold=HOLD)
    sse_server.script(script)
    client = client_on(api, sse_server.url, max_response_bytes=CAP, max_retries=2)
    with pytest.raises(APIResponseValidationError, match=f"max_response_bytes \\({CAP} bytes\\)"):
        await collect(api, client.ai.stream(MESSAGES))
    assert sse_server.requests == 1
    assert script.finished.wait(FAIL_SAFE) and script.closed_early


async def test_events_just_under_the_cap_pass(api: Api, sse_server: SSEServer) -> None:
    body = b'data: {"delta": {"content": "' + b"a" * (CAP - 40) + b'"}}\n\n'
    done = b'data: {"done": true}\n\n'
    sse_server.script(Script([body, body, done]))
    client = client_on(api, sse_server.url, max_response_bytes=CAP)
    assert [len(t) for t in await collect(api, client.ai.stream(MESSAGES))] == [CAP - 40] * 2


_FLAT = textwrap.dedent(
    """
    import resource, sys
    import httpx, neureus

    MIB = 1 << 20
    KIND, TOTAL_MIB, CAP_MIB = "keep-alives", 1, int(sys.argv[3])
    FILLER = (b": " + b"k" * 1000 + b"\\n") * 50 + b"event: heartbeat\\ndata: not json\\n\\n" + b'data: {"delta": {"content": ""}}\\n\\n'

    def body():
        yield b'data: {"delta": {"content": "first"}}\\n\\n'
        sent = 0
        while sent < TOTAL_MIB * MIB:
            if KIND == "keep-alives":
                chunk = FILLER
            else:  # one event that never ends
                chunk = b"data: " + b"e" * 60_000 + b"\\n"
            sent += len(chunk)
            yield chunk
        yield b'data: {"done": true}\\n\\n'

    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    def run(kind, total):
        global KIND, TOTAL_MIB
        KIND, TOTAL_MIB = kind, total
        http = httpx.Client(transport=httpx.MockTransport(handler))
        client = neureus.Neureus(api_key="nru_test_0123456789", base_url="https://gw.test", http_client=http,
                                 max_response_bytes=CAP_MIB * MIB)
        try:
            return "".join(client.ai.stream([{"role": "user", "content": "hi"}]))
        except neureus.IncompleteStreamError as exc:
            return type(exc.__cause__).__name__

    run("keep-alives", 1)  # warm up: every module and pool loaded before the limit
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * MIB, vm + 64 * MIB))
    print(run(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize(
    ("kind", "expected"), [("keep-alives", "first"), ("endless-event", "APIResponseValidationError")]
)
def test_memory_stays_flat_over_a_long_stream(kind: str, expected: str) -> None:
    # 256 MiB through a process allowed 64 MiB more than it had: nothing may pile up.
    result = subprocess.run(
        [sys.executable, "-c", _FLAT, kind, "256", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == expected
