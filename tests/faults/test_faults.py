"""Every SDK call through every applicable network and server fault, sync and async.

The matrix is ``OPERATIONS x FAULTS x {sync, asyncio, trio}``. For each case a real
client talks to :class:`tests.faults.server.FaultServer` over loopback, and the test
checks, in this order:

1. the outcome: success after the expected retries, or exactly the documented error type
   (never a raw httpx exception);
2. how many requests reached the server (a stream is never retried after its first event);
3. for streams, the tokens delivered against the tokens the server wrote: nothing lost,
   nothing duplicated, ``partial_text`` equal to what was delivered;
4. the time spent, within what the (tiny) retry policy and the deadline allow;
5. no connection leaked: every pooled connection idle or closed, no request waiting for
   one, and once the client is closed, no connection left open on the server.

Each case adds a row to the summary table printed at the end of the session.
"""

from __future__ import annotations

import dataclasses
import email.utils
import gc
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import neureus
from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    IncompleteStreamError,
    InternalServerError,
    NeureusError,
    RateLimitError,
    RetryPolicy,
    StreamError,
    UnprocessableEntityError,
)

from .conftest import CaseRecord
from .server import (
    Chunked,
    FaultServer,
    Raw,
    Redirect,
    Reply,
    Reset,
    ResetMidBody,
    Respond,
    Stream,
    default_body,
    sse_event,
)

pytestmark = [pytest.mark.anyio, pytest.mark.network]

MESSAGES = [{"role": "user", "content": "Hello"}]
API_KEY = "nru_live_FAULTSUITEkey0123456789abcdef"
BYOK_KEY = "sk-proj-FAULTSUITEbyok0123456789abcdef"
WIDGET_KEY = "pk_live_FAULTSUITEwidget0123456789"
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.004)
NEVER = 30.0
"""A server delay that outlasts every timeout and deadline here: the server never answers in
time, so a short timeout fires whatever the machine's load (the server's handler gives up as
soon as the client hangs up, so nothing waits this long)."""

# Retry-After as an HTTP date: the policy's wall clock is pinned 30 ms before that date,
# so the wait is 30 ms of real time (an HTTP date has whole-second resolution).
_DATE_EPOCH = int(time.time()) + 100
RETRY_DATE = email.utils.formatdate(_DATE_EPOCH, usegmt=True)
DATE_POLICY = RetryPolicy(initial_wait=0.001, max_wait=0.004, wallclock=lambda: _DATE_EPOCH - 0.03)

HTML_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclasses.dataclass(frozen=True)
class Operation:
    name: str
    path: str
    call: Callable[[Any], Any]
    stream: bool = False


OPERATIONS = {
    op.name: op
    for op in [
        Operation("chat", "/ai/chat", lambda c: c.ai.chat(MESSAGES)),
        Operation("stream", "/ai/chat", lambda c: c.ai.stream(MESSAGES), stream=True),
        Operation("embeddings", "/ai/embeddings", lambda c: c.ai.embeddings(["a"])),
        Operation("list_models", "/ai/models", lambda c: c.ai.list_models()),
        Operation("list_providers", "/ai/providers", lambda c: c.ai.list_providers()),
        Operation("set_provider_key", "/ai/providers/openai/key", lambda c: c.ai.set_provider_key("openai", BYOK_KEY)),
        Operation(
            "rotate_provider_key",
            "/ai/providers/openai/rotate",
            lambda c: c.ai.rotate_provider_key("openai", BYOK_KEY),
        ),
        Operation("delete_provider_key", "/ai/providers/openai/key", lambda c: c.ai.delete_provider_key("openai")),
        Operation("create_widget_key", "/ai/widget/key", lambda c: c.ai.create_widget_key()),
        Operation("revoke_widget_key", "/ai/widget/key", lambda c: c.ai.revoke_widget_key(WIDGET_KEY)),
    ]
}


@dataclasses.dataclass
class Context:
    server: FaultServer
    other: FaultServer
    op: Operation
    delivered: list[str]
    result: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    replies: Callable[[Context], list[Reply]]
    error: type[NeureusError] | None = None  # None: the call succeeds
    attempts: int | None = 1  # requests the server must see (None: not checked)
    applies: str = "all"  # "all", "calls" (not streaming) or "stream"
    client: dict[str, Any] = dataclasses.field(default_factory=dict)
    min_elapsed: float = 0.0
    max_elapsed: float = 3.0
    check: Callable[[Context], None] | None = None
    expected_tokens: tuple[str, ...] | None = None  # streams: what must arrive (default: what the server wrote)
    prefix_ok: bool = False  # a reset may drop bytes already in flight: a prefix is enough
    cause: type[BaseException] | None = None  # IncompleteStreamError.__cause__
    or_error: tuple[type[NeureusError], ...] = ()  # also acceptable (a race both ways is correct)

    def __repr__(self) -> str:
        return self.name


def _retry_after(expected: float, tolerance: float = 0.0) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        assert isinstance(ctx.error, RateLimitError)
        assert ctx.error.retry_after is not None
        assert abs(ctx.error.retry_after - expected) <= tolerance, ctx.error.retry_after

    return check


def _status(code: int, *fragments: str, request_id: str | None = None) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        assert isinstance(ctx.error, APIStatusError)
        assert ctx.error.status_code == code
        if request_id is not None:
            assert ctx.error.request_id == request_id
            assert request_id in str(ctx.error)
        text = str(ctx.error)
        for fragment in fragments:
            assert fragment in text, text
        assert "<" not in text, f"HTML tags leaked into the message: {text}"

    return check


def _redirect_not_followed(ctx: Context) -> None:
    assert isinstance(ctx.error, APIStatusError)
    assert ctx.error.status_code == 307
    assert ctx.other.requests == [], "the redirect was followed to another host"


def _short_message(ctx: Context) -> None:
    assert ctx.error is not None
    assert len(str(ctx.error)) < 2_000, "the error quotes the whole oversized body"


def _burst(code: int) -> Callable[[Context], list[Reply]]:
    return lambda ctx: [Respond(code)] * 2


_EV = sse_event
_DONE = sse_event({"done": True, "logId": "log_c", "inputTokens": 1, "outputTokens": 1})
_HUGE = "x" * (1024 * 1024)
_TRICKLE = (
    "data: " + json.dumps({"delta": {"content": "é"}}, ensure_ascii=False) + "\r\n\r\n"
    ": keep-alive\r\n\r\n"
    "data: " + json.dumps({"delta": {"content": "🙂"}}, ensure_ascii=False) + "\r\n\r\n"
    "data: " + json.dumps({"delta": {"content": " ok"}}) + "\r\n\r\n"
    "data: " + json.dumps({"done": True}) + "\r\n\r\n"
).encode()

FAULTS: list[Fault] = [
    # -- the connection --------------------------------------------------------------------
    Fault("reset_before_answer_once", lambda c: [Reset()], attempts=2),
    Fault("reset_before_answer_always", lambda c: [Reset()] * 3, APIConnectionError, attempts=3),
    Fault("closed_before_answer_once", lambda c: [Raw(b"")], attempts=2),
    Fault("reset_mid_body_once", lambda c: [ResetMidBody()], attempts=2, applies="calls"),
    Fault(
        "truncated_body_then_close_once",
        lambda c: [Raw(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"te')],
        attempts=2,
        applies="calls",
    ),
    Fault("reset_mid_body_always", lambda c: [ResetMidBody()] * 3, APIConnectionError, attempts=3, applies="calls"),
    # -- 5xx bursts ------------------------------------------------------------------------
    *[Fault(f"http_{code}_burst_then_ok", _burst(code), attempts=3) for code in (500, 502, 503, 504)],
    Fault("http_408_burst_then_ok", _burst(408), attempts=3),
    Fault("http_409_burst_then_ok", _burst(409), attempts=3),
    Fault(
        "http_503_backoff_waited",
        _burst(503),
        attempts=3,
        # jitter 1.0: the waits are exactly 0.02 s then 0.04 s
        client={"retry_policy": RetryPolicy(initial_wait=0.02, max_wait=0.04, jitter=lambda: 1.0)},
        min_elapsed=0.06,
    ),
    Fault(
        "http_422_never_retried",
        lambda c: [Respond(422, b'{"error": {"message": "bad input"}}')],
        UnprocessableEntityError,
        check=_status(422, "bad input"),
    ),
    Fault(
        "http_503_exhausted",
        lambda c: [Respond(503, headers={"x-request-id": "req_503", "cf-ray": "ray-ignored"})] * 3,
        InternalServerError,
        attempts=3,
        check=_status(503, "503", request_id="req_503"),
    ),
    Fault(
        "html_error_page_502",
        lambda c: [Respond(502, HTML_PAGE, headers={"cf-ray": "8a1b2c3d4e5f-AMS"}, content_type="text/html")] * 3,
        InternalServerError,
        attempts=3,
        check=_status(502, "502 Bad Gateway", request_id="8a1b2c3d4e5f-AMS"),
    ),
    # -- 429 and Retry-After ---------------------------------------------------------------
    Fault("429_retry_after_seconds", lambda c: [Respond(429, headers={"retry-after": "0"})], attempts=2),
    Fault(
        "429_retry_after_http_date",
        lambda c: [Respond(429, headers={"retry-after": RETRY_DATE})],
        attempts=2,
        client={"retry_policy": DATE_POLICY},
        min_elapsed=0.025,
    ),
    Fault(
        "429_retry_after_ms", lambda c: [Respond(429, headers={"retry-after-ms": "30"})], attempts=2, min_elapsed=0.03
    ),
    Fault(
        "429_retry_after_too_long",
        lambda c: [Respond(429, headers={"retry-after": "120"})],
        RateLimitError,
        attempts=1,
        max_elapsed=1.0,
        check=_retry_after(120.0),
    ),
    Fault(
        "429_http_date_too_long",
        lambda c: [Respond(429, headers={"retry-after": email.utils.formatdate(time.time() + 3600, usegmt=True)})],
        RateLimitError,
        attempts=1,
        max_elapsed=1.0,
        check=_retry_after(3600.0, tolerance=5.0),
    ),
    Fault(
        "429_ms_too_long",
        lambda c: [Respond(429, headers={"retry-after-ms": "120000"})],
        RateLimitError,
        attempts=1,
        max_elapsed=1.0,
        check=_retry_after(120.0),
    ),
    Fault(
        "429_exhausted",
        lambda c: [Respond(429, headers={"retry-after-ms": "5"})] * 3,
        RateLimitError,
        attempts=3,
        min_elapsed=0.01,
        check=_retry_after(0.005, tolerance=1e-9),
    ),
    # -- slow answers ----------------------------------------------------------------------
    Fault("slow_headers_then_ok", lambda c: [Respond(headers_delay=NEVER)], attempts=2, client={"timeout": 0.2}),
    Fault(
        "slow_headers_always",
        lambda c: [Respond(headers_delay=NEVER)] * 2,
        APITimeoutError,
        attempts=2,
        client={"timeout": 0.1, "max_retries": 1},
        min_elapsed=0.18,
        max_elapsed=2.0,
    ),
    Fault("body_trickle_within_timeout", lambda c: [Respond(trickle=(16, 0.01))], applies="calls"),
    Fault(
        "body_stalls_past_timeout",
        lambda c: [Respond(trickle=(16, NEVER))],
        attempts=2,
        applies="calls",
        client={"timeout": 0.2},
    ),
    Fault(
        "deadline_slow_headers",
        lambda c: [Respond(headers_delay=NEVER)],
        APITimeoutError,
        attempts=1,
        client={"deadline": 0.2},
        min_elapsed=0.15,
        max_elapsed=1.5,
    ),
    Fault(
        "deadline_503_loop",
        lambda c: [Respond(503)] * 60,
        InternalServerError,  # the last real error once the next wait cannot fit (0.2),
        # or a timeout when the deadline ran out during the last attempt's I/O
        or_error=(APITimeoutError,),
        attempts=None,
        client={
            "deadline": 0.25,
            "max_retries": 50,
            "retry_policy": RetryPolicy(initial_wait=0.02, max_wait=0.04),
        },
        min_elapsed=0.1,
        max_elapsed=1.5,
    ),
    # -- bodies that are not what was promised ---------------------------------------------
    Fault("malformed_json", lambda c: [Respond(body=b'{"text": "hel')], APIResponseValidationError, applies="calls"),
    Fault(
        "html_page_200",
        lambda c: [Respond(200, HTML_PAGE, content_type="text/html")],
        APIResponseValidationError,
    ),
    Fault(
        "invalid_utf8_body",
        lambda c: [Respond(body=b'{"text": "\xff\xfe\xfd"}')],
        APIResponseValidationError,
        applies="calls",
    ),
    Fault(
        "huge_body",
        lambda c: [Respond(body=b"x" * (2 * 1024 * 1024))],
        APIResponseValidationError,
        applies="calls",
        check=_short_message,
    ),
    Fault(
        "redirect_to_other_host",
        lambda c: [Redirect(c.other.url + c.op.path)],
        APIStatusError,
        check=_redirect_not_followed,
    ),
    # -- streams ---------------------------------------------------------------------------
    Fault("reset_before_first_event_once", lambda c: [Stream(reset_after=0)], attempts=2, applies="stream"),
    Fault("empty_stream_body_once", lambda c: [Chunked([])], attempts=2, applies="stream"),
    Fault(
        "empty_stream_body_always",
        lambda c: [Chunked([])] * 3,
        APIConnectionError,
        attempts=3,
        applies="stream",
    ),
    Fault(
        "stall_before_first_event_once",
        lambda c: [Stream(first_delay=NEVER)],
        attempts=2,
        applies="stream",
        client={"timeout": 0.2},
    ),
    Fault(
        "reset_mid_stream",
        lambda c: [Stream(reset_after=3)],
        IncompleteStreamError,
        applies="stream",
        prefix_ok=True,
        cause=APIConnectionError,
    ),
    Fault(
        "reset_after_first_event",
        lambda c: [Stream(reset_after=1)],
        IncompleteStreamError,
        applies="stream",
        prefix_ok=True,
        cause=APIConnectionError,
    ),
    Fault(
        "broken_chunked_mid_stream",
        lambda c: [Stream(break_after=3)],
        IncompleteStreamError,
        applies="stream",
        cause=APIConnectionError,
    ),
    Fault("truncated_sse_clean_end", lambda c: [Stream(cut_after=3)], IncompleteStreamError, applies="stream"),
    Fault(
        "truncated_sse_mid_line",
        lambda c: [Chunked([_EV({"delta": {"content": "Hi"}}), b'data: {"delta": {"content": " cut'])],
        IncompleteStreamError,
        applies="stream",
        expected_tokens=("Hi",),
    ),
    Fault(
        "stream_trickled_byte_by_byte",
        lambda c: [Chunked([bytes([b]) for b in _TRICKLE], pause=0.002)],
        applies="stream",
        expected_tokens=("é", "🙂", " ok"),
    ),
    Fault("stall_between_events_within_timeout", lambda c: [Stream(stall_after=2, stall=0.05)], applies="stream"),
    Fault(
        "stall_between_events_past_timeout",
        lambda c: [Stream(stall_after=2, stall=NEVER)],
        IncompleteStreamError,
        applies="stream",
        client={"timeout": 0.2},
        cause=APITimeoutError,
        max_elapsed=2.0,
    ),
    Fault(
        "deadline_stall_mid_stream",
        lambda c: [Stream(stall_after=2, stall=NEVER)],
        IncompleteStreamError,
        applies="stream",
        client={"deadline": 0.3},
        cause=APITimeoutError,
        max_elapsed=1.5,
    ),
    Fault("error_event_mid_stream", lambda c: [Stream(error_after=2)], StreamError, applies="stream"),
    Fault(
        "malformed_json_event",
        lambda c: [Chunked([b"data: {not json\n\n", _DONE])],
        APIResponseValidationError,
        applies="stream",
        expected_tokens=(),
    ),
    Fault(
        "invalid_utf8_event",
        lambda c: [Chunked([b'data: {"delta": {"content": "a\xffb"}}\n\n', _DONE])],
        applies="stream",
        expected_tokens=("a\ufffdb",),
    ),
    Fault(
        "huge_event",
        lambda c: [Chunked([_EV({"delta": {"content": _HUGE}}), _EV({"delta": {"content": "!"}}), _DONE])],
        applies="stream",
        expected_tokens=(_HUGE, "!"),
    ),
]


def _applies(fault: Fault, op: Operation) -> bool:
    return fault.applies == "all" or (fault.applies == "stream") == op.stream


MATRIX = [
    pytest.param(op.name, fault, id=f"{op.name}-{fault.name}")
    for op in OPERATIONS.values()
    for fault in FAULTS
    if _applies(fault, op)
]


async def perform(api: Any, client: Any, op: Operation, delivered: list[str]) -> Any:
    """Run one call; for a stream, collect every token delivered (even if it then fails)."""
    if not op.stream:
        return await api.run(op.call(client))
    stream = op.call(client)
    if api.is_async:
        async with stream:
            async for token in stream:
                delivered.append(token)
    else:
        with stream:
            for token in stream:
                delivered.append(token)
    return stream


def pool_in_use(client: Any) -> int:
    """Connections of the client's pool that are neither idle nor closed, plus waiting requests."""
    pool = client._http._transport._pool
    busy = [conn for conn in pool.connections if not (conn.is_idle() or conn.is_closed())]
    return len(busy) + len(pool._requests)


def compare_tokens(sent: list[str] | tuple[str, ...], delivered: list[str], prefix_ok: bool) -> tuple[int, int]:
    """(lost, duplicated): tokens written but not delivered, tokens delivered beyond or unlike those written."""
    common = 0
    for a, b in zip(sent, delivered, strict=False):
        if a != b:
            break
        common += 1
    duplicated = len(delivered) - common
    lost = 0 if prefix_ok else len(sent) - common
    return lost, duplicated


def new_client(api: Any, server: FaultServer, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": server.url,
        "retry_policy": FAST,
        "max_retries": 2,
        "timeout": 5.0,
    }
    settings.update(options)
    return api.real_client(**settings)


# create_widget_key and rotate_provider_key must not run twice: once the request may have
# reached the server, the first failure is surfaced (only a 429/503 or a connection never
# made is retried). For these faults, that failure and one request.
NON_IDEMPOTENT = {"create_widget_key", "rotate_provider_key"}
ONCE_SENT: dict[str, type[NeureusError]] = {
    "reset_before_answer_once": APIConnectionError,
    "reset_before_answer_always": APIConnectionError,
    "closed_before_answer_once": APIConnectionError,
    "reset_mid_body_once": APIConnectionError,
    "truncated_body_then_close_once": APIConnectionError,
    "reset_mid_body_always": APIConnectionError,
    "http_500_burst_then_ok": InternalServerError,
    "http_502_burst_then_ok": InternalServerError,
    "http_504_burst_then_ok": InternalServerError,
    "http_408_burst_then_ok": APIStatusError,
    "http_409_burst_then_ok": ConflictError,
    "html_error_page_502": InternalServerError,
    "slow_headers_then_ok": APITimeoutError,
    "slow_headers_always": APITimeoutError,
    "body_stalls_past_timeout": APITimeoutError,
}


def _for_operation(case: Fault, op: str) -> Fault:
    if op not in NON_IDEMPOTENT or case.name not in ONCE_SENT:
        return case
    first = case.replies
    return dataclasses.replace(
        case, replies=lambda c: first(c)[:1], error=ONCE_SENT[case.name], attempts=1, min_elapsed=0.0
    )


@pytest.mark.parametrize(("op", "case"), MATRIX)
async def test_fault(
    api: Any,
    fault_server: FaultServer,
    other_server: FaultServer,
    ledger_case: CaseRecord,
    op: str,
    case: Fault,
) -> None:
    operation = OPERATIONS[op]
    case = _for_operation(case, op)
    other_server.reset_records()
    ctx = Context(fault_server, other_server, operation, [])
    fault_server.script(*case.replies(ctx), path=operation.path)
    client = new_client(api, fault_server, **case.client)

    start = time.monotonic()
    try:
        ctx.result = await perform(api, client, operation, ctx.delivered)
    except NeureusError as exc:
        ctx.error = exc
    ctx.elapsed = time.monotonic() - start

    # 3. streams: tokens against what the server wrote (count first, so the table shows it)
    if operation.stream:
        if case.expected_tokens is not None:
            sent: Any = case.expected_tokens
        elif fault_server.streams:
            sent = fault_server.streams[-1]
        else:
            sent = []
        if ctx.error is not None and not isinstance(ctx.error, (IncompleteStreamError, StreamError)):
            sent = [] if case.expected_tokens is None else sent
        lost, duplicated = compare_tokens(sent, ctx.delivered, case.prefix_ok)
        ledger_case.row.lost, ledger_case.row.duplicated = lost, duplicated
        assert (lost, duplicated) == (0, 0), f"sent {sent!r}, delivered {ctx.delivered!r}"
        if isinstance(ctx.error, IncompleteStreamError):
            assert ctx.error.partial_text == "".join(ctx.delivered)
        if ctx.error is None:
            assert ctx.result.done and ctx.result.text == "".join(ctx.delivered)

    # 1. the outcome
    if case.error is None:
        assert ctx.error is None, f"expected success, got {ctx.error!r}"
    else:
        assert ctx.error is not None, f"expected {case.error.__name__}, the call succeeded"
        allowed = (case.error, *case.or_error)
        assert type(ctx.error) in allowed, f"expected {case.error.__name__}, got {ctx.error!r}"
        if isinstance(ctx.error, IncompleteStreamError):
            if case.cause is None:
                assert ctx.error.__cause__ is None
            else:
                assert type(ctx.error.__cause__) is case.cause, repr(ctx.error.__cause__)
    if case.check is not None:
        case.check(ctx)

    # 2. requests that reached the server (a stream is never retried after its first event)
    if case.attempts is not None:
        made = fault_server.wait_requests(operation.path, case.attempts)
        assert made == case.attempts, f"{made} requests, expected {case.attempts}"
    else:
        made = len(fault_server.requests_to(operation.path))
    assert fault_server.pending() == 0 or case.attempts is None

    # 4. time
    assert case.min_elapsed <= ctx.elapsed <= case.max_elapsed, f"took {ctx.elapsed:.3f} s"

    # 5. connections
    assert pool_in_use(client) == 0, "a connection was left checked out of the pool"
    await api.close(client)
    assert fault_server.wait_idle(0) == 0, "a connection is still open on the server after close()"

    # Anything an async stream abandoned (an un-exhausted async generator) warns now,
    # inside this test, rather than in whichever test the garbage collector next runs in.
    if api.is_async and operation.stream:
        gc.collect()

    retried = made > 1
    ledger_case.done("surfaced" if ctx.error is not None else ("recovered" if retried else "passed"))


async def test_async_stream_cancelled_mid_way_releases_its_connection(api: Any, fault_server: FaultServer) -> None:
    """A task cancelled while a stream stalls leaves no connection checked out."""
    if not api.is_async:
        pytest.skip("cancellation is an async notion")
    fault_server.script(Stream(stall_after=1, stall=NEVER), path="/ai/chat")
    client = new_client(api, fault_server)
    delivered: list[str] = []
    with anyio.move_on_after(NEVER) as scope:
        async with client.ai.stream(MESSAGES) as stream:
            async for token in stream:
                delivered.append(token)
                scope.deadline = anyio.current_time() + 0.02  # cancelled inside the stalled read
    assert scope.cancelled_caught
    assert delivered == fault_server.streams[-1][:1]
    assert pool_in_use(client) == 0
    assert (await api.run(client.ai.list_models())).models  # the pool still works
    await api.close(client)
    assert fault_server.wait_idle(0) == 0


async def test_stream_left_early_releases_its_connection(api: Any, fault_server: FaultServer) -> None:
    """Breaking out of a stream (with its context manager) returns the connection."""
    client = new_client(api, fault_server)
    stream = client.ai.stream(MESSAGES)
    if api.is_async:
        async with stream:
            async for _token in stream:
                break
    else:
        with stream:
            for _token in stream:
                break
    assert pool_in_use(client) == 0
    # The pool still works afterwards.
    reply = await api.run(client.ai.chat(MESSAGES))
    assert reply.text
    await api.close(client)
    assert fault_server.wait_idle(0) == 0


async def test_many_faults_in_a_row_on_one_client(api: Any, fault_server: FaultServer) -> None:
    """One client survives a long mixed sequence of faults and keeps its pool healthy."""
    client = new_client(api, fault_server)
    script: list[Reply] = [Reset(), Respond(503), Raw(b""), Respond(429, headers={"retry-after-ms": "1"})] * 5
    fault_server.script(*script, path="/ai/models")
    ok = 0
    for _ in range(40):
        try:
            await api.run(client.ai.list_models())
            ok += 1
        except neureus.APIError:
            pass
        assert pool_in_use(client) == 0
    assert ok >= 30
    assert fault_server.pending() == 0
    await api.close(client)
    assert fault_server.wait_idle(0) == 0


@pytest.mark.parametrize("op", list(OPERATIONS))
async def test_connection_refused(api: Any, op: str) -> None:
    """Nothing listens on the port: APIConnectionError after the retries, quickly."""
    with FaultServer() as server:
        url = server.url  # a loopback port that is closed once the server stops
    client = new_client(api, server)
    client = client.with_options(base_url=url)
    start = time.monotonic()
    with pytest.raises(APIConnectionError) as caught:
        await perform(api, client, OPERATIONS[op], [])
    assert not isinstance(caught.value, APITimeoutError)
    assert time.monotonic() - start < 3.0
    assert pool_in_use(client) == 0


async def test_sync_stream_dropped_mid_way_releases_its_connection(api: Any, fault_server: FaultServer) -> None:
    """``for token in client.ai.stream(...): break`` with no ``with`` block: released on drop."""
    if api.is_async:
        pytest.skip("the sync stream closes itself when dropped; an async one needs aclose()")
    client = new_client(api, fault_server)
    for _token in client.ai.stream(MESSAGES):
        break
    assert pool_in_use(client) == 0  # at once, not once the garbage collector runs
    await api.close(client)
    assert fault_server.wait_idle(0) == 0


@pytest.mark.parametrize("op", ["chat", "list_models"])
async def test_deadline_bounds_a_trickling_body(api: Any, fault_server: FaultServer, op: str) -> None:
    operation = OPERATIONS[op]
    body = default_body("GET" if op == "list_models" else "POST", operation.path)
    # Ten pieces, 0.25 s apart: each read well within the timeout, ~2.25 s for the whole body.
    fault_server.script(Respond(body=body, trickle=(-(-len(body) // 10), 0.25)), path=operation.path)
    client = new_client(api, fault_server, deadline=0.2)
    start = time.monotonic()
    try:
        with pytest.raises(APITimeoutError):
            await perform(api, client, operation, [])
    finally:
        elapsed = time.monotonic() - start
        assert pool_in_use(client) == 0
    assert elapsed < 1.5  # far less than the whole body takes


@pytest.mark.parametrize("how", ["break", "stream_error"])
def test_trio_stream_closed_early_abandons_no_async_generator(fault_server: FaultServer, how: str) -> None:
    """Run under ``trio.run`` itself, recording the warnings trio's async-generator
    finalizer issues when a stream is left early (``break``) or fails mid-way."""
    import trio

    async def main() -> None:
        async with neureus.AsyncNeureus(api_key=API_KEY, base_url=fault_server.url, retry_policy=FAST) as client:
            for _ in range(3):
                if how == "stream_error":
                    fault_server.script(Stream(tokens=list("abcdef"), error_after=2), path="/ai/chat")
                try:
                    async with client.ai.stream(MESSAGES) as stream:
                        async for _token in stream:
                            break
                except StreamError:
                    pass
                gc.collect()
            assert pool_in_use(client) == 0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trio.run(main)
        gc.collect()
    abandoned = [str(w.message) for w in caught if "garbage collected before it had been exhausted" in str(w.message)]
    assert abandoned == [], f"{len(abandoned)} abandoned async generators, e.g. {abandoned[0]}"


@pytest.mark.parametrize("op", list(OPERATIONS))
async def test_stale_keepalive_connection_is_not_an_error(api: Any, fault_server: FaultServer, op: str) -> None:
    """The server closes an idle keep-alive connection; the next call, with no retries
    allowed, still succeeds on a fresh connection."""
    operation = OPERATIONS[op]
    client = new_client(api, fault_server, max_retries=0)
    await perform(api, client, operation, [])
    # A stream keeps its connection only when the body's end had arrived with its done
    # event (it never waits for it), which depends on how the server's last two writes
    # land: the pool says whether it did.
    pool = client._http._transport._pool
    idle = sum(conn.is_idle() for conn in pool.connections) if operation.stream else 1
    assert fault_server.wait_idle(idle) <= idle
    assert fault_server.drop_connections() == idle
    assert fault_server.wait_idle(0) == 0
    delivered: list[str] = []
    await perform(api, client, operation, delivered)
    if operation.stream:
        assert delivered == fault_server.streams[-1]
    assert fault_server.connections_opened == 2
    assert pool_in_use(client) == 0
    await api.close(client)


async def test_leaving_a_stalled_stream_early_returns_at_once(api: Any, fault_server: FaultServer) -> None:
    """``break`` out of a stream whose server then goes quiet: closing must not wait for
    (or read) the rest of the body."""
    fault_server.script(Stream(tokens=["a", "b", "c"], stall_after=1, stall=NEVER), path="/ai/chat")
    client = new_client(api, fault_server)
    stream = client.ai.stream(MESSAGES)
    start = time.monotonic()
    if api.is_async:
        async with stream:
            async for _token in stream:
                break
    else:
        with stream:
            for _token in stream:
                break
    assert time.monotonic() - start < 1.5
    assert pool_in_use(client) == 0
    await api.close(client)
    assert fault_server.wait_idle(0) == 0


def test_trio_deadline_during_the_request_body_abandons_no_async_generator() -> None:
    """A peer that never reads: the 32 MiB body fills the socket buffers, so the deadline
    always fires mid-write. Run under ``trio.run`` itself, recording trio's warnings."""
    import socket

    import trio

    with socket.socket() as listener:  # accepts into its backlog, never reads
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        async def main() -> None:
            async with neureus.AsyncNeureus(api_key=API_KEY, base_url=url, max_retries=0, deadline=0.3) as client:
                with pytest.raises(APITimeoutError):
                    await client.ai.chat([{"role": "user", "content": "x" * (32 << 20)}])
            gc.collect()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trio.run(main)
            gc.collect()
    abandoned = [str(w.message) for w in caught if "garbage collected before it had been exhausted" in str(w.message)]
    assert abandoned == [], abandoned[0]
