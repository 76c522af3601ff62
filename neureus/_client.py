"""``Neureus`` and ``AsyncNeureus``: construction, pool ownership, lifecycle, ``with_options``.

A client resolves its configuration once (``_config``), owns an httpx pool unless the
caller brought one (a caller-owned ``http_client`` is never closed here), and exposes the
gateway's calls as ``client.ai``. ``repr`` shows the key redacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from http.cookiejar import Cookie, CookieJar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.request import getproxies

import httpx

from ._ai import AI, AsyncAI
from ._body import ACCEPT_ENCODING
from ._config import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    NOT_GIVEN,
    ClientConfig,
    NotGiven,
    is_loopback_host,
    resolve_config,
)
from ._exceptions import ConfigurationError
from ._logs import configure_from_env
from ._redact import Sealed, redact_key
from ._retry import RetryPolicy
from ._transport import AsyncTransport, SyncTransport, lazy_transport, shared_ledger

if TYPE_CHECKING:
    from ._usage import Ledger, Usage

__all__ = ["AsyncNeureus", "Neureus"]

_HttpT = TypeVar("_HttpT", httpx.Client, httpx.AsyncClient)
_ClientT = TypeVar("_ClientT", bound="_ClientBase[Any]")


class _ClientBase(Generic[_HttpT]):
    _http_class: type[_HttpT]
    _own_http_class: type[_HttpT]  # the pool made when the caller brings none
    _config: ClientConfig
    _http: _HttpT
    _owns_http: bool
    _key_passed: bool
    # What a client shares with its with_options copies: its usage ledger, made on first use.
    _shared: dict[str, Any]

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: _HttpT | None = None,
        surface: str | None = None,
        deadline: float | None = None,
        allow_insecure_http: bool = False,
        retry_policy: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_spend_usd: float | None = None,
        hooks: Sequence[object] | None = None,
    ) -> None:
        # Crash reporters (Sentry, rich, capture_locals) show this frame's locals when a
        # refused option raises below: keep the caller's key only sealed (the keyword
        # stays, as the public signature promises).
        key = None if api_key is None else Sealed(api_key)
        del api_key
        configure_from_env()
        if http_client is not None and not isinstance(http_client, self._http_class):
            raise ConfigurationError(
                f"http_client must be an {self._http_class.__module__}.{self._http_class.__name__} "
                f"for {type(self).__name__}; got {type(http_client).__module__}.{type(http_client).__name__}."
            )
        config = resolve_config(
            api_key=key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            surface=surface,
            deadline=deadline,
            allow_insecure_http=allow_insecure_http,
            retry_policy=retry_policy,
            max_response_bytes=max_response_bytes,
            max_spend_usd=max_spend_usd,
            hooks=hooks,
            has_http_client=http_client is not None,
        )
        if http_client is None:
            http_client = self._own_http_class(
                timeout=config.timeout,
                limits=DEFAULT_LIMITS,
                follow_redirects=False,
                headers={"accept-encoding": ACCEPT_ENCODING},
                **_own_pool(self._http_class is httpx.AsyncClient, config.base_url),
            )
            owns = True
        else:
            owns = False
        self._setup(config, http_client, owns)
        self._key_passed = key is not None

    def __reduce__(self) -> tuple[Any, ...]:
        # A client pickles to its configuration (multiprocessing, Ray, Spark), never to its
        # pool. The key travels only if it was passed as api_key=; otherwise the copy reads
        # NEUREUS_API_KEY where it lands. A caller-owned http_client does not travel: the
        # copy makes its own pool (with httpx's default timeout unless one was given).
        config = self._config
        options: dict[str, Any] = {
            "api_key": config.api_key if self._key_passed else None,
            "base_url": config.base_url,
            "max_retries": config.max_retries,
            "default_headers": dict(config.default_headers) or None,
            "surface": config.surface,
            "deadline": config.deadline,
            "allow_insecure_http": config.allow_insecure_http,
            "retry_policy": config.retry_policy,
            "max_response_bytes": config.max_response_bytes,
            "max_spend_usd": config.max_spend_usd,
            "hooks": config.hooks or None,
        }
        if config.timeout is not None:
            options["timeout"] = config.timeout
        return _unpickle_client, (type(self), options)

    def _setup(self, config: ClientConfig, http: _HttpT, owns_http: bool) -> None:
        self._config = config
        self._http = http
        self._owns_http = owns_http
        if not hasattr(self, "_shared"):  # a with_options copy shares its original's ledger
            self._shared = {}

    @property
    def _ledger(self) -> Ledger:
        # Made (and its module loaded) on first use: a call, client.usage or track().
        return shared_ledger(self._shared)

    @property
    def usage(self) -> Usage:
        """What this client's calls (and its ``with_options`` copies') used and cost so far: a snapshot.

        >>> client.usage.cost_usd  # doctest: +SKIP
        0.0123
        """
        return self._ledger.snapshot()

    def track(self) -> contextlib.AbstractContextManager[Usage]:
        """Count only the calls started inside the block (concurrent tasks it starts included).

        >>> with client.track() as usage:  # doctest: +SKIP
        ...     client.ai.chat([{"role": "user", "content": "Hi"}])
        >>> usage.calls, usage.cost_usd  # doctest: +SKIP
        (1, 0.00012)

        A plain ``with`` block works for both clients; ``usage`` holds the final counts
        once the block ends.
        """
        return self._ledger.track()

    @property
    def api_key(self) -> str:
        """The API key in use (shown redacted in ``repr``)."""
        return self._config.api_key

    @property
    def base_url(self) -> str:
        """The gateway's base URL."""
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        """Retries after a failed first attempt."""
        return self._config.max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        """The per-request timeout (the caller-owned http_client's own when none was given)."""
        return self._config.timeout if self._config.timeout is not None else self._http.timeout

    @property
    def deadline(self) -> float | None:
        """The time budget of one call with all its retries and waits, in seconds."""
        return self._config.deadline

    @property
    def max_response_bytes(self) -> int:
        """The cap on a decoded JSON body and on one SSE event, in bytes (32 MiB by default)."""
        return self._config.max_response_bytes

    @property
    def max_spend_usd(self) -> float | None:
        """No new call starts once this client's spending reaches it (``None``: no budget)."""
        return self._config.max_spend_usd

    @property
    def is_closed(self) -> bool:
        """Whether the underlying connection pool is closed."""
        return self._http.is_closed

    def with_options(
        self: _ClientT,
        *,
        api_key: str | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        surface: str | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven = NOT_GIVEN,
        max_response_bytes: int | NotGiven = NOT_GIVEN,
        max_spend_usd: float | NotGiven | None = NOT_GIVEN,
        hooks: Sequence[object] | NotGiven | None = NOT_GIVEN,
    ) -> _ClientT:
        """A client with some options changed, sharing this one's connection pool.

        >>> fast = client.with_options(timeout=5, max_retries=0)  # doctest: +SKIP

        Closing the original closes the shared pool; closing the copy does not.
        """
        # As in the constructor: a refused option's traceback shows this frame.
        key = api_key if isinstance(api_key, NotGiven) else Sealed(api_key)
        del api_key
        changes = {
            name: value
            for name, value in (
                ("api_key", key),
                ("base_url", base_url),
                ("timeout", timeout),
                ("max_retries", max_retries),
                ("default_headers", default_headers),
                ("surface", surface),
                ("deadline", deadline),
                ("retry_policy", retry_policy),
                ("max_response_bytes", max_response_bytes),
                ("max_spend_usd", max_spend_usd),
                ("hooks", hooks),
            )
            if not isinstance(value, NotGiven)
        }
        clone = object.__new__(type(self))
        clone._shared = self._shared
        clone._setup(self._config.replace(**changes), self._http, False)
        clone._key_passed = self._key_passed or "api_key" in changes
        return clone

    def __repr__(self) -> str:
        if not hasattr(self, "_config"):  # its constructor failed: a traceback renders it as ``self``
            return f"{type(self).__name__}(<not configured>)"
        return (
            f"{type(self).__name__}(base_url={self._config.base_url!r}, "
            f"api_key={redact_key(self._config.api_key)!r}, max_retries={self._config.max_retries}, "
            f"timeout={self.timeout!r})"
        )


def _unpickle_client(cls: type[_ClientT], options: dict[str, Any]) -> _ClientT:
    return cls(**options)


# Loopback names that never go through a proxy (API.md, "Secrets, everywhere").
_LOOPBACK_PATTERNS = ("all://localhost", "all://127.0.0.1", "all://[::1]")


class _EmptyJar(CookieJar):
    """A cookie jar that stays empty."""

    def set_cookie(self, cookie: Cookie) -> None:
        """Keep nothing."""


class _NoCookies(httpx.Cookies):
    """The cookies of the SDK's own pool: none, ever (see :class:`_KeepsNoCookies`)."""

    def __init__(self) -> None:
        super().__init__(_EmptyJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the answer's ``Set-Cookie``, without httpx's per-answer urllib wrappers."""


_NO_COOKIES = _NoCookies()  # shared: nothing can be stored in it


class _KeepsNoCookies:
    """The SDK's own pool keeps no cookies.

    The gateway authenticates by key. A ``Set-Cookie`` from a hostile server, a proxy or a
    misconfigured gateway would otherwise ride along on every later call of the client (a
    session to fixate, an identifier to track). It also spares every answer httpx's cookie
    extraction (about 10 µs: two urllib wrapper objects per answer, cookie or not). A
    caller-owned ``http_client`` keeps its own cookie policy.
    """

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise AttributeError("The SDK's own connection pool keeps no cookies; pass your own http_client for that.")


class _OwnClient(_KeepsNoCookies, httpx.Client):
    """The sync pool a client makes when the caller brings none."""


class _OwnAsyncClient(_KeepsNoCookies, httpx.AsyncClient):
    """The async pool a client makes when the caller brings none."""


def _own_pool(asynchronous: bool, base_url: str) -> dict[str, Any]:
    """The transport (and proxy mounts) of a client-owned pool.

    Every transport is the SDK's lazy one (built on the first request: httpcore and the
    TLS context cost more than importing the SDK; fork-safe; deadline-bound). Proxies from
    the environment are mounted as httpx would, except that loopback hosts always go direct:
    a key sent over plain http:// to 127.0.0.1 must not travel to a proxy.
    """
    transport = lazy_transport(asynchronous, DEFAULT_LIMITS)
    if not getproxies():
        return {"transport": transport}
    from httpx._utils import get_environment_proxies  # httpx's own reading of *_PROXY/NO_PROXY

    mounts: dict[str, Any] = {
        pattern: None if proxy is None else lazy_transport(asynchronous, DEFAULT_LIMITS, proxy)
        for pattern, proxy in get_environment_proxies().items()
    }
    host = httpx.URL(base_url).host
    loopback = list(_LOOPBACK_PATTERNS)
    if is_loopback_host(host):
        loopback.append(f"all://[{host}]" if ":" in host else f"all://{host}")
    mounts.update(dict.fromkeys(loopback))  # None: the client's own, direct transport
    return {"transport": transport, "mounts": mounts}


class Neureus(_ClientBase[httpx.Client]):
    """The sync client of the Neureus AI Gateway.

    >>> from neureus import Neureus
    >>> with Neureus() as client:  # doctest: +SKIP
    ...     print(client.ai.chat([{"role": "user", "content": "Hello"}]).text)

    ``api_key`` defaults to ``NEUREUS_API_KEY`` (a missing key raises
    :class:`~neureus.ConfigurationError`), ``base_url`` to ``NEUREUS_BASE_URL`` or
    ``https://app.neureus.ai``. ``timeout`` is seconds or an ``httpx.Timeout`` (60 s by
    default); ``max_retries`` (2) retries connection errors, timeouts, 408, 409, 429 and
    5xx; ``deadline`` bounds one call with all its retries. ``http_client`` is a
    caller-owned ``httpx.Client``, never closed here. ``surface`` is the default
    ``x-neureus-surface``. ``http://`` to a non-loopback host is refused unless
    ``allow_insecure_http=True``. ``retry_policy`` shapes the backoff between retries.
    ``max_response_bytes`` caps a decoded JSON body and one SSE event (32 MiB);
    ``max_spend_usd`` is a spending budget; ``hooks`` are observers of every call.
    """

    _http_class = httpx.Client
    _own_http_class = _OwnClient
    ai: AI
    """The gateway's calls: ``chat``, ``stream``, ``embeddings``, ``list_models``, ..."""

    def _setup(self, config: ClientConfig, http: httpx.Client, owns_http: bool) -> None:
        super()._setup(config, http, owns_http)
        self._transport = SyncTransport(http, config, self._shared)
        self.ai = AI(self)

    def close(self) -> None:
        """Close the connection pool (unless the caller owns the http_client)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Neureus:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncNeureus(_ClientBase[httpx.AsyncClient]):
    """The async client of the Neureus AI Gateway (asyncio and trio, through anyio).

    >>> from neureus import AsyncNeureus
    >>> async with AsyncNeureus() as client:  # doctest: +SKIP
    ...     reply = await client.ai.chat([{"role": "user", "content": "Hello"}])

    Takes the same arguments as :class:`~neureus.Neureus`; ``http_client`` is a
    caller-owned ``httpx.AsyncClient``.
    """

    _http_class = httpx.AsyncClient
    _own_http_class = _OwnAsyncClient
    ai: AsyncAI
    """The gateway's calls, as coroutines (``stream`` returns an :class:`AsyncChatStream`)."""

    def _setup(self, config: ClientConfig, http: httpx.AsyncClient, owns_http: bool) -> None:
        super()._setup(config, http, owns_http)
        self._transport = AsyncTransport(http, config, self._shared)
        self.ai = AsyncAI(self)

    async def aclose(self) -> None:
        """Close the connection pool (unless the caller owns the http_client)."""
        if self._owns_http:
            await self._http.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncNeureus:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
