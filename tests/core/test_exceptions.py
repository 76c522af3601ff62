from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import neureus
from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from neureus._exceptions import error_message_from_body, make_status_error, translate_transport_error


def test_the_tree_of_api_md() -> None:
    assert issubclass(neureus.APIError, neureus.NeureusError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, neureus.APIError)
    assert issubclass(neureus.StreamError, neureus.APIError)
    assert issubclass(neureus.IncompleteStreamError, neureus.APIError)
    assert issubclass(neureus.WidgetKeyScopeError, neureus.NeureusError)
    for cls in (neureus.ConfigurationError, neureus.InvalidRequestError):
        assert issubclass(cls, neureus.NeureusError) and issubclass(cls, ValueError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_status_table(status: int, cls: type[APIStatusError]) -> None:
    error = make_status_error(status, {}, b"")
    assert type(error) is cls
    assert error.status_code == status


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "model overloaded"}',
        b'{"error": {"message": "model overloaded", "type": "overloaded"}}',
        b'{"message": "model overloaded"}',
        b'{"detail": "model overloaded"}',
        b'{"errors": [{"message": "model overloaded"}]}',
    ],
)
def test_json_error_shapes_give_the_message(body: bytes) -> None:
    error = make_status_error(503, {"content-type": "application/json"}, body)
    assert "model overloaded" in str(error)
    assert isinstance(error.body, dict)


def test_html_error_page_gives_a_readable_message() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    error = make_status_error(502, {"content-type": "text/html"}, page)
    assert "502 Bad Gateway" in str(error)
    assert "<html>" not in str(error)
    assert isinstance(error.body, str)


def test_html_without_title_and_long_text() -> None:
    _, message = error_message_from_body(b"<p>" + b"x" * 1000 + b"</p>")
    assert len(message) <= 300 and "<p>" not in message
    assert error_message_from_body(b"") == (None, "")
    data, message = error_message_from_body(b"{not json", "application/json")
    assert data == "{not json" and message == "{not json"


def test_request_id_and_headers() -> None:
    error = make_status_error(500, {"x-request-id": "req_1", "cf-ray": "ray"}, b"{}")
    assert error.request_id == "req_1"
    assert "req_1" in str(error)
    assert make_status_error(500, {"cf-ray": "ray_9"}, b"").request_id == "ray_9"
    assert make_status_error(500, {}, b"").request_id is None
    assert isinstance(error.headers, httpx.Headers)


def test_rate_limit_carries_retry_after() -> None:
    error = make_status_error(429, {}, b"", retry_after=2.5)
    assert isinstance(error, RateLimitError) and error.retry_after == 2.5


def test_echoed_secrets_are_redacted_in_message_and_body() -> None:
    secret = "sk-proj-SECRETSECRET1234"
    body = f'{{"error": {{"message": "bad key {secret}", "echo": ["{secret}"]}}}}'.encode()
    error = make_status_error(400, {}, body, secrets=[secret])
    assert secret not in str(error)
    assert secret not in repr(error.body)
    text_error = make_status_error(400, {}, f"bad {secret}".encode(), secrets=[secret])
    assert secret not in str(text_error.body)


def test_401_hints_at_the_key_variable() -> None:
    assert "NEUREUS_API_KEY" in str(make_status_error(401, {}, b""))


def test_transport_errors_are_translated() -> None:
    assert type(translate_transport_error(httpx.ReadTimeout("x"))) is APITimeoutError
    assert "connecting" in str(translate_transport_error(httpx.ConnectTimeout("x")))
    assert type(translate_transport_error(httpx.ConnectError("refused"))) is APIConnectionError
    assert "ConnectError" in str(translate_transport_error(httpx.ConnectError("")))


def test_response_validation_error_quotes_the_body() -> None:
    response = httpx.Response(200, content=b"<html>oops</html>", headers={"x-request-id": "r1"})
    error = APIResponseValidationError.for_response("chat: not JSON", response)
    assert "<html>oops" in str(error) and error.request_id == "r1" and error.status_code == 200


# --- 0.2: hostile answers ---------------------------------------------------------------

KEY = "ZZq7SECRETplainApiKey0123456789abcdef"


def test_transport_error_text_is_escaped_and_cut() -> None:
    error = translate_transport_error(httpx.RemoteProtocolError("illegal header line: b'\\x1b[2J" + "x" * 5000 + "\n'"))
    assert "\n" not in str(error) and "\x1b" not in str(error) and len(str(error)) < 700


def test_status_error_headers_and_request_id_are_redacted_by_value() -> None:
    headers = httpx.Headers([("www-authenticate", f'Bearer token="{KEY}"'), ("x-request-id", KEY), ("set-cookie", "a")])
    error = make_status_error(401, headers, b'{"error": "no"}', secrets=(KEY,))
    assert KEY not in repr(error.headers) and KEY not in str(error) and KEY not in str(error.request_id)
    assert error.headers["set-cookie"] == "a" and error.request_id == "ZZq7...cdef".replace("...", "…")


def test_deep_json_error_bodies_keep_a_text_body() -> None:
    body = b'{"error": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    error = make_status_error(503, {}, body, secrets=())
    assert isinstance(error.body, str) and error.status_code == 503
    decoded, message = error_message_from_body(b"[" * 300 + b'"deep"' + b"]" * 300)
    assert isinstance(decoded, list) and "deep" not in message  # not searched past the depth cap


def test_a_request_id_is_escaped_whoever_builds_the_error() -> None:
    from neureus import APIResponseValidationError, RateLimitError

    for error in (
        APIResponseValidationError("bad stream", status_code=200, request_id="r\x1b[2J\n"),
        RateLimitError("429", status_code=429, request_id="r\x1b[2J\n"),
    ):
        assert error.request_id == "r\\x1b[2J\\n"


def test_the_secrets_of_a_request_the_sdk_did_not_build_are_read_from_it() -> None:
    from neureus._exceptions import request_secrets

    body = b'{"key": "sk-hand-built-0123456789"}'
    request = httpx.Request(
        "PUT", "https://gw.test/x", headers={"authorization": "Bearer nru_hand_0123456789"}, content=body
    )
    assert request_secrets(httpx.Response(200, request=request)) == ("nru_hand_0123456789", "sk-hand-built-0123456789")
    plain = httpx.Request("GET", "https://gw.test/x", content=b'{"key": 5}')
    assert request_secrets(httpx.Response(200, request=plain)) == ()
    broken = httpx.Request("PUT", "https://gw.test/x", content=b'{"key": "x"' + b"[" * 10)
    assert request_secrets(httpx.Response(200, request=broken)) == ()

    def stream() -> Iterator[bytes]:
        yield b'{"key": "sk-never-read-0123456789"}'

    unread = httpx.Request("PUT", "https://gw.test/x", content=stream())
    assert request_secrets(httpx.Response(200, request=unread)) == ()
    assert request_secrets(httpx.Response(200)) == ()  # built by hand: no request at all
