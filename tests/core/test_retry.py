"""The retry policy and the request flow, with no socket, no loop and no clock."""

from __future__ import annotations

import email.utils
from collections.abc import Generator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent

from neureus import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
)
from neureus._exceptions import make_status_error
from neureus._retry import (
    CloseResponse,
    FlowResult,
    PullFirstEvent,
    SendRequest,
    Sleep,
    clip_timeout,
    request_flow,
)
from neureus._wire import RequestSpec

SPEC = RequestSpec("POST", "/ai/chat", "chat", {"messages": []})
STREAM_SPEC = RequestSpec("POST", "/ai/chat", "chat", {"messages": []}, stream=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def flow(spec: RequestSpec = SPEC, *, max_retries: int = 2, deadline: float | None = None, **policy: Any):
    clock = FakeClock()
    gen = request_flow(
        spec,
        policy=RetryPolicy(jitter=lambda: 1.0, wallclock=lambda: 1_000_000.0, **policy),
        max_retries=max_retries,
        timeout=httpx.Timeout(10.0),
        deadline=deadline,
        secrets=(),
        clock=clock,
    )
    return gen, clock


def drive(gen: Generator[Any, Any, FlowResult], outcomes: list[Any], clock: FakeClock | None = None) -> list[Any]:
    """Run a flow, answering each SendRequest/PullFirstEvent from ``outcomes``; return the actions."""
    actions = [next(gen)]
    outcomes = list(outcomes)
    while True:
        action = actions[-1]
        if isinstance(action, (SendRequest, PullFirstEvent)):
            reply = outcomes.pop(0)
        else:
            if isinstance(action, Sleep) and clock is not None:
                clock.now += action.seconds
            reply = None
        try:
            actions.append(gen.send(reply))
        except StopIteration as stop:
            actions.append(stop.value)
            return actions


def ok(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"{}") -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body)


def test_backoff_is_between_half_and_all_of_the_exponential_cap() -> None:
    low = RetryPolicy(jitter=lambda: 0.0)
    high = RetryPolicy(jitter=lambda: 0.999999)
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (500, 8.0)]:
        assert low.backoff(attempt) == pytest.approx(cap / 2)
        assert high.backoff(attempt) == pytest.approx(cap, rel=1e-5)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "4"}, 4.0),
        ({"retry-after": "-1"}, None),
        # Zero and less than a second are waits too, in either header.
        ({"retry-after-ms": "0", "retry-after": "9"}, 0.0),
        ({"retry-after-ms": "0.5", "retry-after": "9"}, 0.0005),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    assert RetryPolicy().retry_after(headers) == expected


def test_retry_after_as_http_date() -> None:
    policy = RetryPolicy(wallclock=lambda: 1_000_000.0)
    date = email.utils.formatdate(1_000_000.0 + 30, usegmt=True)
    assert policy.retry_after({"retry-after": date}) == pytest.approx(30.0)
    past = email.utils.formatdate(1_000_000.0 - 30, usegmt=True)
    assert policy.retry_after({"retry-after": past}) == 0.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy().is_retryable(make_status_error(status, {}, b""))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_4xx_are_not_retried(status: int) -> None:
    assert not RetryPolicy().is_retryable(make_status_error(status, {}, b""))
    gen, _ = flow()
    with pytest.raises(type(make_status_error(status, {}, b""))):
        drive(gen, [ok(status)])


def test_connection_errors_and_timeouts_are_retryable() -> None:
    assert RetryPolicy().is_retryable(APIConnectionError())
    assert RetryPolicy().is_retryable(APITimeoutError())


def test_success_first_time() -> None:
    gen, _ = flow()
    response = ok()
    actions = drive(gen, [response])
    assert isinstance(actions[0], SendRequest) and actions[0].attempt == 0
    assert actions[-1] == FlowResult(response)


def test_retries_with_backoff_then_succeeds() -> None:
    gen, _ = flow()
    response = ok()
    actions = drive(gen, [ok(500), APIConnectionError(), response])
    sleeps = [a.seconds for a in actions if isinstance(a, Sleep)]
    assert sleeps == [0.5, 1.0]
    assert [a.attempt for a in actions if isinstance(a, SendRequest)] == [0, 1, 2]
    assert actions[-1].response is response


def test_gives_up_after_max_retries_with_the_last_error() -> None:
    gen, _ = flow(max_retries=2)
    with pytest.raises(InternalServerError):
        drive(gen, [ok(503), ok(503), ok(502)])


def test_zero_retries_means_one_attempt() -> None:
    gen, _ = flow(max_retries=0)
    with pytest.raises(APIConnectionError):
        drive(gen, [APIConnectionError()])


def test_retry_after_is_waited_out() -> None:
    gen, _ = flow()
    actions = drive(gen, [ok(429, {"retry-after-ms": "1234"}), ok()])
    assert [a.seconds for a in actions if isinstance(a, Sleep)] == [1.234]


def test_retry_after_above_sixty_seconds_raises_at_once() -> None:
    gen, _ = flow()
    with pytest.raises(RateLimitError) as info:
        drive(gen, [ok(429, {"retry-after": "120"})])
    assert info.value.retry_after == 120.0


def test_rate_limit_error_without_header_has_no_retry_after() -> None:
    gen, _ = flow(max_retries=0)
    with pytest.raises(RateLimitError) as info:
        drive(gen, [ok(429)])
    assert info.value.retry_after is None


def test_deadline_stops_before_a_wait_that_would_pass_it() -> None:
    # The last real error, at once: no timeout happened (API.md, "The deadline bounds...").
    gen, clock = flow(deadline=1.0)
    with pytest.raises(InternalServerError):
        drive(gen, [ok(500), ok(500)], clock)


def test_deadline_clips_each_attempts_timeout() -> None:
    gen, clock = flow(deadline=3.0)
    first = next(gen)
    assert first.timeout.read == 3.0
    clock.now = 0.4
    second = gen.send(ok(500))
    assert isinstance(second, Sleep) and second.seconds == 0.5
    clock.now = 0.9
    third = gen.send(None)
    assert isinstance(third, SendRequest)
    assert third.timeout.read == pytest.approx(2.1)


def test_deadline_spent_during_an_attempt() -> None:
    gen, clock = flow(deadline=1.0, initial_wait=0.0)
    next(gen)
    clock.now = 5.0
    with pytest.raises(APITimeoutError, match="deadline"):
        gen.send(APITimeoutError())


def test_stream_is_retried_only_before_its_first_event() -> None:
    gen, _ = flow(STREAM_SPEC)
    stream_response = ok(headers={"content-type": "text/event-stream"})
    event = ServerSentEvent(data='{"delta": {"content": "hi"}}')
    actions = drive(gen, [stream_response, None, stream_response, APIConnectionError(), stream_response, event])
    kinds = [type(a).__name__ for a in actions[:-1]]
    assert kinds == [
        "SendRequest", "PullFirstEvent", "CloseResponse", "Sleep",
        "SendRequest", "PullFirstEvent", "CloseResponse", "Sleep",
        "SendRequest", "PullFirstEvent",
    ]  # fmt: skip
    assert actions[-1] == FlowResult(stream_response, event)


def test_stream_that_never_starts_raises_a_connection_error() -> None:
    gen, _ = flow(STREAM_SPEC, max_retries=0)
    response = ok()
    actions = [next(gen), gen.send(response)]
    assert isinstance(actions[1], PullFirstEvent)
    assert isinstance(gen.send(None), CloseResponse)
    with pytest.raises(APIConnectionError, match="before its first event"):
        gen.send(None)


def test_auth_errors_are_not_retried_even_with_retries_left() -> None:
    gen, _ = flow(max_retries=5)
    actions = [next(gen)]
    with pytest.raises(AuthenticationError):
        gen.send(ok(401))
    assert len(actions) == 1


def test_clip_timeout() -> None:
    assert clip_timeout(None, 2.0) == httpx.Timeout(2.0)
    clipped = clip_timeout(httpx.Timeout(5.0, connect=1.0, pool=None), 2.0)
    assert (clipped.connect, clipped.read, clipped.write, clipped.pool) == (1.0, 2.0, 2.0, 2.0)


def test_deadline_gives_the_shell_an_absolute_read_by() -> None:
    gen, _ = flow(STREAM_SPEC, deadline=2.0)
    first = next(gen)
    assert isinstance(first, SendRequest) and first.read_by == 2.0
    pull = gen.send(ok())
    assert isinstance(pull, PullFirstEvent) and pull.read_by == 2.0
    no_deadline, _ = flow()
    assert next(no_deadline).read_by is None


def test_a_stream_answered_with_something_else_is_not_retried() -> None:
    gen, _ = flow(STREAM_SPEC, max_retries=5)
    next(gen)
    page = ok(headers={"content-type": "application/json", "x-request-id": "r9"}, body=b'{"text": "hi"}')
    assert isinstance(gen.send(page), CloseResponse)
    with pytest.raises(APIResponseValidationError, match="application/json") as info:
        gen.send(None)
    assert info.value.request_id == "r9"


def test_a_stream_without_content_type_is_read_as_sse() -> None:
    gen, _ = flow(STREAM_SPEC)
    next(gen)
    assert isinstance(gen.send(ok()), PullFirstEvent)


# --- 0.2: idempotency, x-should-retry, classified failures (API.md, "Retries never duplicate")

NOT_IDEMPOTENT = RequestSpec("POST", "/ai/widget/key", "create_widget_key", {}, idempotent=False)


def _sends(actions: list[Any]) -> int:
    return sum(isinstance(a, SendRequest) for a in actions)


@pytest.mark.parametrize("status", [429, 503])
def test_not_idempotent_retries_429_and_503(status: int) -> None:
    gen, clock = flow(NOT_IDEMPOTENT, initial_wait=0.0)
    assert _sends(drive(gen, [ok(status), ok(200)], clock)) == 2


@pytest.mark.parametrize("status", [500, 502, 504, 408, 409])
def test_not_idempotent_does_not_retry_other_statuses(status: int) -> None:
    gen, clock = flow(NOT_IDEMPOTENT, initial_wait=0.0)
    with pytest.raises(APIError):
        drive(gen, [ok(status), ok(200)], clock)


def test_not_idempotent_retries_only_a_request_surely_unsent() -> None:
    from neureus._retry import Failed

    gen, clock = flow(NOT_IDEMPOTENT, initial_wait=0.0)
    assert _sends(drive(gen, [Failed(APIConnectionError(), unsent=True), ok(200)], clock)) == 2
    gen, clock = flow(NOT_IDEMPOTENT, initial_wait=0.0)
    with pytest.raises(APIConnectionError):
        drive(gen, [Failed(APIConnectionError()), ok(200)], clock)
    gen, clock = flow(initial_wait=0.0)  # an idempotent call retries either
    assert _sends(drive(gen, [Failed(APIConnectionError()), ok(200)], clock)) == 2


@pytest.mark.parametrize(
    ("spec", "status", "header", "sends"),
    [
        (SPEC, 503, "false", 1),
        (SPEC, 400, "true", 2),
        (NOT_IDEMPOTENT, 500, "true", 2),
        (SPEC, 503, "maybe", 2),  # anything else: the default
    ],
)
def test_x_should_retry_overrides_the_default(spec: RequestSpec, status: int, header: str, sends: int) -> None:
    gen, clock = flow(spec, initial_wait=0.0)
    actions: list[Any] = []
    try:
        actions = drive(gen, [ok(status, {"x-should-retry": header}), ok(200)], clock)
    except APIError:
        assert sends == 1
    else:
        assert _sends(actions) == sends


def test_a_final_failure_is_raised_at_once() -> None:
    from neureus._retry import Failed

    gen, clock = flow(initial_wait=0.0)
    with pytest.raises(APIConnectionError):
        drive(gen, [Failed(APIConnectionError("bad certificate"), unsent=True, final=True), ok(200)], clock)


def test_a_local_error_from_the_shell_is_raised_at_once() -> None:
    from neureus import InvalidRequestError

    gen, clock = flow(initial_wait=0.0)
    with pytest.raises(InvalidRequestError):
        drive(gen, [InvalidRequestError("bad header"), ok(200)], clock)


def test_a_429_whose_wait_cannot_fit_keeps_retry_after() -> None:
    gen, clock = flow(deadline=5.0)
    with pytest.raises(RateLimitError) as caught:
        drive(gen, [ok(429, {"retry-after": "30"})], clock)
    assert caught.value.retry_after == 30


def test_a_timeout_that_spent_the_deadline_names_it() -> None:
    gen, clock = flow(deadline=1.0)
    next(gen)
    clock.now = 1.5
    with pytest.raises(APITimeoutError, match="deadline of 1 s") as caught:
        gen.send(APITimeoutError("read timed out"))
    assert isinstance(caught.value.__cause__, APITimeoutError)


def test_failure_from_classifies_httpx_errors() -> None:
    import ssl

    from neureus import InvalidRequestError
    from neureus._retry import Failed, failure_from

    request = httpx.Request("GET", "https://example.invalid/")
    tls = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]", request=request)
    tls.__context__ = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    failed = failure_from(tls)
    assert isinstance(failed, Failed) and failed.final and failed.unsent
    assert "certificate" in str(failed.error)
    for exc, unsent in [
        (httpx.ConnectError("refused", request=request), True),
        (httpx.ConnectTimeout("slow", request=request), True),
        (httpx.PoolTimeout("busy", request=request), True),
        (httpx.ReadError("reset", request=request), False),
        (httpx.ReadTimeout("slow", request=request), False),
        (httpx.RemoteProtocolError("bad", request=request), False),
    ]:
        failed = failure_from(exc)
        assert isinstance(failed, Failed) and failed.unsent is unsent and not failed.final, exc
    local = failure_from(httpx.LocalProtocolError("Illegal header value b'Bearer nru_secret\\x0b'"))
    assert isinstance(local, InvalidRequestError) and "nru_secret" not in str(local)
    assert isinstance(failure_from(httpx.DecodingError("bad gzip")), APIResponseValidationError)


def test_the_longest_wait_taken_by_default_is_sixty_seconds() -> None:
    gen, _ = flow()
    actions = drive(gen, [ok(429, {"retry-after": "60"}), ok()])
    assert [a.seconds for a in actions if isinstance(a, Sleep)] == [60.0]
    gen, _ = flow()
    with pytest.raises(RateLimitError):
        drive(gen, [ok(429, {"retry-after": "60.5"})])


def test_x_should_retry_is_read_from_a_plain_mapping_by_its_lowercase_name() -> None:
    assert RetryPolicy.should_retry_header({"x-should-retry": "true"}) is True
    assert RetryPolicy.should_retry_header({"x-should-retry": "false"}) is False
    assert RetryPolicy.should_retry_header({"x-should-retry": "maybe"}) is None
