"""``RetryPolicy``: which failures are retried and how long to wait. Pure decisions.

API.md ("Errors") fixes the retryable outcomes (connection errors, timeouts, 408, 409,
429 and >= 500), ``Retry-After``/``retry-after-ms`` honoured up to 60 s, otherwise a wait
between half and all of ``min(0.5 * 2**attempt, 8)`` seconds. Jitter and the wall clock
are injected so tests are exact.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from typing import Final

from ._exceptions import APIConnectionError, APIError, APIStatusError
from ._record import Record

__all__ = ["RetryPolicy"]

_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


class RetryPolicy(Record):
    """Which failures are retried, and how long to wait before each retry.

    How many retries is the client's ``max_retries``; this says how long to wait.
    Pass one as ``retry_policy=`` to a client to shape the backoff (tests use tiny waits).

    Args:
        initial_wait: the backoff of the first retry, before jitter (0.5 s).
        max_wait: the backoff cap, before jitter (8 s).
        max_retry_after: a server-asked wait above this is not waited out: the error is
            raised at once (60 s).
        jitter: returns a number in [0, 1); the wait is between half and all of the backoff.
        wallclock: seconds since the epoch, to read ``Retry-After`` given as an HTTP date.

    >>> policy = RetryPolicy(jitter=lambda: 1.0)
    >>> policy.backoff(0), policy.backoff(1), policy.backoff(10)
    (0.5, 1.0, 8.0)
    """

    __slots__ = ("initial_wait", "jitter", "max_retry_after", "max_wait", "wallclock")

    def __init__(
        self,
        *,
        initial_wait: float = 0.5,
        max_wait: float = 8.0,
        max_retry_after: float = 60.0,
        jitter: Callable[[], float] = random.random,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.initial_wait = initial_wait
        self.max_wait = max_wait
        self.max_retry_after = max_retry_after
        self.jitter = jitter
        self.wallclock = wallclock

    def is_retryable(self, error: APIError) -> bool:
        """Connection errors, timeouts, 408, 409, 429 and >= 500; never other 4xx."""
        if isinstance(error, APIStatusError):
            return error.status_code in _RETRYABLE_STATUSES or error.status_code >= 500
        return isinstance(error, APIConnectionError)

    def surely_not_acted_on(self, error: APIError) -> bool:
        """429 and 503: the gateway refused before doing anything, so even a call that must
        not run twice (``create_widget_key``, ``rotate_provider_key``) may be retried."""
        return isinstance(error, APIStatusError) and error.status_code in (429, 503)

    @staticmethod
    def should_retry_header(headers: Mapping[str, str]) -> bool | None:
        """The server's ``x-should-retry: true|false``, which overrides the defaults."""
        value = headers.get("x-should-retry")
        if value == "true":
            return True
        if value == "false":
            return False
        return None

    def backoff(self, attempt: int) -> float:
        """The jittered exponential wait before retry number ``attempt + 1``."""
        cap = min(self.initial_wait * 2.0 ** min(attempt, 32), self.max_wait)
        return cap * (0.5 + 0.5 * self.jitter())

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds the server asked us to wait (``retry-after-ms``, then ``Retry-After``)."""
        value = headers.get("retry-after-ms")
        if value is not None:
            try:
                millis = float(value)
            except ValueError:
                millis = -1.0
            if millis >= 0 and millis == millis and millis != float("inf"):
                return millis / 1000.0
        value = headers.get("retry-after")
        if value is None:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            return max(0.0, when.timestamp() - self.wallclock())
        if seconds != seconds or seconds < 0 or seconds == float("inf"):
            return None
        return seconds
