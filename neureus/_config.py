"""Client configuration, resolved once at construction into a frozen ``ClientConfig``.

All environment reads (``NEUREUS_API_KEY``, ``NEUREUS_BASE_URL``) and defaults live here.
The rules of API.md's "Clients" section are enforced here: a missing key, a key that could
break a header, or an ``http://`` URL to a host that is not loopback is refused with a
:class:`ConfigurationError` naming what to fix. No I/O beyond reading the environment.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

import httpx

from ._exceptions import ConfigurationError
from ._record import Record
from ._redact import Sealed, Secrets, escape_controls, redact_key, remember_secrets
from ._retry_policy import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "ClientConfig",
    "NotGiven",
    "TimeoutTypes",
    "check_max_spend_usd",
    "check_surface",
    "coerce_timeout",
    "header_problem",
    "is_loopback_host",
    "resolve_config",
]

DEFAULT_BASE_URL: Final = "https://app.neureus.ai"
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)
# httpx's own defaults (100 connections, 5 s pool timeout) make most of 1,000 concurrent
# streams fail with PoolTimeout; openai and anthropic use 1,000 connections for that reason.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
# API.md, "Bounded memory": the cap on a decoded JSON body and on one SSE event.
DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024


class NotGiven:
    """The type of :data:`NOT_GIVEN`: "this argument was not passed" (unlike ``None``)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""Sentinel for "not passed", so that ``timeout=None`` can mean "no timeout"."""

TimeoutTypes: TypeAlias = "float | httpx.Timeout | None"


def coerce_timeout(value: object, what: str = "timeout") -> httpx.Timeout:
    """Turn seconds, ``None`` (no limit) or an ``httpx.Timeout`` into an ``httpx.Timeout``.

    Zero is kept as zero: ``timeout=0`` means exactly that.
    """
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        return httpx.Timeout(None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ConfigurationError(
            f"{what} must be seconds as a non-negative number, None (no limit) or an httpx.Timeout; got {value!r}."
        )
    return httpx.Timeout(float(value))


def is_loopback_host(host: str) -> bool:
    """Exactly ``localhost``, 127.0.0.0/8 and ``::1``.

    Not ``*.localhost``: those names are resolved through DNS (and a resolver may answer
    anything), so a bearer token over ``http://`` to one could leave the machine.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    import ipaddress  # only for an http:// base URL: not worth its import time up front

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.version == 4:
        return address in ipaddress.IPv4Network("127.0.0.0/8")
    return address == ipaddress.IPv6Address("::1")


def _bad_header_char(text: str) -> int:
    """The index of the first character that cannot go in an HTTP header value, else -1.

    Visible ASCII, space and tab only: httpx encodes header values as ASCII (anything else
    is a ``UnicodeEncodeError`` deep in httpx) and h11 refuses control characters (a
    ``LocalProtocolError`` that used to be retried as a connection error).
    """
    for index, char in enumerate(text):
        code = ord(char)
        if (code < 0x20 and char != "\t") or code > 0x7E:
            return index
    return -1


def _describe_char(char: str) -> str:
    return f"U+{ord(char):04X}" + (" (a control character)" if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F else "")


def _check_api_key(key: Sealed) -> str:
    # The key stays sealed in this frame, which a refusal's traceback shows: the checks run
    # in a helper that returns (its frame, holding the key, is gone by the raise).
    problem = _api_key_problem(key.value)
    if problem is not None:
        raise ConfigurationError(problem)
    return key.value  # type: ignore[return-value]  # (a str: the helper checked it)


def _api_key_problem(api_key: object) -> str | None:
    if not isinstance(api_key, str):
        return f"api_key must be a string; got {type(api_key).__name__}."
    if not api_key.strip():
        return "No API key: pass api_key=... or set the NEUREUS_API_KEY environment variable."
    bad = _bad_header_char(api_key)
    if bad == -1 and " " in api_key:
        bad = api_key.index(" ")
    if bad == -1 and "\t" in api_key:
        bad = api_key.index("\t")
    if bad != -1:
        # Never the usual first-4-and-last-4: the last 4 may sit after a stray character
        # and be the start of another secret (two env values run together).
        return (
            f"The API key ({api_key[: min(4, bad)] if len(api_key) > 12 else ''}…, {len(api_key)} characters) has "
            f"{_describe_char(api_key[bad])} at position {bad}; an API key is visible ASCII "
            "with no spaces. Check NEUREUS_API_KEY for a stray newline, quote or pasted character."
        )
    return None


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*@")


def _safe_url(base_url: str) -> str:
    """``base_url`` for a message: no userinfo (a password), no query (a token)."""
    text = _USERINFO.sub(lambda m: (m.group(1) or "") + "//***@", base_url)
    return repr(text.split("?", 1)[0].split("#", 1)[0][:200])


def _check_base_url(base_url: object, allow_insecure_http: bool) -> str:
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a string; got {type(base_url).__name__}.")
    if _USERINFO.match(base_url.strip()) or "@" in base_url.split("?", 1)[0].split("#", 1)[0]:
        # httpx would turn user:pass@ into Basic auth in place of the bearer key, and show
        # the password in its own log lines.
        raise ConfigurationError(
            f"base_url {_safe_url(base_url)} has a user name or password in it (user:pass@host); "
            "pass the API key as api_key= and give the URL without credentials."
        )
    try:
        url: httpx.URL | None = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None:
        # Raised outside the handler: no __context__ holding httpx's half-built URL, whose
        # repr fails (a capture_locals traceback of this error would fail with it).
        raise ConfigurationError(f"base_url {_safe_url(base_url)} is not a valid URL.")
    if url.userinfo:
        raise ConfigurationError(f"base_url {_safe_url(base_url)} has a user name or password in it.")
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url {_safe_url(base_url)} must be an absolute http(s) URL such as {DEFAULT_BASE_URL!r}."
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback_host(url.host):
        raise ConfigurationError(
            f"base_url {_safe_url(base_url)} uses http:// to a host that is not loopback (only localhost, "
            "127.0.0.0/8 and ::1 are), so the API key would travel in clear text. Use https://, or pass "
            "allow_insecure_http=True if you really mean it."
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"base_url {_safe_url(base_url)} must not have a query or fragment.")
    return str(url).rstrip("/")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


def header_problem(name: object, value: object) -> str | None:
    """Why ``name: value`` cannot be sent as a header, or ``None`` when it can."""
    if not isinstance(name, str) or not isinstance(value, str):
        return "must map a string to a string"
    if not _TOKEN.fullmatch(name):
        return "has a name that is not a valid header name (letters, digits and !#$%&'*+.^_`|~- only)"
    bad = _bad_header_char(value)
    if bad != -1:
        return f"has {_describe_char(value[bad])} at position {bad}; header values are visible ASCII"
    return None


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError("default_headers must be a mapping of header names to values.")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            shown = name if isinstance(name, str) and _TOKEN.fullmatch(name) else escape_controls(repr(name)[:60])
            raise ConfigurationError(f"default_headers[{shown!r}] {problem}.")
        checked[name] = value
    return checked


def _check_max_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_retries must be a whole number >= 0; got {value!r}.")
    return value


def _check_deadline(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise ConfigurationError(f"deadline must be a positive number of seconds or None; got {value!r}.")
    return float(value)


def check_surface(value: object, error: type[ValueError] = ConfigurationError) -> str | None:
    """``surface`` becomes the ``x-neureus-surface`` header: a non-empty visible-ASCII string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise error(f"surface must be a non-empty string such as 'cli'; got {escape_controls(repr(value)[:60])}.")
    bad = _bad_header_char(value)
    if bad != -1:
        raise error(
            f"surface has {_describe_char(value[bad])} at position {bad}; it is sent as a header, "
            "so use visible ASCII only."
        )
    return value


def _check_max_response_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_response_bytes must be a whole number of bytes >= 1; got {value!r}.")
    return value


def check_max_spend_usd(value: object, error: type[ValueError] = ConfigurationError) -> float | None:
    """A budget: a non-negative, finite number of US dollars, or ``None`` for none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise error(f"max_spend_usd must be a non-negative number of US dollars or None; got {value!r}.")
    return float(value)


def _check_hooks(value: object) -> tuple[object, ...]:
    # The hook dispatcher checks each hook's shape; here only the container.
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ConfigurationError(f"hooks must be a list of hook objects or callables; got {type(value).__name__}.")
    return tuple(value)


def _check_retry_policy(value: object) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if not isinstance(value, RetryPolicy):
        raise ConfigurationError(f"retry_policy must be a neureus.RetryPolicy; got {type(value).__name__}.")
    return value


class ClientConfig(Record):
    """Everything a client decides at construction; ``with_options`` makes a changed copy.

    ``timeout`` is ``None`` when a caller-owned http_client keeps its own timeout.
    """

    __slots__ = (
        "_secrets",
        "allow_insecure_http",
        "api_key",
        "base_url",
        "deadline",
        "default_headers",
        "hooks",
        "max_response_bytes",
        "max_retries",
        "max_spend_usd",
        "retry_policy",
        "surface",
        "timeout",
    )

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: httpx.Timeout | None,
        max_retries: int,
        default_headers: Mapping[str, str],
        surface: str | None,
        deadline: float | None,
        allow_insecure_http: bool,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_spend_usd: float | None = None,
        hooks: tuple[object, ...] = (),
    ) -> None:
        self.api_key = api_key
        self._secrets = Secrets((api_key,))
        # Kept for by-value redaction while this configuration (its Secrets) lives: no churn
        # of BYOK keys can push a live client's own key out.
        remember_secrets((api_key,), owner=self._secrets)
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.default_headers = default_headers
        self.surface = surface
        self.deadline = deadline
        self.allow_insecure_http = allow_insecure_http
        self.retry_policy = RetryPolicy() if retry_policy is None else retry_policy
        self.max_response_bytes = max_response_bytes
        self.max_spend_usd = max_spend_usd
        self.hooks = hooks

    @property
    def is_widget_key(self) -> bool:
        """A ``pk_`` key may only chat (API.md, "Clients")."""
        return self.api_key.startswith("pk_")

    @property
    def secrets(self) -> Secrets:
        """The values that must never be shown in full (opaque: see :class:`Secrets`)."""
        return self._secrets

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, api_key={redact_key(self.api_key)!r}, "
            f"max_retries={self.max_retries}, timeout={self.timeout!r}, deadline={self.deadline!r})"
        )

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied and checked like the constructor's arguments.

        A new ``api_key`` comes :class:`Sealed`; no local here holds a key in the clear,
        since a refused option's traceback shows this frame.
        """
        key: Sealed | None = changes.pop("api_key", None)
        merged = {name: getattr(self, name) for name in self.__slots__ if name[0] != "_" and name != "api_key"}
        merged.update(changes)
        if "timeout" in changes:
            merged["timeout"] = coerce_timeout(changes["timeout"])
        return ClientConfig(
            api_key=_check_api_key(key if key is not None else Sealed(self.api_key)),
            base_url=_check_base_url(merged["base_url"], merged["allow_insecure_http"]),
            timeout=merged["timeout"],
            max_retries=_check_max_retries(merged["max_retries"]),
            default_headers=_check_headers(merged["default_headers"]),
            surface=check_surface(merged["surface"]),
            deadline=_check_deadline(merged["deadline"]),
            allow_insecure_http=bool(merged["allow_insecure_http"]),
            retry_policy=_check_retry_policy(merged["retry_policy"]),
            max_response_bytes=_check_max_response_bytes(merged["max_response_bytes"]),
            max_spend_usd=check_max_spend_usd(merged["max_spend_usd"]),
            hooks=_check_hooks(merged["hooks"]),
        )


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def resolve_config(
    *,
    api_key: Sealed | str | None,
    base_url: str | None,
    timeout: float | httpx.Timeout | NotGiven | None,
    max_retries: int,
    default_headers: Mapping[str, str] | None,
    surface: str | None,
    deadline: float | None,
    allow_insecure_http: bool,
    has_http_client: bool,
    retry_policy: RetryPolicy | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_spend_usd: float | None = None,
    hooks: object = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve constructor arguments and the environment into a checked ``ClientConfig``.

    ``api_key`` comes :class:`Sealed`, and the environment is read in place, never kept in
    a local: a refused option's traceback shows this frame, and ``os.environ`` holds
    ``NEUREUS_API_KEY`` (and whatever other secrets the process was given).
    """
    if api_key is None:
        api_key = Sealed(_environ(environ).get("NEUREUS_API_KEY") or "")
    elif not isinstance(api_key, Sealed):  # (a caller in the core or a test: sealed here)
        api_key = Sealed(api_key)
    if base_url is None:
        base_url = _environ(environ).get("NEUREUS_BASE_URL") or DEFAULT_BASE_URL
    if isinstance(timeout, NotGiven):
        # API.md: a caller-owned http_client keeps its own timeout unless one is given.
        resolved_timeout = None if has_http_client else DEFAULT_TIMEOUT
    else:
        resolved_timeout = coerce_timeout(timeout)
    return ClientConfig(
        api_key=_check_api_key(api_key),
        base_url=_check_base_url(base_url, allow_insecure_http),
        timeout=resolved_timeout,
        max_retries=_check_max_retries(max_retries),
        default_headers=_check_headers(default_headers),
        surface=check_surface(surface),
        deadline=_check_deadline(deadline),
        allow_insecure_http=bool(allow_insecure_http),
        retry_policy=_check_retry_policy(retry_policy),
        max_response_bytes=_check_max_response_bytes(max_response_bytes),
        max_spend_usd=check_max_spend_usd(max_spend_usd),
        hooks=_check_hooks(hooks),
    )
