"""Bounded memory: ``max_response_bytes`` caps the decoded body whatever the encodings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from neureus import APIResponseValidationError, NeureusError

from . import server as acts
from .conftest import KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]

CAP = 256 * 1024
STACKS = [["gzip"], ["gzip", "gzip"], ["deflate"], ["deflate", "gzip"], []]


def _stacks() -> list[list[str]]:
    try:
        import brotli  # noqa: F401
    except ImportError:
        return STACKS
    return [*STACKS, ["br"], ["gzip", "br"]]


@pytest.mark.parametrize("encodings", _stacks(), ids=lambda e: "+".join(e) or "identity")
async def test_the_cap_holds_for_every_encoding_stack(api, hostile: HostileServer, encodings: list[str]) -> None:
    text = "x" * (CAP - 100)
    hostile.script(
        acts.encoded(acts.json_body({"text": text}), encodings),  # under the cap: accepted
        acts.encoded(acts.json_body({"text": text + "y" * 200}), encodings),  # over it
        acts.ok(),
    )
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, max_response_bytes=CAP)
    reply = await api.run(client.ai.chat(MESSAGES))
    assert reply.text == text
    with pytest.raises(APIResponseValidationError) as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert "max_response_bytes" in str(caught.value) and str(CAP) in str(caught.value)
    # The connection that carried the oversized body was closed, not reused.
    await api.run(client.ai.chat(MESSAGES))
    assert hostile.requests[2].connection != hostile.requests[1].connection


async def test_an_oversized_error_body_is_capped_too(api, hostile: HostileServer) -> None:
    hostile.script(acts.encoded(acts.json_body({"error": "e" * CAP}), ["gzip", "gzip"], status=500))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, max_response_bytes=CAP)
    with pytest.raises(APIResponseValidationError, match="max_response_bytes"):
        await api.run(client.ai.chat(MESSAGES))


@pytest.mark.parametrize("encodings", [["gzip"], ["gzip", "gzip"], ["deflate"]], ids="+".join)
async def test_a_corrupt_encoding_is_a_typed_error(api, hostile: HostileServer, encodings: list[str]) -> None:
    good = acts.encode(acts.json_body(), encodings)
    corrupt = good[:10] + bytes(b ^ 0x5A for b in good[10:])
    for deadline in (None, 5):
        hostile.script(acts.encoded(b"", encodings, raw=corrupt))
        client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, deadline=deadline)
        with pytest.raises(NeureusError):
            await api.run(client.ai.chat(MESSAGES))


_CHILD = textwrap.dedent(
    """
    import resource, sys
    flavor, url, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import anyio, httpx, neureus
    if flavor == "trio":
        import trio
    with open("/proc/self/statm") as f:
        base = int(f.read().split()[0]) * resource.getpagesize()
    # 1 GiB above what the interpreter already maps: the 2 GiB bomb cannot fit.
    resource.setrlimit(resource.RLIMIT_AS, (base + (1 << 30), resource.RLIM_INFINITY))
    options = dict(api_key=%(key)r, base_url=url, max_retries=0)
    if cap:
        options["max_response_bytes"] = cap
    messages = [{"role": "user", "content": "hi"}]
    try:
        if flavor == "sync":
            with neureus.Neureus(**options) as client:
                client.ai.chat(messages)
        else:
            async def main():
                async with neureus.AsyncNeureus(**options) as client:
                    await client.ai.chat(messages)
            anyio.run(main, backend=flavor)
    except MemoryError:
        print("MemoryError")
    except neureus.NeureusError as exc:
        print(type(exc).__name__, exc)
    else:
        print("accepted")
    """
) % {"key": KEY}


def _run_child(flavor: str, url: str, cap: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, flavor, url, str(cap)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NEUREUS_LOG": ""},
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def gzip_gzip_bomb() -> bytes:
    payload = acts.bomb(2 << 30, ["gzip", "gzip"])
    assert len(payload) < 8192  # a few KB on the wire
    return payload


FLAVOR_NAMES = ["sync", "asyncio", "trio"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize("flavor", FLAVOR_NAMES)
def test_a_gzip_gzip_bomb_stops_at_the_default_cap(flavor: str, gzip_gzip_bomb: bytes) -> None:
    with HostileServer() as server:
        server.script(acts.encoded(b"", ["gzip", "gzip"], raw=gzip_gzip_bomb))
        output = _run_child(flavor, server.url)
    assert output.startswith("APIResponseValidationError"), output
    assert "max_response_bytes" in output and str(32 * 1024 * 1024) in output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize("flavor", FLAVOR_NAMES)
def test_an_endless_body_without_deadline_fails_at_the_cap(flavor: str) -> None:
    with HostileServer() as server:
        server.script(acts.endless(b"[" * 65536))
        output = _run_child(flavor, server.url, cap=8 << 20)
    assert output.startswith("APIResponseValidationError"), output
    assert "max_response_bytes" in output
