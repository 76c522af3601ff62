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
    └── InvalidRequestError (also ValueError)

No I/O happens here: a response arrives as status, headers and body bytes, and every
message passes through :func:`neureus._redact.redact_text` before it is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._redact import redact_text

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
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
    "make_status_error",
    "redact_json",
    "request_id_from_headers",
    "translate_transport_error",
]


class NeureusError(Exception):
    """The base of every error this SDK raises on purpose."""


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
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.headers = httpx.Headers(headers or {})
        self.request_id = request_id
        self.retry_after = retry_after


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
        self.request_id = request_id

    @classmethod
    def for_response(cls, message: str, response: httpx.Response) -> APIResponseValidationError:
        """Build one from a read response, quoting the start of its body."""
        secrets = _request_secrets(response)
        excerpt = redact_text(response.content[:200].decode("utf-8", errors="replace"), secrets)
        request_id = request_id_from_headers(response.headers)
        full = f"{message}: {excerpt!r}"
        if request_id:
            full += f" (request id: {request_id})"
        return cls(redact_text(full, secrets), status_code=response.status_code, body=excerpt, request_id=request_id)


def _request_secrets(response: httpx.Response) -> tuple[str, ...]:
    """The secrets the request behind ``response`` carried: its bearer key and a body ``key``."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand has no request
        return ()
    secrets: list[str] = []
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        secrets.append(auth[7:])
    if b'"key"' in request.content:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            secrets.append(body["key"])
    return tuple(secrets)


class StreamError(APIError):
    """The gateway sent an error in the middle of a stream.

    ``error_type`` is the error's type or code when the gateway named one.
    """

    error_type: str | None

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        super().__init__(message)
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


def _message_from_json(data: object) -> str | None:
    # The common shapes: {"error": "msg"}, {"error": {"message": "msg", "type": ...}},
    # {"message": "msg"}, {"detail": "msg"}, {"errors": [{"message": ...}]}.
    if isinstance(data, str):
        return data or None
    if isinstance(data, list):
        parts = [m for m in (_message_from_json(item) for item in data) if m]
        return "; ".join(parts) or None
    if not isinstance(data, dict):
        return None
    for key in ("error", "message", "detail", "errors", "error_description", "msg"):
        if key in data:
            found = _message_from_json(data[key])
            if found:
                return found
    return None


def error_message_from_body(body: bytes, content_type: str = "") -> tuple[object, str]:
    """Decode an error body; return ``(decoded body, readable message)``.

    JSON bodies are searched for a message in any common shape. A non-JSON body (an HTML
    page from a proxy, plain text) gives a short text excerpt with the tags stripped.
    """
    if not body:
        return None, ""
    text = body.decode("utf-8", errors="replace")
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"') or "json" in content_type:
        try:
            data = json.loads(stripped)
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
    request_id = request_id_from_headers(headers)
    message = f"{status_code} {_reason(status_code)}"
    if detail:
        message += f": {detail}"
    message += _HINTS.get(status_code, "")
    if 300 <= status_code < 400 and headers.get("location"):
        message += f" (a redirect to {headers['location']}, not followed)"
    if request_id:
        message += f" (request id: {request_id})"
    message = redact_text(message, secrets)
    if isinstance(decoded, str):
        decoded = redact_text(decoded, secrets)
    elif decoded is not None:
        decoded = redact_json(decoded, secrets)
    cls = _STATUS_TO_ERROR.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": decoded,
        "headers": headers,
        "request_id": request_id,
        "retry_after": retry_after,
    }
    return cls(message, **kwargs)


def redact_json(data: object, secrets: tuple[str | None, ...]) -> object:
    """Decoded JSON with every secret (in keys and values) replaced by its redacted form."""
    if isinstance(data, str):
        return redact_text(data, secrets)
    if isinstance(data, list):
        return [redact_json(item, secrets) for item in data]
    if isinstance(data, dict):
        return {
            redact_text(key, secrets) if isinstance(key, str) else key: redact_json(value, secrets)
            for key, value in data.items()
        }
    return data


def translate_transport_error(exc: BaseException) -> APIConnectionError:
    """Map an httpx transport failure to the SDK's error; the raw exception becomes its cause.

    httpx exceptions never reach users (API.md, "Details fixed"): the shells call this at
    the boundary, as httpx itself does for httpcore.
    """
    name = type(exc).__name__
    detail = redact_text(str(exc)) if str(exc) else name
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
