"""``FakeGateway``: the in-process emulator's state, and its clients.

One handler serves both clients through ``httpx.MockTransport``; the same routes are
served over real HTTP by :mod:`neureus.testing._server`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl

import anyio
import httpx

from .._client import AsyncNeureus, Neureus
from .._config import DEFAULT_TIMEOUT
from .._redact import redact_key
from .._retry_policy import RetryPolicy
from ._routes import DEFAULT_MODELS, EmulatorResponse, error_response, json_response, route
from ._sse import BreakConnection, Pause, StreamScript

__all__ = ["FailureKind", "FakeGateway", "RecordedRequest"]

FailureKind = Literal["connect", "timeout", "read", "reset"]

DEFAULT_BASE_URL = "https://gateway.neureus.test"
DEFAULT_API_KEY = "nru_test_0000000000000000key"
# Tests should not sleep for real seconds: retries wait a few milliseconds at most.
FAST_RETRIES = RetryPolicy(initial_wait=0.001, max_wait=0.004)


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received (``headers`` names are lowercase)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` when empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def api_key(self) -> str:
        """The bearer key the request carried ("" when none)."""
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path}, key={redact_key(self.api_key)!r})"


@dataclasses.dataclass
class _Interception:
    times: int
    path: str | None
    response: EmulatorResponse | None = None
    failure: FailureKind | None = None


class _ChunkStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body fed chunk by chunk, with pauses and connection breaks."""

    def __init__(self, gateway: FakeGateway, chunks: Iterator[bytes | Pause | BreakConnection]) -> None:
        self._gateway = gateway
        self._chunks = chunks
        self._closed = False
        with gateway._lock:
            gateway.open_streams += 1

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self._closed:
                raise httpx.ReadError("emulated: the stream was closed")
            if isinstance(chunk, Pause):
                time.sleep(chunk.seconds)
            elif isinstance(chunk, BreakConnection):
                raise httpx.ReadError(str(chunk))
            else:
                self._gateway.chunks_sent += 1
                yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: a stream abandoned early then leaves
        # nothing half-run for the garbage collector (which trio reports).
        return self

    async def __anext__(self) -> bytes:
        for chunk in self._chunks:
            if self._closed:
                # As a closed socket would: reading after close fails.
                raise httpx.ReadError("emulated: the stream was closed")
            if isinstance(chunk, Pause):
                await anyio.sleep(chunk.seconds)
            elif isinstance(chunk, BreakConnection):
                raise httpx.ReadError(str(chunk))
            else:
                self._gateway.chunks_sent += 1
                return chunk
        raise StopAsyncIteration

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with self._gateway._lock:
                self._gateway.open_streams -= 1

    async def aclose(self) -> None:
        self.close()


class FakeGateway:
    """An in-process emulator of every gateway endpoint, for tests and offline demos.

    >>> from neureus.testing import FakeGateway
    >>> gateway = FakeGateway()
    >>> gateway.queue_reply("Hi there!")
    >>> with gateway.client() as client:
    ...     client.ai.chat([{"role": "user", "content": "Hello"}]).text
    'Hi there!'
    >>> gateway.last_request.json["messages"]
    [{'role': 'user', 'content': 'Hello'}]

    It accepts any non-empty bearer key (or only ``valid_keys`` when given), keeps BYOK
    state per key, holds ``pk_`` widget keys to chat, streams replies token by token, and
    can be told to fail: :meth:`queue_error` for HTTP statuses, :meth:`queue_failure` for
    network faults, :meth:`queue_stream` for cut, broken or erroring streams.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        valid_keys: Sequence[str] | None = None,
        models: Sequence[dict[str, Any]] | None = None,
        strict_models: bool = False,
        embeddings_shape: Literal["embeddings", "data_objects", "data_lists", "embedding"] = "embeddings",
        providers_as_strings: bool = False,
    ) -> None:
        self.api_key = api_key
        """The key :meth:`client` and :meth:`async_client` use by default."""
        self.valid_keys = None if valid_keys is None else set(valid_keys)
        """When set, only these keys (and widget keys made here) are accepted."""
        self.models: list[dict[str, Any]] = [dict(m) for m in (models if models is not None else DEFAULT_MODELS)]
        """The models ``/ai/models`` lists (wire shape, camelCase)."""
        self.strict_models = strict_models
        """Answer 404 to a chat with a model not in :attr:`models`."""
        self.embeddings_shape = embeddings_shape
        """Which of the four embeddings shapes to answer with."""
        self.providers_as_strings = providers_as_strings
        """Answer ``/ai/providers`` with bare strings instead of objects."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in order."""
        self.provider_keys: dict[str, dict[str, str]] = {}
        """BYOK state: API key -> provider -> stored key."""
        self.widget_keys: dict[str, dict[str, Any]] = {}
        """Live widget keys -> their tenant and agent."""
        self.revoked_widget_keys: set[str] = set()
        self.open_streams = 0
        """Streamed bodies handed out and not yet closed (in-process transport)."""
        self.chunks_sent = 0
        """Body chunks of streamed replies handed to a client so far."""
        self._replies: deque[str | StreamScript] = deque()
        self._interceptions: deque[_Interception] = deque()
        self._lock = threading.Lock()

    # -- scripting -----------------------------------------------------------------------

    def queue_reply(self, text: str) -> None:
        """The next chat replies with ``text`` (streamed word by word when streaming)."""
        with self._lock:
            self._replies.append(text)

    def queue_stream(self, tokens: Sequence[str], **options: Any) -> None:
        """The next chat streams exactly ``tokens``; ``options`` are :class:`StreamScript`'s."""
        with self._lock:
            self._replies.append(StreamScript(tokens=list(tokens), **options))

    def queue_error(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """The next ``times`` requests (to ``path``, if given) get this status.

        ``body`` is sent as JSON, or as is when it is ``bytes`` (an HTML page, say); by
        default an ``{"error": {"message", "type"}}`` object.
        """
        if body is None:
            response = error_response(status, f"Emulated error {status}.", "emulated_error")
        elif isinstance(body, bytes):
            response = EmulatorResponse(status, {"content-type": "text/html"}, body)
        else:
            response = json_response(status, body)
        response.headers.update(headers or {})
        with self._lock:
            self._interceptions.append(_Interception(times, path, response=response))

    def queue_failure(self, kind: FailureKind = "connect", *, times: int = 1, path: str | None = None) -> None:
        """The next ``times`` requests fail at the network level, before any answer."""
        with self._lock:
            self._interceptions.append(_Interception(times, path, failure=kind))

    def reset(self) -> None:
        """Forget recorded requests, queued replies and failures, and all state."""
        with self._lock:
            self.requests.clear()
            self._replies.clear()
            self._interceptions.clear()
            self.provider_keys.clear()
            self.widget_keys.clear()
            self.revoked_widget_keys.clear()

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (``AssertionError`` when there is none)."""
        if not self.requests:
            raise AssertionError("The emulator has received no request.")
        return self.requests[-1]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for ``path``."""
        return [r for r in self.requests if r.path == path]

    def _next_reply(self) -> str | StreamScript | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def _intercept(self, path: str) -> _Interception | None:
        with self._lock:
            for item in self._interceptions:
                if item.path is None or item.path == path:
                    item.times -= 1
                    if item.times <= 0:
                        self._interceptions.remove(item)
                    return item
        return None

    # -- serving -------------------------------------------------------------------------

    def respond(self, recorded: RecordedRequest) -> EmulatorResponse | FailureKind:
        """Record a request and answer it (or name the network failure to emulate)."""
        with self._lock:
            self.requests.append(recorded)
        interception = self._intercept(recorded.path)
        if interception is not None:
            if interception.failure is not None:
                return interception.failure
            assert interception.response is not None
            return dataclasses.replace(interception.response, headers=dict(interception.response.headers))
        return route(self, recorded)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler (serves sync and async clients alike)."""
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(parse_qsl(request.url.query.decode())),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.content,
        )
        answer = self.respond(recorded)
        if isinstance(answer, str):
            raise _FAILURES[answer](f"emulated network failure ({answer})", request=request)
        if isinstance(answer.body, bytes):
            return httpx.Response(answer.status, headers=answer.headers, content=answer.body)
        return httpx.Response(answer.status, headers=answer.headers, stream=_ChunkStream(self, answer.body))

    def client(self, **options: Any) -> Neureus:
        """A :class:`~neureus.Neureus` client wired to this emulator; ``close()`` closes its pool."""
        owns = "http_client" not in options
        client = Neureus(**self._client_options(options, httpx.Client))
        client._owns_http = owns
        return client

    def async_client(self, **options: Any) -> AsyncNeureus:
        """An :class:`~neureus.AsyncNeureus` client wired to this emulator; ``aclose()`` closes its pool."""
        owns = "http_client" not in options
        client = AsyncNeureus(**self._client_options(options, httpx.AsyncClient))
        client._owns_http = owns
        return client

    def _client_options(self, options: dict[str, Any], http_class: type[Any]) -> dict[str, Any]:
        options.setdefault("api_key", self.api_key)
        options.setdefault("base_url", DEFAULT_BASE_URL)
        options.setdefault("retry_policy", FAST_RETRIES)
        if "http_client" not in options:
            options["http_client"] = http_class(
                transport=httpx.MockTransport(self.handle), timeout=options.get("timeout", DEFAULT_TIMEOUT)
            )
        return options

    def __repr__(self) -> str:
        return f"FakeGateway({len(self.requests)} requests, {len(self._replies)} queued replies)"


_FAILURES: dict[str, type[httpx.TransportError]] = {
    "connect": httpx.ConnectError,
    "timeout": httpx.ReadTimeout,
    "read": httpx.ReadError,
    "reset": httpx.RemoteProtocolError,
}
