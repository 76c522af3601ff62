"""API.md "Bounded memory" over a compressed stream: ``max_response_bytes`` caps one SSE
event whatever ``content-encoding`` stack the server sends, and memory stays flat.

httpx's own decoders inflate a whole raw chunk at once, so a few KB of ``gzip, gzip``
could allocate gigabytes before the SSE decoder's per-event cap saw a byte, and a chunk
decoding to millions of tiny events could fill the event queue. The attacks run in a
subprocess whose address space is capped a little above what it had (``RLIMIT_AS``), so
holding such a chunk decoded is a ``MemoryError``, not a slow test.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import zlib
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

import neureus
from neureus import APIResponseValidationError, IncompleteStreamError
from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, client_on
from .server import Script, SSEServer, done, token

pytestmark = pytest.mark.anyio

MIB = 1 << 20


def _flushed(parts: list[bytes], encodings: list[str]) -> list[bytes]:
    """``parts`` encoded as one body through ``encodings``, a chunk per part (each flushed,
    so every event can be decoded the moment its chunk arrives, as a streaming server does)."""
    for name in encodings:
        if name == "br":
            import brotli  # type: ignore[import-not-found, import-untyped, unused-ignore]

            compressor = brotli.Compressor()
            parts = [compressor.process(part) + compressor.flush() for part in parts] + [compressor.finish()]
            continue
        wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[name]
        compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
        parts = [compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH) for part in parts]
        parts.append(compressor.flush())
    return [part for part in parts if part]


def _brotli_usable() -> bool:
    try:
        import brotli
    except ImportError:
        return False
    return hasattr(brotli.Decompressor(), "can_accept_more_data")


TOKENS = ["Hel", "lo", ", ", "wor", "ld", "!" * 300]
STACKS = {
    "gzip": (["gzip"], "gzip"),
    "deflate": (["deflate"], "deflate"),
    "raw-deflate": (["raw-deflate"], "deflate"),
    "gzip-gzip": (["gzip", "gzip"], "gzip, gzip"),
    "deflate-gzip": (["deflate", "gzip"], "deflate, gzip"),
    "br": (["br"], "br"),
}


@pytest.mark.parametrize("stack", list(STACKS), ids=list(STACKS))
async def test_an_encoded_stream_streams_token_for_token(api: Api, sse_server: SSEServer, stack: str) -> None:
    encodings, header = STACKS[stack]
    if "br" in encodings and not _brotli_usable():
        pytest.skip("brotli >= 1.2 is not installed")
    plain = [token(text) for text in TOKENS] + [done()]
    sse_server.script(
        Script(plain),
        Script(_flushed(plain, encodings), headers={"content-encoding": header}),
    )
    client = client_on(api, sse_server.url)
    with anyio.fail_after(FAIL_SAFE):
        expected = await api.collect(client.ai.stream(MESSAGES))
        got = await api.collect(client.ai.stream(MESSAGES))
    assert expected == TOKENS
    assert got == expected


async def test_an_encoded_chunk_of_several_events_hands_each_on_in_order(api: Api, sse_server: SSEServer) -> None:
    # One decoded piece completes three events: the first is handed on, the others queued
    # (and pulled before anything more is read or decoded).
    chunks = _flushed([token("a") + token("b") + token("c"), token("d") + done()], ["gzip"])
    sse_server.script(Script(chunks, headers={"content-encoding": "gzip"}))
    client = client_on(api, sse_server.url)
    with anyio.fail_after(FAIL_SAFE):
        stream = await api.run(client.ai.stream(MESSAGES))
        assert await api.collect(stream) == ["a", "b", "c", "d"]
    assert stream.done


async def test_an_encoded_event_arrives_before_the_body_ends(api: Api, sse_server: SSEServer) -> None:
    # Decoded as each raw chunk arrives, not once the body is whole: the first token is
    # handed on while the server still holds the rest back.
    chunks = _flushed([token("first"), token("second"), done()], ["gzip", "gzip"])
    script = Script([chunks[0], FAIL_SAFE / 2, *chunks[1:]], headers={"content-encoding": "gzip, gzip"})
    sse_server.script(script)
    client = client_on(api, sse_server.url)
    with anyio.fail_after(FAIL_SAFE):
        stream = await api.run(client.ai.stream(MESSAGES))
        iterator = aiter(stream) if api.is_async else iter(stream)
        first = await anext(iterator) if api.is_async else next(iterator)
        assert first == "first" and script.written <= 1  # the rest is still held back
        await api.close(stream)


async def _decoding_cause(api: Api, sse_server: SSEServer, parts: list[bytes]) -> APIResponseValidationError:
    """The cause of the IncompleteStreamError that a gzip stream of ``parts`` ends in,
    after its one token "Hel"."""
    sse_server.script(Script(parts, headers={"content-encoding": "gzip"}))
    client = client_on(api, sse_server.url)
    with pytest.raises(IncompleteStreamError) as info:
        with anyio.fail_after(FAIL_SAFE):
            await api.collect(client.ai.stream(MESSAGES))
    assert info.value.partial_text == "Hel"
    cause = info.value.__cause__
    assert isinstance(cause, APIResponseValidationError), repr(cause)
    assert "could not be decoded" in str(cause)
    return cause


async def test_a_corrupt_encoded_stream_is_a_typed_error(api: Api, sse_server: SSEServer) -> None:
    cause = await _decoding_cause(api, sse_server, [_flushed([token("Hel")], ["gzip"])[0], b"\xff" * 64])
    assert not isinstance(cause.__cause__, httpx.DecodingError)


@pytest.mark.parametrize(
    ("header", "body"),
    [("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 64), ("zstd-unknown", b"data: {}\n\n")],
    ids=["corrupt-gzip", "unknown-coding"],
)
async def test_an_undecodable_first_event_is_refused_and_not_retried(
    api: Api, sse_server: SSEServer, header: str, body: bytes
) -> None:
    sse_server.script(Script([body], headers={"content-encoding": header}))
    client = client_on(api, sse_server.url, max_retries=2)
    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        with anyio.fail_after(FAIL_SAFE):
            await api.collect(client.ai.stream(MESSAGES))
    assert sse_server.requests == 1


@pytest.mark.parametrize("stack", ["gzip", "gzip, gzip"])
@pytest.mark.parametrize("same_write", [True, False], ids=["same-write", "next-write"])
async def test_garbage_after_an_encoded_done_changes_nothing(
    api: Api, sse_server: SSEServer, stack: str, same_write: bool
) -> None:
    # docs/streaming.md: nothing after done is decoded, whatever content-encoding stack the
    # server sends: corrupt compressed bytes in place of the trailer are never looked at.
    parts = _flushed([token("Hel"), done()], [name.strip() for name in stack.split(",")])[:2]
    garbage = b"\xff" * 64
    body = [parts[0], parts[1] + garbage] if same_write else [parts[0], parts[1], garbage]
    sse_server.script(Script(body, headers={"content-encoding": stack}))
    client = client_on(api, sse_server.url)
    with anyio.fail_after(FAIL_SAFE):
        assert await api.collect(client.ai.stream(MESSAGES)) == ["Hel"]


async def test_a_compressed_stream_cut_short_is_incomplete(api: Api, sse_server: SSEServer) -> None:
    # A token, then the body ends with neither "done" nor the gzip trailer.
    cause = await _decoding_cause(api, sse_server, [_flushed([token("Hel")], ["gzip"])[0]])
    assert "ended early" in str(cause)


# -- the in-process transport (httpx.MockTransport): raw and read bodies --------------


def _mock_client(api: Api, parts: list[bytes] | bytes, headers: dict[str, str]) -> neureus.Neureus:
    async def agen() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    def handler(request: httpx.Request) -> httpx.Response:
        # bytes: httpx reads (and decodes) the body at once; chunks are streamed raw.
        content: bytes | Iterator[bytes] | AsyncIterator[bytes] = parts
        if isinstance(parts, list):
            content = agen() if api.is_async else iter(parts)
        return httpx.Response(200, headers={"content-type": "text/event-stream", **headers}, content=content)

    cls = httpx.AsyncClient if api.is_async else httpx.Client
    http = cls(transport=httpx.MockTransport(handler))
    return client_on(api, "https://gw.test", http_client=http)  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", ["read-bytes", "chunk-iterator"])
@pytest.mark.parametrize("header", ["", "gzip"])
async def test_an_in_memory_stream_reads_the_same(api: Api, shape: str, header: str) -> None:
    plain = [token(text) for text in TOKENS] + [done()]
    parts = _flushed(plain, ["gzip"]) if header else plain
    client = _mock_client(
        api, b"".join(parts) if shape == "read-bytes" else parts, {"content-encoding": header} if header else {}
    )
    with anyio.fail_after(FAIL_SAFE):
        assert await api.collect(client.ai.stream(MESSAGES)) == TOKENS


# -- bombs, under RLIMIT_AS -----------------------------------------------------------


def _bomb(head: bytes, unit: bytes, decoded: int) -> bytes:
    """``head`` then ``unit`` repeated to about ``decoded`` bytes, ``gzip, gzip``-encoded,
    built without ever holding it decoded (no end: the body stops mid-stream).

    After a full flush deflate forgets its history, so every repeat of a unit compresses to
    the same bytes: the inner gzip is that block repeated, which the outer gzip squeezes.
    """
    block = unit * max(1, MIB // len(unit))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(head + block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    inner = first + repeat * (decoded // len(block))
    return gzip.compress(inner, 9)


_RUN = textwrap.dedent(
    """
    import resource, sys
    import anyio, neureus

    MIB = 1 << 20
    FLAVOUR, URL, CAP, WANT = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    MESSAGES = [{"role": "user", "content": "hi"}]

    def outcome(count, exc):
        if exc is None:
            return f"tokens {count}"
        if isinstance(exc, neureus.IncompleteStreamError):
            return f"incomplete {count} {type(exc.__cause__).__name__} {exc.__cause__}"
        return f"refused {count} {type(exc).__name__} {exc}"

    def run_sync():
        count = 0
        with neureus.Neureus(api_key="nru_local_0123456789", base_url=URL, max_response_bytes=CAP,
                             max_retries=0, timeout=60) as client:
            try:
                with client.ai.stream(MESSAGES) as stream:
                    for _ in stream:
                        count += 1
                        if count == WANT:
                            break
            except neureus.NeureusError as exc:
                return outcome(count, exc)
        return outcome(count, None)

    async def run_async():
        count = 0
        async with neureus.AsyncNeureus(api_key="nru_local_0123456789", base_url=URL, max_response_bytes=CAP,
                                        max_retries=0, timeout=60) as client:
            try:
                async with client.ai.stream(MESSAGES) as stream:
                    async for _ in stream:
                        count += 1
                        if count == WANT:
                            break
            except neureus.NeureusError as exc:
                return outcome(count, exc)
        return outcome(count, None)

    def run():
        if FLAVOUR == "sync":
            return run_sync()
        return anyio.run(run_async, backend=FLAVOUR)

    print("warm-up", run())  # every module, pool and decoder loaded before the limit
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 128 * MIB, vm + 128 * MIB))
    print(run())
    """
)

BOMBS = {
    # one event that never ends: 1 GiB of "x" after a first token
    "endless-event": (token("Hel") + b"data: ", b"x" * 4096, "incomplete 1 APIResponseValidationError"),
    # millions of tiny events: 1 GiB of them, read 100k then closed
    "tiny-events": (b"", b'data: {"delta":{"content":"x"},"done":false}\n\n', "tokens 100000"),
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize("flavour", ["sync", "asyncio", "trio"])
@pytest.mark.parametrize("kind", list(BOMBS))
def test_a_gzip_gzip_bomb_stream_keeps_memory_flat(sse_server: SSEServer, kind: str, flavour: str) -> None:
    head, unit, expected = BOMBS[kind]
    bomb = _bomb(head, unit, 1 << 30)
    assert len(bomb) < 64 * 1024  # a few KB on the wire...
    warm = _flushed([token("ok"), done()], ["gzip", "gzip"])
    sse_server.script(
        Script(warm, headers={"content-encoding": "gzip, gzip"}),
        Script([bomb[i : i + 4096] for i in range(0, len(bomb), 4096)], headers={"content-encoding": "gzip, gzip"}),
    )
    cap = 8 * MIB
    result = subprocess.run(
        [sys.executable, "-c", _RUN, flavour, sse_server.url, str(cap), "100000"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    warm_line, line = result.stdout.strip().splitlines()
    assert warm_line == "warm-up tokens 1"
    assert line.startswith(expected), line  # ...that is never held decoded
    if kind == "endless-event":
        assert f"max_response_bytes ({cap} bytes)" in line
