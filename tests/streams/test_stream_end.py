"""API.md "Streams end at done", against a raw-socket server that misbehaves after it.

Sync, asyncio and trio. The server holds every connection open for ``HOLD`` seconds after
its script, pinging; ``closed_early`` records that the client hung up while it was still
holding, that is, that iteration ended at ``done`` and released the connection at once.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from neureus import APITimeoutError, AsyncChatStream, IncompleteStreamError, StreamError
from tests.conftest import MESSAGES, Api

from .conftest import FAIL_SAFE, READ_TIMEOUT, client_on
from .server import Script, SSEServer, data, done, token

pytestmark = pytest.mark.anyio

HOLD = READ_TIMEOUT / 4  # held open longer than the fail-safe would allow, shorter than a read timeout


async def collect(api: Api, stream: Any) -> list[str]:
    with anyio.fail_after(FAIL_SAFE):
        return await api.collect(stream)


async def events(api: Api, stream: Any) -> list[Any]:
    with anyio.fail_after(FAIL_SAFE):
        if isinstance(stream, AsyncChatStream):
            return [event async for event in stream.events()]
        return list(stream.events())


AFTER_DONE = {
    "held-open": b"",
    "pings": b": ping\n\n" * 3,
    "more-tokens": token("MORE") + token("AGAIN"),
    "second-done": done("log_second", output_tokens=99),
    "garbage": b"data: {not json\n\n\x00\xff garbage \r\n\r\n",
    "error-event": data({"error": {"message": "late failure", "type": "upstream"}}, "error"),
    "error-member": data({"error": "late failure"}),
    "502-page": b"<html><body><h1>502 Bad Gateway</h1></body></html>\r\n\r\n",
}


@pytest.mark.parametrize("after", list(AFTER_DONE), ids=list(AFTER_DONE))
async def test_iteration_ends_at_the_first_done(api: Api, sse_server: SSEServer, after: str) -> None:
    script = Script([token("Hel"), token("lo"), done()] + ([AFTER_DONE[after]] if AFTER_DONE[after] else []), hold=HOLD)
    sse_server.script(script)
    stream = client_on(api, sse_server.url).ai.stream(MESSAGES)
    assert await collect(api, stream) == ["Hel", "lo"]
    assert stream.text == "Hello" and stream.done
    assert (stream.log_id, stream.output_tokens) == ("log_first", 2)
    # The client hung up while the server was still holding the connection open.
    assert script.finished.wait(FAIL_SAFE) and script.closed_early


@pytest.mark.parametrize("after", ["more-tokens", "second-done", "error-event"])
async def test_events_end_at_the_first_done_too(api: Api, sse_server: SSEServer, after: str) -> None:
    script = Script([token("Hel"), done(), AFTER_DONE[after]], hold=HOLD)
    sse_server.script(script)
    stream = await api.run(client_on(api, sse_server.url).ai.stream(MESSAGES))
    seen = await events(api, stream)
    assert [e.data for e in seen][-1].startswith('{"done": true, "logId": "log_first"')
    assert len(seen) == 2 and stream.text == "Hel" and stream.log_id == "log_first"
    assert script.finished.wait(FAIL_SAFE) and script.closed_early


async def test_data_done_marker_ends_iteration(api: Api, sse_server: SSEServer) -> None:
    script = Script([token("a"), b"data: [DONE]\n\n", token("b")], hold=HOLD)
    sse_server.script(script)
    stream = client_on(api, sse_server.url).ai.stream(MESSAGES)
    assert await collect(api, stream) == ["a"]
    assert stream.done and script.finished.wait(FAIL_SAFE) and script.closed_early


async def test_a_done_event_with_a_token_delivers_it(api: Api, sse_server: SSEServer) -> None:
    script = Script([token("a"), data({"delta": {"content": "b"}, "done": True, "logId": "l"})], hold=HOLD)
    sse_server.script(script)
    stream = client_on(api, sse_server.url).ai.stream(MESSAGES)
    assert await collect(api, stream) == ["a", "b"]
    assert stream.log_id == "l" and script.finished.wait(FAIL_SAFE) and script.closed_early


async def test_heartbeat_events_with_non_json_data_are_skipped_but_shown(api: Api, sse_server: SSEServer) -> None:
    parts: list[bytes | float] = [
        token("a"),
        b"event: heartbeat\ndata: ping at 12:00, not JSON\n\n",
        b'event: usage\ndata: {"done": true}\n\n',  # an unknown type never ends the stream
        token("b"),
        done(),
    ]
    sse_server.script(Script(parts), Script(parts))
    client = client_on(api, sse_server.url)
    stream = client.ai.stream(MESSAGES)
    assert await collect(api, stream) == ["a", "b"] and stream.done
    shown = await events(api, await api.run(client.ai.stream(MESSAGES)))
    assert [e.event for e in shown] == ["message", "heartbeat", "usage", "message", "message"]
    assert shown[1].data == "ping at 12:00, not JSON"


async def test_an_error_before_done_still_raises(api: Api, sse_server: SSEServer) -> None:
    sse_server.script(Script([token("a"), data({"error": {"message": "overloaded"}}, "error"), done()]))
    with pytest.raises(StreamError, match="overloaded"):
        await collect(api, client_on(api, sse_server.url).ai.stream(MESSAGES))


@pytest.mark.parametrize(
    "content_type",
    ["Text/Event-Stream; charset=utf-8", "TEXT/EVENT-STREAM", "text/event-stream ; charset=UTF-8"],
)
async def test_content_type_is_compared_case_insensitively(api: Api, sse_server: SSEServer, content_type: str) -> None:
    sse_server.script(Script([token("a"), done()], content_type=content_type))
    assert await collect(api, client_on(api, sse_server.url).ai.stream(MESSAGES)) == ["a"]


async def test_other_content_types_are_still_refused(api: Api, sse_server: SSEServer) -> None:
    from neureus import APIResponseValidationError

    sse_server.script(Script([token("a"), done()], content_type="text/event-streamx"))
    with pytest.raises(APIResponseValidationError, match="text/event-stream"):
        await collect(api, client_on(api, sse_server.url).ai.stream(MESSAGES))


# -- the deadline bounds the stream up to done ---------------------------------------------

ENDLESS = {
    "comments": b": keep-alive\n",
    "empty-deltas": token(""),
    "heartbeats": b"event: heartbeat\ndata: x\n\n",
}


@pytest.mark.parametrize("kind", list(ENDLESS), ids=list(ENDLESS))
async def test_endless_keep_alives_end_at_the_deadline(api: Api, sse_server: SSEServer, kind: str) -> None:
    script = Script([token("Hel")], hold=HOLD, hold_bytes=ENDLESS[kind], hold_every=0.02)
    sse_server.script(script)
    client = client_on(api, sse_server.url, deadline=0.5)
    with pytest.raises(IncompleteStreamError, match="deadline") as info:
        await collect(api, client.ai.stream(MESSAGES))
    assert info.value.partial_text == "Hel"
    assert isinstance(info.value.__cause__, APITimeoutError)
    assert script.finished.wait(FAIL_SAFE) and script.closed_early
    assert script.hold_writes > 0  # keep-alives did arrive: only the deadline could stop it


async def test_a_stall_past_the_deadline_is_incomplete(api: Api, sse_server: SSEServer) -> None:
    script = Script([token("Hel"), threading.Event(), token("lo"), done()])  # "lo" is never sent
    sse_server.script(script)
    with pytest.raises(IncompleteStreamError) as info:
        await collect(api, client_on(api, sse_server.url, deadline=0.5).ai.stream(MESSAGES))
    assert info.value.partial_text == "Hel" and isinstance(info.value.__cause__, APITimeoutError)
    assert script.finished.wait(FAIL_SAFE) and script.closed_early  # "lo" was never waited for


async def test_the_deadline_never_cuts_a_healthy_stream_short(api: Api, sse_server: SSEServer) -> None:
    # Pauses add up to more than half the deadline; each read still gets all that is left.
    sse_server.script(Script([token("a"), 0.5, token("b"), 0.5, token("c"), done(output_tokens=3)]))
    stream = client_on(api, sse_server.url, deadline=2.5).ai.stream(MESSAGES)
    assert await collect(api, stream) == ["a", "b", "c"] and stream.output_tokens == 3


async def test_a_per_call_deadline_bounds_the_stream_too(api: Api, sse_server: SSEServer) -> None:
    script = Script([token("a")], hold=HOLD, hold_bytes=b": ping\n", hold_every=0.02)
    sse_server.script(script)
    with pytest.raises(IncompleteStreamError, match="deadline"):
        await collect(api, client_on(api, sse_server.url).ai.stream(MESSAGES, deadline=0.4))
    assert script.finished.wait(FAIL_SAFE) and script.closed_early


# -- WHATWG fields through a real stream -----------------------------------------------------


async def test_unicode_digits_in_retry_are_ignored_and_ids_persist(api: Api, sse_server: SSEServer) -> None:
    parts: list[bytes | float] = [
        "retry: ²\n".encode() + token("a"),
        "retry: ٣٠٠\nid: 7\n\n".encode(),  # an id in a block without data is kept
        token("b"),
        b"retry: 1500\n" + token("c"),
        b"id: 8\x009\n" + done(output_tokens=3),  # an id with NUL is ignored
    ]
    sse_server.script(Script(parts), Script(parts))
    client = client_on(api, sse_server.url)
    assert await collect(api, client.ai.stream(MESSAGES)) == ["a", "b", "c"]
    shown = await events(api, await api.run(client.ai.stream(MESSAGES)))
    assert [(e.id, e.retry) for e in shown] == [("", None), ("7", None), ("7", 1500), ("7", None)]


async def test_a_last_event_without_its_blank_line_is_delivered_then_the_end(api: Api) -> None:
    """A body that ends after its last event's lines but before the blank line that would
    end the event: that event is dispatched at the body's end and delivered, and the pull
    after it answers the end (nothing more to read): the stream is incomplete, both tokens in."""
    import httpx

    body = token("a") + b'data: {"delta": {"content": "b"}, "done": false}\n'

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    owned = (httpx.AsyncClient if api.is_async else httpx.Client)(transport=httpx.MockTransport(handle))
    client = client_on(api, "https://gw.test", http_client=owned)
    stream = await api.run(client.ai.stream(MESSAGES))
    got: list[str] = []
    with pytest.raises(IncompleteStreamError) as info:
        with anyio.fail_after(FAIL_SAFE):
            if api.is_async:
                async for piece in stream:
                    got.append(piece)
            else:
                got.extend(stream)
    assert got == ["a", "b"] and info.value.partial_text == "ab"
    await api.close(owned)
