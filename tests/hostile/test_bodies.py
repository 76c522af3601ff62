"""Bodies the SDK must refuse or cut, on paths the other hostile tests do not reach: a
content-coding nobody knows, an in-memory body over the cap, a compressed stream that
ends without its last blank line, a compressed flood of keep-alive comments that only
the deadline can stop, and a call on a pool its owner closed."""

from __future__ import annotations

import zlib

import httpx
import pytest

from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncNeureus,
    IncompleteStreamError,
    Neureus,
)
from neureus.testing import FakeGateway

from . import server as acts
from .conftest import KEY, MESSAGES
from .server import Conn, HostileServer, Request

pytestmark = [pytest.mark.anyio, pytest.mark.network]


def sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


TOKEN = sse(b'{"delta": {"content": "Hel"}, "done": false}')
DONE = b'data: {"done": true, "logId": "log_eof", "inputTokens": 1, "outputTokens": 1}\n'  # no blank line


@pytest.mark.parametrize("status", [200, 500])
async def test_an_unknown_content_coding_is_refused_unread(api, hostile: HostileServer, status: int) -> None:
    hostile.script(acts.ok(b"\x00\x01 not json", status, {"content-encoding": "x-made-up"}), acts.ok())
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2)
    with pytest.raises(APIResponseValidationError, match=r"could not be decoded.*x-made-up") as caught:
        await api.run(client.ai.chat(MESSAGES))
    assert caught.value.status_code == status
    assert len(hostile.requests) == 1  # not a transient fault: never retried
    assert (await api.run(client.ai.chat(MESSAGES))).text == "ok"  # and the client still works


async def test_an_in_memory_body_over_the_cap_is_refused(api) -> None:
    # A transport that hands the body over already read (FakeGateway's) is capped too.
    gateway = FakeGateway()
    gateway.queue_reply("x" * 4096)
    gateway.queue_reply("small")
    client = (gateway.async_client if api.is_async else gateway.client)(max_response_bytes=1024)
    try:
        with pytest.raises(APIResponseValidationError, match="max_response_bytes=1024"):
            await api.run(client.ai.chat(MESSAGES))
        assert (await api.run(client.ai.chat(MESSAGES))).text == "small"
    finally:
        await api.close(client)


def _gzip_stream(conn: Conn, request: Request) -> bool:
    body = zlib.compress(TOKEN + DONE, 9, wbits=31)
    headers = {"content-type": "text/event-stream", "content-encoding": "gzip"}
    conn.respond(200, body, headers)
    return False


async def test_a_compressed_stream_ending_without_its_blank_line_still_ends_at_done(
    api, hostile: HostileServer
) -> None:
    # The done event's blank line never comes: the end of the (compressed) body completes it.
    hostile.script(_gzip_stream)
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0)
    stream = client.ai.stream(MESSAGES)
    assert await api.collect(stream) == ["Hel"]
    assert stream.done and stream.log_id == "log_eof"


def _comment_flood(conn: Conn, request: Request) -> bool:
    """A token, then gzip units that each decode to 1 MiB of ``:\\n`` comment lines, 2 GiB
    in all: a few KiB on the wire for an endless decoding job that completes no event."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(TOKEN) + compressor.flush(zlib.Z_SYNC_FLUSH)
    unit = compressor.compress(b":\n" * (1 << 19)) + compressor.flush(zlib.Z_FULL_FLUSH)
    headers = {"content-type": "text/event-stream", "content-encoding": "gzip", "transfer-encoding": "chunked"}
    if not conn.send(conn.head(200, headers) + b"%x\r\n%s\r\n" % (len(first), first)):
        return False
    chunk = b"%x\r\n%s\r\n" % (len(unit) * 64, unit * 64)
    for _ in range(32):  # 32 x 64 MiB decoded; the client gives up long before
        if not conn.send(chunk):
            return False
    return False


async def test_a_compressed_flood_of_comments_ends_at_the_deadline(api, hostile: HostileServer) -> None:
    hostile.script(_comment_flood)
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, deadline=0.5)
    stream = client.ai.stream(MESSAGES)
    with pytest.raises(IncompleteStreamError, match="deadline") as caught:
        await api.collect(stream)
    assert caught.value.partial_text == "Hel"
    assert isinstance(caught.value.__cause__, APITimeoutError)


async def test_a_call_on_a_pool_its_owner_closed_says_so(api, hostile: HostileServer) -> None:
    if api.is_async:
        owned: httpx.Client | httpx.AsyncClient = httpx.AsyncClient()
        client: Neureus | AsyncNeureus = AsyncNeureus(api_key=KEY, base_url=hostile.url, http_client=owned)
        await owned.aclose()
    else:
        owned = httpx.Client()
        client = Neureus(api_key=KEY, base_url=hostile.url, http_client=owned)
        owned.close()
    with pytest.raises(APIConnectionError, match="client is closed"):
        await api.run(client.ai.chat(MESSAGES))
    assert hostile.requests == []
    await api.close(client)
