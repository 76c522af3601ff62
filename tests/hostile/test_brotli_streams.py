"""A br stream whose last events share a network read with bad bytes, or with bytes past
the end of the brotli stream, over a real socket: the events before them are delivered,
and a stream that has seen ``done`` ends cleanly, as a gzip stream does
(tests/streams/test_encoded.py). brotli drops all the output of a call that meets bad
bytes; without care, ``done`` was lost with them and the stream failed."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from neureus import APIResponseValidationError, IncompleteStreamError
from tests.conftest import MESSAGES, Api
from tests.streams.conftest import FAIL_SAFE, client_on
from tests.streams.server import Script, SSEServer, done, token

from ..core.test_body import HAS_BROTLI

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.network,
    pytest.mark.skipif(not HAS_BROTLI, reason="brotli >= 1.2 is not installed"),
]

GARBAGE = b"\xff" * 64


@pytest.fixture
def sse_server() -> Iterator[SSEServer]:
    with SSEServer() as server:
        yield server


def _flushed(*events: bytes, end: bool = False) -> list[bytes]:
    """Each event compressed and flushed into its own write, as a streaming server does."""
    import brotli  # type: ignore[import-untyped, unused-ignore]

    compressor = brotli.Compressor()
    parts = [compressor.process(event) + compressor.flush() for event in events]
    if end:
        parts[-1] += compressor.finish()
    return parts


async def _tokens(api: Api, sse_server: SSEServer, parts: list[bytes]) -> list[str]:
    sse_server.script(Script(parts, headers={"content-encoding": "br"}))
    client = client_on(api, sse_server.url)
    with anyio.fail_after(FAIL_SAFE):
        return await api.collect(client.ai.stream(MESSAGES))


@pytest.mark.parametrize("end", [False, True], ids=["flushed", "finished"])
async def test_garbage_in_the_same_read_as_done_changes_nothing(api: Api, sse_server: SSEServer, end: bool) -> None:
    first, last = _flushed(token("Hel"), token("lo") + done(), end=end)
    assert await _tokens(api, sse_server, [first, last + GARBAGE]) == ["Hel", "lo"]


async def test_bytes_after_the_end_of_the_brotli_stream_are_ignored(api: Api, sse_server: SSEServer) -> None:
    # The brotli stream ended with its last event; its connection still sends bytes.
    first, last = _flushed(token("Hel"), token("lo"), end=True)
    with pytest.raises(IncompleteStreamError) as info:
        await _tokens(api, sse_server, [first, last + GARBAGE])
    assert info.value.partial_text == "Hello"
    assert info.value.__cause__ is None  # ended without done, not undecodable


async def test_bad_bytes_before_done_still_fail_after_the_events_before_them(api: Api, sse_server: SSEServer) -> None:
    first, second = _flushed(token("Hel"), token("lo"))
    with pytest.raises(IncompleteStreamError) as info:
        await _tokens(api, sse_server, [first, second + GARBAGE])
    assert info.value.partial_text == "Hello"  # "lo" shared its read with the bad bytes
    cause = info.value.__cause__
    assert isinstance(cause, APIResponseValidationError) and "could not be decoded" in str(cause)
