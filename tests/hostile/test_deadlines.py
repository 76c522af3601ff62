"""The deadline bounds the whole call: trickled headers, slow bodies, decoding, waits."""

from __future__ import annotations

import pytest

from neureus import APITimeoutError, InternalServerError, RateLimitError

from . import server as acts
from .conftest import FAST, KEY, MESSAGES
from .server import HostileServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_trickled_headers_do_not_stretch_the_deadline(api, hostile: HostileServer) -> None:
    # 30 header lines 0.1 s apart: each read is quick, so per-read timeouts never fire;
    # 0.1 waited for all of them with deadline=0.5 (async succeeded, sync failed after 3 s).
    sent: list[int] = []
    hostile.script(acts.trickled_headers(30, 0.1, sent))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, retry_policy=FAST)
    with pytest.raises(APITimeoutError):
        await api.run(client.ai.chat(MESSAGES, deadline=0.5))
    assert acts.wait_for(lambda: sent)
    assert sent[0] < 30  # the client hung up while the headers were still arriving


async def test_trickled_headers_of_a_stream_opening(api, hostile: HostileServer) -> None:
    sent: list[int] = []
    hostile.script(acts.trickled_headers(30, 0.1, sent))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, retry_policy=FAST)
    with pytest.raises(APITimeoutError):
        stream = await api.run(client.ai.chat(MESSAGES, stream=True, deadline=0.5))
        await api.close(stream)
    assert acts.wait_for(lambda: sent)
    assert sent[0] < 30


async def test_a_slow_compressed_body_is_cut_at_the_deadline(api, hostile: HostileServer) -> None:
    # gzip pieces that each decode to 64 KiB, 20 per second, forever (under the size cap
    # for the whole call): only the deadline can stop it.
    hostile.script(acts.endless(b" " * 65536, pause=0.05, encodings=["gzip"]))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=0, max_response_bytes=1 << 30)
    with pytest.raises(APITimeoutError):
        await api.run(client.ai.chat(MESSAGES, deadline=0.5))


async def test_a_long_retry_after_raises_the_real_error_at_once(api, hostile: HostileServer) -> None:
    # 0.1 replaced this by APITimeoutError("The deadline of 5 s was spent") and lost retry_after.
    hostile.script(acts.ok(b'{"error": "slow down"}', 429, {"retry-after": "30"}))
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=FAST)
    with pytest.raises(RateLimitError) as caught:
        await api.run(client.ai.chat(MESSAGES, deadline=5))
    assert caught.value.retry_after == 30
    assert len(hostile.requests) == 1


async def test_a_backoff_that_cannot_fit_raises_the_last_status_error(api, hostile: HostileServer) -> None:
    from neureus import RetryPolicy

    hostile.script(acts.ok(b'{"error": "down"}', 503))
    slow = RetryPolicy(initial_wait=50, max_wait=50)
    client = api.real_client(api_key=KEY, base_url=hostile.url, max_retries=2, retry_policy=slow)
    with pytest.raises(InternalServerError) as caught:
        await api.run(client.ai.chat(MESSAGES, deadline=5))
    assert caught.value.status_code == 503
    assert len(hostile.requests) == 1
