"""The error tree of API.md, the status-to-class table, and errors built from responses.

::

    NeureusError
    ├── APIError
    │   ├── APIConnectionError
    │   │   └── APITimeoutError
    │   ├── APIStatusError          .status_code .body .headers .request_id
    │   │   ├── BadRequestError 400        ├── ConflictError 409
    │   │   ├── AuthenticationError 401    ├── UnprocessableEntityError 422
    │   │   ├── PermissionDeniedError 403  ├── RateLimitError 429 (.retry_after)
    │   │   ├── NotFoundError 404          └── InternalServerError >= 500
    │   ├── APIResponseValidationError  .status_code .body  (a 2xx answer we cannot read)
    │   ├── StreamError
    │   └── IncompleteStreamError   .partial_text
    ├── WidgetKeyScopeError
    ├── ConfigurationError (also ValueError)
    ├── InvalidRequestError (also ValueError)
    └── BudgetExceededError         .spent_usd .budget_usd

No I/O happens here: a response arrives as status, headers and body bytes, and every
message passes through :func:`neureus._redact.redact_text` before it is stored. Server
text in a message has its control characters escaped and is cut at 2,000 characters
(:func:`neureus._redact.clean_server_text`); headers and request ids the server echoes
are stored redacted by value.

Every error pickles and deep-copies with its attributes (a worker process can raise one
to its parent): keyword-only constructors would otherwise break ``BaseException``'s
default ``__reduce__``, which calls ``cls(*args)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import httpx

from ._redact import MAX_SERVER_TEXT, Secrets, clean_server_text, redact_text

__all__ = [
    "SECRETS_EXTENSION",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "ConflictError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "NeureusError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "StreamError",
    "UnprocessableEntityError",
    "WidgetKeyScopeError",
    "error_message_from_body",
    "loads_json",
    "make_status_error",
    "redact_headers",
    "redact_json",
    "request_id_from_headers",
    "request_secrets",
    "translate_transport_error",
]


def _rebuild_error(cls: type[NeureusError], args: tuple[Any, ...], state: dict[str, Any]) -> NeureusError:
    """Unpickle an error without calling its constructor (whose arguments are keywords)."""
    error = cls.__new__(cls)
    error.args = args
    cause = state.pop("__cause__", None)
    error.__dict__.update(state)
    if cause is not None:
        error.__cause__ = cause
        # Also the context (as ``raise ... from`` inside ``except`` leaves it): a process
        # pool replaces ``__cause__`` with the worker's traceback, and this keeps the cause.
        error.__context__ = cause
    return error


class NeureusError(Exception):
    """The base of every error this SDK raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        # An SDK cause travels (an IncompleteStreamError's APITimeoutError, say); a foreign
        # one (an httpx exception holding its request) may not pickle, and stays behind.
        if isinstance(self.__cause__, NeureusError):
            state["__cause__"] = self.__cause__
        return (_rebuild_error, (type(self), self.args, state))


class APIError(NeureusError):
    """A call to the gateway failed (the network, the status, or the stream)."""


class APIConnectionError(APIError):
    """The gateway could not be reached, or the connection broke before an answer."""

    def __init__(self, message: str = "Connection error: the gateway could not be reached.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A timeout (per request) or the ``deadline`` (per call, with retries) ran out."""

    def __init__(self, message: str = "The request timed out.") -> None:
        super().__init__(message)


class APIStatusError(APIError):
    """The gateway answered with a non-success status.

    Attributes:
        status_code: the HTTP status.
        retry_after: seconds the gateway asked us to wait (``Retry-After``), else ``None``.
        body: the decoded JSON body, or the text when it is not JSON (``None`` when empty).
        headers: the response headers.
        request_id: ``x-request-id`` or, failing that, ``cf-ray``; quote it to support.
    """

    status_code: int
    body: object
    headers: httpx.Headers
    request_id: str | None
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.headers = httpx.Headers(headers or {})
        self.request_id = _clean_request_id(request_id)
        self.retry_after = retry_after


def _clean_request_id(request_id: str | None) -> str | None:
    # Whoever builds the error, the id is the server's text: escaped and cut (idempotent).
    return None if request_id is None else clean_server_text(request_id, 200)


class BadRequestError(APIStatusError):
    """400: the gateway refused the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this (e.g. a widget key outside chat)."""


class NotFoundError(APIStatusError):
    """404: no such endpoint, model or resource."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (retried, as it is often transient)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests.

    ``retry_after`` is how long the gateway asked us to wait, in seconds (``None`` when it
    did not say). When it asks for more than 60 s the SDK raises at once instead of waiting.
    (Every :class:`APIStatusError` carries ``retry_after``; a 503 may send one too.)
    """


class InternalServerError(APIStatusError):
    """A status of 500 or above: the gateway or an upstream provider failed."""


class APIResponseValidationError(APIError):
    """The gateway answered with success, but the body is not what the API promises.

    Malformed JSON, or JSON of the wrong shape. ``body`` holds a text excerpt; the message
    says which call and what was wrong.
    """

    status_code: int
    body: object
    request_id: str | None

    def __init__(
        self, message: str, *, status_code: int = 200, body: object = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.request_id = _clean_request_id(request_id)

    @classmethod
    def for_response(cls, message: str, response: httpx.Response) -> APIResponseValidationError:
        """Build one from a read response, quoting the start of its body."""
        secrets = _request_secrets(response)
        excerpt = redact_text(response.content[:200].decode("utf-8", errors="replace"), secrets)
        request_id = _safe_request_id(response.headers, secrets)
        full = f"{message}: {excerpt!r}"
        if request_id:
            full += f" (request id: {request_id})"
        return cls(
            redact_text(clean_server_text(full, MAX_SERVER_TEXT + 400), secrets),
            status_code=response.status_code,
            body=excerpt,
            request_id=request_id,
        )


SECRETS_EXTENSION: Final = "neureus.secrets"
"""The request extension under which the SDK's requests carry their call's :class:`Secrets`."""


def _request_secrets(response: httpx.Response) -> Secrets | tuple[str, ...]:
    """The secrets the request behind ``response`` carried: its bearer key and a body ``key``."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand has no request
        return ()
    carried = request.extensions.get(SECRETS_EXTENSION)
    if isinstance(carried, Secrets):
        return carried
    # A request built elsewhere (a test, a redirect of a caller's client): read it.
    secrets: list[str] = []
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        secrets.append(auth[7:])
    try:
        content = request.content
    except httpx.RequestNotRead:  # a redirected request re-sent as a stream
        content = b""
    if b'"key"' in content:
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            secrets.append(body["key"])
    return tuple(secrets)


def request_secrets(response: httpx.Response) -> Secrets | tuple[str, ...]:
    """The secrets of the request behind ``response`` (its bearer key, a body ``key``)."""
    return _request_secrets(response)


def _safe_request_id(headers: Mapping[str, str], secrets: Iterable[str | None]) -> str | None:
    # The server's text: escaped, cut, and never an echoed key.
    request_id = request_id_from_headers(headers)
    if request_id is None:
        return None
    return redact_text(clean_server_text(request_id, 200), secrets)


class StreamError(APIError):
    """The gateway sent an error in the middle of a stream.

    ``error_type`` is the error's type or code when the gateway named one.
    """

    error_type: str | None

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        # The message quotes the server's error event: escaped and cut like any server text.
        super().__init__(clean_server_text(message, MAX_SERVER_TEXT + 200))
        self.error_type = error_type


class IncompleteStreamError(APIError):
    """A stream stopped after its first event but before its final ``done`` event.

    ``partial_text`` holds every token delivered so far; ``__cause__`` is the
    :class:`APIConnectionError` or :class:`APITimeoutError` when the network was to blame.
    """

    partial_text: str

    def __init__(self, message: str, *, partial_text: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text


class WidgetKeyScopeError(NeureusError):
    """A ``pk_`` widget key was used for something other than chat; nothing was sent."""


class ConfigurationError(NeureusError, ValueError):
    """The client cannot be built as configured (missing key, insecure URL, bad option)."""


class InvalidRequestError(NeureusError, ValueError):
    """A call's arguments are invalid; the message says which one and how to fix it."""


_STATUS_TO_ERROR: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_HINTS: dict[int, str] = {
    401: " Check NEUREUS_API_KEY (or the api_key you passed).",
    403: " The key is not allowed to do this.",
}


def request_id_from_headers(headers: Mapping[str, str]) -> str | None:
    """``x-request-id``, else ``cf-ray``, as API.md fixes."""
    return headers.get("x-request-id") or headers.get("cf-ray") or None


# Deeper JSON than this is not walked (its message not searched, its secrets redacted
# as text): a hostile 662-byte body of nested arrays otherwise raises RecursionError.
# pydantic's own JSON parser stops at 200 levels; nothing the gateway sends nests past 10.
MAX_JSON_DEPTH: Final = 100


def _message_from_json(data: object, depth: int = 0) -> str | None:
    # The common shapes: {"error": "msg"}, {"error": {"message": "msg", "type": ...}},
    # {"message": "msg"}, {"detail": "msg"}, {"errors": [{"message": ...}]}.
    if isinstance(data, str):
        return data or None
    if depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(data, list):
        parts = [m for m in (_message_from_json(item, depth + 1) for item in data[:50]) if m]
        return "; ".join(parts) or None
    if not isinstance(data, dict):
        return None
    for key in ("error", "message", "detail", "errors", "error_description", "msg"):
        if key in data:
            found = _message_from_json(data[key], depth + 1)
            if found:
                return found
    return None


def loads_json(content: bytes | str) -> Any:
    """``json.loads`` whose every failure (too deep included) is a ``ValueError``."""
    try:
        return json.loads(content)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def error_message_from_body(body: bytes, content_type: str = "") -> tuple[object, str]:
    """Decode an error body; return ``(decoded body, readable message)``.

    JSON bodies are searched for a message in any common shape. A non-JSON body (an HTML
    page from a proxy, plain text) gives a short text excerpt with the tags stripped.
    The message is the server's text: escaped and cut by the caller.
    """
    if not body:
        return None, ""
    text = body.decode("utf-8", errors="replace")
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"') or "json" in content_type:
        try:
            data = loads_json(stripped)
        except ValueError:
            pass
        else:
            message = _message_from_json(data)
            return data, message or stripped[:300]
    excerpt = stripped[:_HTML_SCAN_LIMIT]
    if "<" in excerpt:
        excerpt = _html_excerpt(excerpt)
    excerpt = " ".join(excerpt.split())
    if len(excerpt) > 300:
        excerpt = excerpt[:297] + "..."
    return text, excerpt


# An error page is read for its <title> or its text; only its start matters, and bounding
# the scan keeps a hostile multi-megabyte body from costing more than a few milliseconds.
_HTML_SCAN_LIMIT = 65536
_TAG = re.compile(r"<[^<>]*>")  # no '<' inside: each attempt stops at the next '<', so linear


def _html_excerpt(text: str) -> str:
    lower = text.lower()
    start = lower.find("<title")
    if start != -1:
        open_end = text.find(">", start)
        close = lower.find("</title>", open_end) if open_end != -1 else -1
        if close != -1 and text[open_end + 1 : close].strip():
            return text[open_end + 1 : close]
    return _TAG.sub(" ", text)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def make_status_error(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Iterable[str | None] = (),
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for a non-success response."""
    secrets = tuple(secrets)
    decoded, detail = error_message_from_body(body, headers.get("content-type", ""))
    request_id = _safe_request_id(headers, secrets)
    message = f"{status_code} {_reason(status_code)}"
    if detail:
        message += f": {clean_server_text(detail)}"
    message += _HINTS.get(status_code, "")
    if 300 <= status_code < 400 and headers.get("location"):
        message += f" (a redirect to {headers['location']}, not followed)"
    if request_id:
        message += f" (request id: {request_id})"
    message = redact_text(message, secrets)
    if isinstance(decoded, str):
        decoded = redact_text(decoded, secrets)
    elif decoded is not None:
        try:
            decoded = redact_json(decoded, secrets)
        except ValueError:  # too deep to walk: keep it as (redacted) text
            decoded = redact_text(body.decode("utf-8", errors="replace"), secrets)
    cls = _STATUS_TO_ERROR.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": decoded,
        "headers": redact_headers(headers, secrets),
        "request_id": request_id,
        "retry_after": retry_after,
    }
    return cls(message, **kwargs)


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str | None]) -> list[tuple[str, str]]:
    """Response headers with secrets redacted by value and by shape (``www-authenticate``...)."""
    items = headers.multi_items() if isinstance(headers, httpx.Headers) else list(headers.items())
    # Header values are ASCII: the redaction's ellipsis is written as "..." here.
    return [(name, redact_text(value, secrets).replace("…", "...")) for name, value in items]


def redact_json(data: object, secrets: Iterable[str | None], _depth: int = 0) -> object:
    """Decoded JSON with every secret (in keys and values) replaced by its redacted form.

    ``ValueError`` when nested deeper than can be walked safely.
    """
    if isinstance(data, str):
        return redact_text(data, secrets)
    if _depth >= MAX_JSON_DEPTH and isinstance(data, (list, dict)):
        raise ValueError("JSON nested too deeply to redact")
    if isinstance(data, list):
        return [redact_json(item, secrets, _depth + 1) for item in data]
    if isinstance(data, dict):
        return {
            redact_text(key, secrets) if isinstance(key, str) else key: redact_json(value, secrets, _depth + 1)
            for key, value in data.items()
        }
    return data


def translate_transport_error(exc: BaseException) -> APIConnectionError:
    """Map an httpx transport failure to the SDK's error; the raw exception becomes its cause.

    httpx exceptions never reach users (API.md, "Details fixed"): the shells call this at
    the boundary, as httpx itself does for httpcore.
    """
    name = type(exc).__name__
    # httpx's text may quote the server (h11's "illegal header line: ..."): escape and cut it.
    detail = redact_text(clean_server_text(str(exc), 500)) if str(exc) else name
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            "ConnectTimeout": "connecting",
            "ReadTimeout": "waiting for data",
            "WriteTimeout": "sending",
            "PoolTimeout": "waiting for a free connection",
        }.get(name, "waiting")
        error: APIConnectionError = APITimeoutError(f"Timed out {kind} ({name}: {detail}).")
    else:
        error = APIConnectionError(f"Connection error ({name}: {detail}).")
    error.__cause__ = exc
    return error


class BudgetExceededError(NeureusError):
    """No call starts once a spending budget (``max_spend_usd``) is reached; nothing was sent.

    ``spent_usd`` is what had been spent, ``budget_usd`` the budget. Raised by a call on a
    client whose ``max_spend_usd`` is reached, and by a stream on such a client that the
    client cannot price (its spending could not be counted); in ``chat_many`` it is the
    error of each item that was not started because the run's budget was reached.
    """

    def __init__(self, message: str, *, spent_usd: float, budget_usd: float) -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd
