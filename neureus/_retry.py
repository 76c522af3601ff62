"""Retry decisions and the request flow that drives them, with no I/O.

:class:`RetryPolicy` decides whether an outcome is retried and how long to wait: API.md
("Errors") fixes the retryable outcomes (connection errors, timeouts, 408, 409, 429 and
>= 500), ``Retry-After``/``retry-after-ms`` honoured up to 60 s, otherwise a wait between
half and all of ``min(0.5 * 2**attempt, 8)`` seconds. Jitter and clocks are injected.

:func:`request_flow` is a generator in the style of httpx's auth flows: it *yields* what
the shell must do (send, sleep, pull the first stream event, close a response) and is
*sent* the outcome (a response, an event, or an already-translated
:class:`~neureus.APIConnectionError`). It returns the final response or raises the mapped
error. "Retry a stream only before its first event" is one branch here, so the sync and
async shells share every decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from typing import Any, Final, TypeAlias

import httpx
from httpx_sse import ServerSentEvent

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    InvalidRequestError,
    NeureusError,
    make_status_error,
    translate_transport_error,
)
from ._logs import logger
from ._record import Record
from ._retry_policy import RetryPolicy
from ._wire import RequestSpec

__all__ = [
    "Action",
    "CloseResponse",
    "Failed",
    "FlowResult",
    "PullFirstEvent",
    "RetryPolicy",
    "SendRequest",
    "Sleep",
    "clip_timeout",
    "failure_from",
    "request_flow",
]


class SendRequest(Record):
    """Send the request with this per-attempt timeout (``None``: the http client's own).

    With a deadline, ``read_by`` is the ``time.monotonic()`` by which the answer must have
    been read whole: per-read timeouts alone cannot stop a body that trickles in.
    """

    __slots__ = ("attempt", "read_by", "timeout")

    def __init__(self, timeout: httpx.Timeout | None, attempt: int, read_by: float | None = None) -> None:
        self.timeout = timeout
        self.attempt = attempt
        self.read_by = read_by


class Sleep(Record):
    """Wait this many seconds before the next attempt."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class PullFirstEvent(Record):
    """Read until the first SSE event of this open stream (``None`` back at end of body),
    giving up with :class:`~neureus.APITimeoutError` after ``read_by`` (see :class:`SendRequest`)."""

    __slots__ = ("read_by", "response")

    def __init__(self, response: httpx.Response, read_by: float | None = None) -> None:
        self.response = response
        self.read_by = read_by


class CloseResponse(Record):
    """Release this open response's connection; the flow is done with it."""

    __slots__ = ("response",)

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


class Failed(Record):
    """A request that got no answer.

    ``unsent``: it surely never reached the server (the connection was never made), so even
    a call that must not run twice may be retried. ``final``: retrying cannot help (a TLS
    certificate the system does not trust).
    """

    __slots__ = ("error", "final", "unsent")

    def __init__(self, error: APIConnectionError, *, unsent: bool = False, final: bool = False) -> None:
        self.error = error
        self.unsent = unsent
        self.final = final


def _certificate_failure(exc: BaseException) -> BaseException | None:
    import ssl

    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def failure_from(exc: BaseException) -> Failed | NeureusError:
    """Classify an exception raised while sending or reading (the shells call this).

    A header h11 refuses, or a non-ASCII one, is a local mistake, not a connection error;
    its text may quote the header, so it is not repeated.
    """
    if isinstance(exc, (httpx.LocalProtocolError, UnicodeEncodeError)):
        return InvalidRequestError(
            "A header of this request cannot be sent over HTTP (it holds a control or non-ASCII "
            "character): check api_key, surface, default_headers and extra_headers. Nothing was sent."
        )
    if isinstance(exc, httpx.DecodingError):
        return APIResponseValidationError(f"The gateway's answer could not be decoded ({type(exc).__name__}).")
    if isinstance(exc, httpx.ConnectError):
        bad_certificate = _certificate_failure(exc)
        if bad_certificate is not None:
            error = APIConnectionError(
                f"TLS certificate verification failed ({bad_certificate}); not retried. Check the host "
                "of base_url and the CA bundle (SSL_CERT_FILE) if the gateway is behind your own proxy."
            )
            error.__cause__ = exc
            return Failed(error, unsent=True, final=True)
    unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    return Failed(translate_transport_error(exc), unsent=unsent)


Action: TypeAlias = "SendRequest | Sleep | PullFirstEvent | CloseResponse"
Outcome: TypeAlias = "httpx.Response | ServerSentEvent | Failed | NeureusError | None"


# What a FlowResult holds when nothing was parsed: a parser may well answer None.
_UNPARSED: Final[Any] = object()


class FlowResult(Record):
    """The successful end of a flow: the response, and for streams the first event.

    ``value`` is the answer parsed by the flow's ``parse`` (``None`` when it parsed
    nothing, or parsed to ``None``). ``error``, when set, is raised to the caller once the
    hooks have heard of the answer: the answer did not parse, or it parsed only after the
    deadline had run out.
    """

    __slots__ = ("_value", "error", "first_event", "response")

    def __init__(
        self,
        response: httpx.Response,
        first_event: ServerSentEvent | None = None,
        value: Any = _UNPARSED,
        error: NeureusError | None = None,
    ) -> None:
        self.response = response
        self.first_event = first_event
        self._value = value
        self.error = error

    @property
    def value(self) -> Any:
        """The parsed answer; ``None`` when nothing was parsed."""
        return None if self._value is _UNPARSED else self._value

    def unwrap(self) -> Any:
        """What the call returns: its parsed value (else the response), or its error raised."""
        if self.error is not None:
            raise self.error
        return self.response if self._value is _UNPARSED else self._value


def _answer(
    response: httpx.Response,
    parse: Callable[[httpx.Response], Any] | None,
    read_by: float | None,
    clock: Callable[[], float],
) -> FlowResult:
    # The answer is parsed here, once, inside the call: the deadline covers its decoding too.
    if parse is None:
        return FlowResult(response)
    try:
        value = parse(response)
    except APIResponseValidationError as exc:
        return FlowResult(response, error=exc)  # the answer came; it does not parse
    if read_by is not None and clock() > read_by:
        late = APITimeoutError("The deadline ran out while the answer was being decoded; raise deadline=.")
        return FlowResult(response, value=value, error=late)
    return FlowResult(response, value=value)


def clip_timeout(timeout: httpx.Timeout | None, remaining: float) -> httpx.Timeout:
    """Bound every phase of ``timeout`` by the time left before the deadline."""
    if timeout is None:
        return httpx.Timeout(remaining)
    return httpx.Timeout(
        connect=remaining if timeout.connect is None else min(timeout.connect, remaining),
        read=remaining if timeout.read is None else min(timeout.read, remaining),
        write=remaining if timeout.write is None else min(timeout.write, remaining),
        pool=remaining if timeout.pool is None else min(timeout.pool, remaining),
    )


def _deadline_error(deadline: float, attempts: int) -> APITimeoutError:
    return APITimeoutError(
        f"The deadline of {deadline:g} s was spent after {attempts} attempt(s); raise deadline= or lower max_retries."
    )


def request_flow(
    spec: RequestSpec,
    *,
    policy: RetryPolicy,
    max_retries: int,
    timeout: httpx.Timeout | None,
    deadline: float | None,
    secrets: Iterable[str],
    clock: Callable[[], float] = time.monotonic,
    parse: Callable[[httpx.Response], Any] | None = None,
) -> Generator[Action, Outcome, FlowResult]:
    """Drive one call with its retries; see the module docstring for the protocol.

    ``parse`` turns a successful (non-streamed) answer into the call's value, within the
    deadline: an answer parsed past it is an :class:`~neureus.APITimeoutError`.
    """
    start = clock()
    read_by = None if deadline is None else start + deadline
    attempt = 0
    last_error: APIError | None = None
    while True:
        attempt_timeout = timeout
        if deadline is not None:
            remaining = deadline - (clock() - start)
            if remaining <= 0:
                if last_error is not None:  # a wait overran: the real error, not a timeout
                    raise last_error
                raise _deadline_error(deadline, attempt)
            attempt_timeout = clip_timeout(timeout, remaining)
        sent_at = clock()
        if logger.isEnabledFor(10):
            logger.debug(
                "sending %s %s (attempt %d of %d, timeout %s, deadline %s)",
                spec.method,
                spec.path,
                attempt + 1,
                max_retries + 1,
                attempt_timeout,
                "none" if deadline is None else f"{deadline:g} s",
            )
        outcome = yield SendRequest(attempt_timeout, attempt, read_by)
        retry_after: float | None = None
        unsent = final = False
        should_retry: bool | None = None  # the server's x-should-retry, when it sent one
        if isinstance(outcome, httpx.Response):
            status = outcome.status_code
            if logger.isEnabledFor(20):
                logger.info(
                    "%s %s -> %d in %.1f ms (attempt %d, request id %s)",
                    spec.method,
                    spec.path,
                    status,
                    (clock() - sent_at) * 1000,
                    attempt + 1,
                    outcome.headers.get("x-request-id") or outcome.headers.get("cf-ray") or "-",
                )
            if status < 300:
                if not spec.stream:
                    return _answer(outcome, parse, read_by, clock)
                content_type = outcome.headers.get("content-type", "text/event-stream")
                # A media type is case-insensitive and may carry parameters (RFC 9110).
                if content_type.partition(";")[0].strip().lower() != "text/event-stream":
                    # A page or a JSON reply where a stream was asked for: sending it again
                    # would only repeat (and perhaps bill) the same answer.
                    yield CloseResponse(outcome)
                    raise APIResponseValidationError(
                        f"{spec.operation}: a stream was asked for, but the gateway answered "
                        f"{status} with content-type {content_type!r} instead of text/event-stream.",
                        status_code=status,
                        request_id=outcome.headers.get("x-request-id") or outcome.headers.get("cf-ray"),
                    )
                first = yield PullFirstEvent(outcome, read_by)
                if isinstance(first, ServerSentEvent):
                    return FlowResult(outcome, first)
                yield CloseResponse(outcome)
                error: APIError = (
                    first
                    if isinstance(first, APIConnectionError)
                    else APIConnectionError("The stream ended before its first event.")
                )
            else:
                retry_after = policy.retry_after(outcome.headers)
                should_retry = policy.should_retry_header(outcome.headers)
                error = make_status_error(
                    status, outcome.headers, outcome.content, secrets=secrets, retry_after=retry_after
                )
        else:
            if isinstance(outcome, Failed):
                error, unsent, final = outcome.error, outcome.unsent, outcome.final
            elif isinstance(outcome, APIConnectionError):
                error = outcome
            else:
                # A local mistake, or an answer past max_response_bytes / undecodable: sending
                # again cannot help.
                assert isinstance(outcome, NeureusError), outcome
                raise outcome
            logger.info("%s %s failed on attempt %d: %s", spec.method, spec.path, attempt + 1, error)
        last_error = error
        if deadline is not None and isinstance(error, APITimeoutError) and clock() - start >= deadline:
            # The deadline itself ran out during I/O (the shells clip every wait to it).
            raise _deadline_error(deadline, attempt + 1) from error
        if attempt >= max_retries or final:
            raise error
        if should_retry is None:
            should_retry = policy.is_retryable(error) and (
                spec.idempotent or unsent or policy.surely_not_acted_on(error)
            )
        if not should_retry:
            raise error
        if retry_after is not None and retry_after > policy.max_retry_after:
            raise error
        wait = retry_after if retry_after is not None else policy.backoff(attempt)
        if deadline is not None and clock() - start + wait >= deadline:
            # The wait cannot fit in what is left: the real error now (a RateLimitError
            # keeps its retry_after), not a timeout that did not happen. An attempt that
            # itself timed out did spend the deadline: say so.
            if isinstance(error, APITimeoutError):
                raise _deadline_error(deadline, attempt + 1) from error
            raise error
        logger.info(
            "retrying %s %s in %.3f s (retry %d of %d) after: %s",
            spec.method,
            spec.path,
            wait,
            attempt + 1,
            max_retries,
            error,
        )
        yield Sleep(wait)
        attempt += 1
