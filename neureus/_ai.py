"""``client.ai``: the public calls of the gateway, for both clients.

Each method body is the same two steps: build the request spec (``_wire``, which also
runs the local checks), then send it through the transport shell with the endpoint's
parser (``_wire``), which the call's flow runs once, within the call's deadline. The
signatures and docstrings are written out for each flavour on purpose: they are the
contract, and editors and type checkers read them literally (DESIGN.md).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

import httpx

from . import _wire
from ._cost import PRICE_CACHE_SECONDS, check_cost_arguments, estimate_cost_from_models
from ._structured import ParsedChatResponse, check_parse_arguments, parse_flow

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Iterable, Iterator

    from pydantic import TypeAdapter

    from ._batch import BatchItem, BatchResult
    from ._client import AsyncNeureus, Neureus
    from ._streaming import AsyncChatStream, ChatStream
    from .preprocessing import PreprocessResult
    from .preprocessing._types import MessageT
    from .types import (
        ChatResponse,
        CostEstimate,
        EmbeddingsResponse,
        MessageParam,
        ModelList,
        ProviderKeyStatus,
        ProviderList,
        WidgetKey,
        WidgetKeyRevocation,
    )

__all__ = ["AI", "COMPRESSION_INSTRUCTION", "COMPRESSION_MODEL", "AsyncAI", "KnownProvider"]

_T = TypeVar("_T")

KnownProvider = Literal["openai", "anthropic"]
"""The BYOK providers the gateway documents; other well-formed names are accepted too."""

COMPRESSION_MODEL: Final = "meta/llama-3.1-8b"
COMPRESSION_INSTRUCTION: Final = (
    "Compress the user's text to as few words as possible while keeping its full meaning. "
    "Keep every number, name, identifier, URL and code block exactly as written. "
    "Do not add commentary, do not answer it: output only the compressed text."
)


def _kwargs(local_vars: dict[str, Any]) -> dict[str, Any]:
    # The public signatures are written out; their bodies hand every argument on as is.
    return {name: value for name, value in local_vars.items() if name not in ("self", "__class__")}


def _compression_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": COMPRESSION_INSTRUCTION}, {"role": "user", "content": text}]


class _AIBase:
    __slots__ = ("_client", "_models_cache")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._models_cache: tuple[float, ModelList] | None = None

    def _cached_models(self) -> ModelList | None:
        cached = self._models_cache
        if cached is not None and time.monotonic() - cached[0] < PRICE_CACHE_SECONDS:
            return cached[1]
        return None

    def _remember_models(self, models: ModelList) -> ModelList:
        self._models_cache = (time.monotonic(), models)
        return models


class AI(_AIBase):
    """The gateway's calls on a :class:`~neureus.Neureus` client (``client.ai``)."""

    __slots__ = ()
    _client: Neureus

    @overload
    def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: Literal[False] = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse: ...
    @overload
    def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: Literal[True],
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatStream: ...
    @overload
    def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: bool,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse | ChatStream: ...
    def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse | ChatStream:
        """Chat with a model (``POST /ai/chat``); a :class:`ChatStream` when ``stream=True``.

        >>> reply = client.ai.chat([{"role": "user", "content": "Hi"}], model="gpt-4o-mini")  # doctest: +SKIP
        >>> reply.text  # doctest: +SKIP

        ``model=None`` lets the gateway choose (``meta-llm``; ``"auto"`` routes by task).
        ``temperature`` is 0..2; ``max_tokens`` and ``system_prompt`` are sent as
        ``maxTokens``/``systemPrompt``; ``prefer_async`` asks for the batch route.
        ``compress``, ``debug`` and ``surface`` become ``x-neureus-*`` headers (``debug``
        fills ``reply.preprocessing``). ``extra_headers``/``extra_body`` are merged in;
        ``timeout`` overrides the client's for this call, and ``deadline`` bounds it with
        all its retries (for a stream: until its ``done`` event). Bad arguments raise
        :class:`~neureus.InvalidRequestError` before anything is sent.
        """
        spec = _wire.build_chat(
            self._client._config,
            messages,
            model=model,
            stream=stream,
            temperature=temperature,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            prefer_async=prefer_async,
            compress=compress,
            debug=debug,
            surface=surface,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        if spec.stream:
            from ._streaming import ChatStream  # the streaming modules load with the first stream

            return ChatStream(self._client._transport, spec)
        return self._client._transport.request(spec, _wire.parse_chat)

    def stream(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatStream:
        """Stream a chat reply token by token (``POST /ai/chat`` with ``"stream": true``).

        >>> for token in client.ai.stream([{"role": "user", "content": "Hi"}]):  # doctest: +SKIP
        ...     print(token, end="", flush=True)

        Takes the same keywords as :meth:`chat`. The call returns once the first event has
        arrived (errors before it are retried like any call); iterate the stream for tokens.
        """
        spec = _wire.build_chat(
            self._client._config,
            messages,
            model=model,
            stream=True,
            temperature=temperature,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            prefer_async=prefer_async,
            compress=compress,
            debug=debug,
            surface=surface,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        from ._streaming import ChatStream

        return ChatStream(self._client._transport, spec)

    def embeddings(self, input: str | Sequence[str], *, model: str | None = None) -> EmbeddingsResponse:
        """Embed a string or a list of strings (``POST /ai/embeddings``).

        >>> client.ai.embeddings(["a", "b"]).embeddings  # doctest: +SKIP
        [[0.01, ...], [0.02, ...]]
        """
        spec = _wire.build_embeddings(self._client._config, input, model=model)
        return self._client._transport.request(spec, _wire.parse_embeddings)

    def list_models(self, *, provider: str | None = None, type: str | None = None) -> ModelList:
        """The models the gateway routes to, with prices (``GET /ai/models``).

        >>> [m.id for m in client.ai.list_models(provider="anthropic")]  # doctest: +SKIP
        """
        spec = _wire.build_list_models(self._client._config, provider=provider, type=type)
        return self._client._transport.request(spec, _wire.parse_model_list)

    def list_providers(self) -> ProviderList:
        """The BYOK providers of this tenant (``GET /ai/providers``)."""
        spec = _wire.build_list_providers(self._client._config)
        return self._client._transport.request(spec, _wire.parse_provider_list)

    def set_provider_key(self, provider: KnownProvider | str, key: str) -> ProviderKeyStatus:
        """Store a provider key for this tenant (``PUT /ai/providers/{provider}/key``).

        The key is never logged, never echoed back, and never shown in an error.
        """
        spec = _wire.build_set_provider_key(self._client._config, provider, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    def rotate_provider_key(self, provider: KnownProvider | str, key: str) -> ProviderKeyStatus:
        """Replace a stored provider key (``POST /ai/providers/{provider}/rotate``)."""
        spec = _wire.build_rotate_provider_key(self._client._config, provider, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    def delete_provider_key(self, provider: KnownProvider | str) -> ProviderKeyStatus:
        """Remove a stored provider key (``DELETE /ai/providers/{provider}/key``)."""
        spec = _wire.build_delete_provider_key(self._client._config, provider)
        return self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    def create_widget_key(self, agent_id: str | None = None) -> WidgetKey:
        """Create a chat-only publishable key, optionally bound to an agent (``POST /ai/widget/key``)."""
        spec = _wire.build_create_widget_key(self._client._config, agent_id)
        return self._client._transport.request(spec, _wire.parse_widget_key)

    def revoke_widget_key(self, key: str) -> WidgetKeyRevocation:
        """Revoke a widget key (``DELETE /ai/widget/key``); a 204 counts as revoked."""
        spec = _wire.build_revoke_widget_key(self._client._config, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return self._client._transport.request(spec, _wire.parse_widget_key_revocation)

    def preprocess(
        self,
        messages: Sequence[MessageT],
        *,
        system_prompt: str | None = None,
        max_context_tokens: int = 6000,
        keep_turns: int = 4,
        compress: bool = False,
        count_tokens: Callable[[str], int] | None = None,
    ) -> PreprocessResult[MessageT]:
        """Run the gateway's 4-pass pipeline locally; with ``compress=True`` the gateway's
        ``meta/llama-3.1-8b`` compresses each non-system message (one chat call each).

        Without ``compress`` no request is made at all.
        """
        from .preprocessing import preprocess

        def compressor(text: str) -> str:
            return self.chat(_compression_messages(text), model=COMPRESSION_MODEL, temperature=0).text

        return preprocess(
            messages,
            system_prompt=system_prompt,
            max_context_tokens=max_context_tokens,
            keep_turns=keep_turns,
            compress=compress,
            compressor=compressor if compress else None,
            count_tokens=count_tokens,
        )

    def estimate_cost(
        self, messages: Sequence[MessageParam], *, model: str, max_output_tokens: int | None = None
    ) -> CostEstimate:
        """What a chat call would cost on ``model``, from the listed prices (cached 5 minutes).

        >>> client.ai.estimate_cost(messages, model="gpt-4o-mini", max_output_tokens=500)  # doctest: +SKIP
        CostEstimate(model='gpt-4o-mini', input_tokens=12, ...)
        """
        check_cost_arguments(messages, model=model, max_output_tokens=max_output_tokens)  # before any request
        models = self._cached_models()
        if models is None:  # not `or`: an empty ModelList is falsy, and cached all the same
            models = self._remember_models(self.list_models())
        return estimate_cost_from_models(models, messages, model=model, max_output_tokens=max_output_tokens)

    # ---- structured output (integrations) ----

    def parse(
        self,
        messages: Sequence[MessageParam],
        response_model: type[_T] | TypeAdapter[_T],
        *,
        max_attempts: int = 3,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ParsedChatResponse[_T]:
        """Chat, and validate the reply as ``response_model`` (a pydantic model or ``TypeAdapter``).

        >>> result = client.ai.parse(messages, response_model=City)  # doctest: +SKIP
        >>> result.parsed  # doctest: +SKIP
        City(name='Paris', population=2102650)

        The schema is asked for in a system message; the reply's JSON (bare or in a fenced
        block) is validated, and a reply that fails is re-asked with the validation error,
        up to ``max_attempts`` calls. ``finish_reason == "length"`` raises
        :class:`~neureus.LengthFinishReasonError`; no valid reply raises
        :class:`~neureus.OutputValidationError` (with ``.raw_replies``). Token counts and
        cost are summed over the attempts. The other keywords are those of :meth:`chat`.
        """
        keywords = _kwargs(locals())
        flow = parse_flow(messages, check_parse_arguments(response_model, max_attempts), max_attempts)
        for name in ("messages", "response_model", "max_attempts"):
            del keywords[name]
        reply: Any = None
        while True:
            try:
                conversation = flow.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            reply = self.chat(conversation, **keywords)

    # ---- bulk work ----

    def chat_many(
        self,
        inputs: Iterable[str | Sequence[MessageParam] | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_spend_usd: float | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | Callable[[BatchItem[ChatResponse]], object] | None = None,
        **chat_keywords: Any,
    ) -> BatchResult:
        """Chat over many inputs at once; a :class:`~neureus.BatchResult` in input order.

        >>> result = client.ai.chat_many(["Name a colour.", "Name a fruit."], model="gpt-4o-mini")  # doctest: +SKIP
        >>> result.texts, result.errors, result.usage.cost_usd  # doctest: +SKIP

        Each input is a str (one user message), a list of messages, or a dict of
        :meth:`chat` keywords (``messages`` included); ``chat_keywords`` apply to every
        item (an item's own dict wins). At most ``concurrency`` calls are in flight;
        ``requests_per_minute``/``tokens_per_minute`` throttle on this side; a 429 with
        ``Retry-After`` pauses every worker of the run. No new call starts once the run
        has spent ``max_spend_usd`` (those items fail with
        :class:`~neureus.BudgetExceededError`). A failed item holds its error; it never
        stops the others. With ``checkpoint="run.jsonl"`` each finished item is appended
        as it ends (flushed at once, fsync'd within 50 ms), and a rerun with the same path and inputs skips
        them. ``progress``: ``None`` shows a tqdm bar when tqdm is installed and a terminal
        or notebook is attached, ``False`` nothing, a callable gets each finished item.
        Runs on worker threads over this client: no event loop, so it works in Jupyter.
        """
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_chat(self._client._ledger, **options)
        return _bulk.batch_result(_bulk.iter_run(run, lambda payload: self.chat(**payload)), run)

    def iter_many(
        self,
        inputs: Iterable[str | Sequence[MessageParam] | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_spend_usd: float | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | Callable[[BatchItem[ChatResponse]], object] | None = None,
        **chat_keywords: Any,
    ) -> Iterator[BatchItem[ChatResponse]]:
        """Like :meth:`chat_many`, but yields each :class:`~neureus.BatchItem` as it finishes.

        >>> for item in client.ai.iter_many(prompts, concurrency=8):  # doctest: +SKIP
        ...     print(item.index, item.response.text if item.ok else item.error)

        The arguments are checked (and a checkpoint read) when it is called; items read
        back from a checkpoint come first. Leaving the loop early (``break``, Ctrl-C)
        starts no new call; calls already in flight finish on their own.
        """
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_chat(self._client._ledger, description="iter_many", **options)
        return _bulk.iter_run(run, lambda payload: self.chat(**payload))

    def embed_many(
        self, texts: Iterable[str], *, model: str | None = None, batch_size: int = 100, concurrency: int = 4
    ) -> EmbeddingsResponse:
        """Embed many texts in batches of ``batch_size``, ``concurrency`` batches at a time.

        >>> client.ai.embed_many(corpus, batch_size=100).embeddings  # doctest: +SKIP

        Returns one :class:`~neureus.EmbeddingsResponse` with a vector per text, in input
        order; the first failed batch's error is raised once the others have finished.
        """
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_embeddings(self._client._ledger, **options)
        return _bulk.embeddings_result(list(_bulk.iter_run(run, lambda payload: self.embeddings(**payload))))


class AsyncAI(_AIBase):
    """The gateway's calls on an :class:`~neureus.AsyncNeureus` client (``client.ai``)."""

    __slots__ = ()
    _client: AsyncNeureus

    @overload
    async def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: Literal[False] = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse: ...
    @overload
    async def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: Literal[True],
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> AsyncChatStream: ...
    @overload
    async def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: bool,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse | AsyncChatStream: ...
    async def chat(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        stream: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ChatResponse | AsyncChatStream:
        """Chat with a model (``POST /ai/chat``); an opened :class:`AsyncChatStream` when ``stream=True``.

        >>> reply = await client.ai.chat([{"role": "user", "content": "Hi"}])  # doctest: +SKIP

        The keywords are those of :meth:`neureus.AI.chat`; bad arguments raise
        :class:`~neureus.InvalidRequestError` before anything is sent.
        """
        spec = _wire.build_chat(
            self._client._config,
            messages,
            model=model,
            stream=stream,
            temperature=temperature,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            prefer_async=prefer_async,
            compress=compress,
            debug=debug,
            surface=surface,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        if spec.stream:
            from ._streaming import AsyncChatStream

            return await AsyncChatStream(self._client._transport, spec)
        return await self._client._transport.request(spec, _wire.parse_chat)

    def stream(
        self,
        messages: Sequence[MessageParam],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> AsyncChatStream:
        """Stream a chat reply token by token; no ``await`` needed to start iterating.

        >>> async for token in client.ai.stream(messages):  # doctest: +SKIP
        ...     print(token, end="")

        Also ``async with client.ai.stream(...) as s`` and ``s = await client.ai.stream(...)``.
        The request is sent when the stream is first awaited, entered or iterated.
        """
        spec = _wire.build_chat(
            self._client._config,
            messages,
            model=model,
            stream=True,
            temperature=temperature,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            prefer_async=prefer_async,
            compress=compress,
            debug=debug,
            surface=surface,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        from ._streaming import AsyncChatStream

        return AsyncChatStream(self._client._transport, spec)

    async def embeddings(self, input: str | Sequence[str], *, model: str | None = None) -> EmbeddingsResponse:
        """Embed a string or a list of strings (``POST /ai/embeddings``)."""
        spec = _wire.build_embeddings(self._client._config, input, model=model)
        return await self._client._transport.request(spec, _wire.parse_embeddings)

    async def list_models(self, *, provider: str | None = None, type: str | None = None) -> ModelList:
        """The models the gateway routes to, with prices (``GET /ai/models``)."""
        spec = _wire.build_list_models(self._client._config, provider=provider, type=type)
        return await self._client._transport.request(spec, _wire.parse_model_list)

    async def list_providers(self) -> ProviderList:
        """The BYOK providers of this tenant (``GET /ai/providers``)."""
        spec = _wire.build_list_providers(self._client._config)
        return await self._client._transport.request(spec, _wire.parse_provider_list)

    async def set_provider_key(self, provider: KnownProvider | str, key: str) -> ProviderKeyStatus:
        """Store a provider key for this tenant (``PUT /ai/providers/{provider}/key``)."""
        spec = _wire.build_set_provider_key(self._client._config, provider, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return await self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    async def rotate_provider_key(self, provider: KnownProvider | str, key: str) -> ProviderKeyStatus:
        """Replace a stored provider key (``POST /ai/providers/{provider}/rotate``)."""
        spec = _wire.build_rotate_provider_key(self._client._config, provider, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return await self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    async def delete_provider_key(self, provider: KnownProvider | str) -> ProviderKeyStatus:
        """Remove a stored provider key (``DELETE /ai/providers/{provider}/key``)."""
        spec = _wire.build_delete_provider_key(self._client._config, provider)
        return await self._client._transport.request(spec, functools.partial(_wire.parse_provider_key_status, spec))

    async def create_widget_key(self, agent_id: str | None = None) -> WidgetKey:
        """Create a chat-only publishable key (``POST /ai/widget/key``)."""
        spec = _wire.build_create_widget_key(self._client._config, agent_id)
        return await self._client._transport.request(spec, _wire.parse_widget_key)

    async def revoke_widget_key(self, key: str) -> WidgetKeyRevocation:
        """Revoke a widget key (``DELETE /ai/widget/key``); a 204 counts as revoked."""
        spec = _wire.build_revoke_widget_key(self._client._config, key)
        del key  # crash reporters show this frame's locals: keep no plain secret in them
        return await self._client._transport.request(spec, _wire.parse_widget_key_revocation)

    async def preprocess(
        self,
        messages: Sequence[MessageT],
        *,
        system_prompt: str | None = None,
        max_context_tokens: int = 6000,
        keep_turns: int = 4,
        compress: bool = False,
        count_tokens: Callable[[str], int] | None = None,
    ) -> PreprocessResult[MessageT]:
        """Run the gateway's 4-pass pipeline locally; ``compress=True`` uses the gateway's
        ``meta/llama-3.1-8b`` as the compressor. Without ``compress`` no request is made.
        """
        from .preprocessing import apreprocess

        async def compressor(text: str) -> str:
            reply = await self.chat(_compression_messages(text), model=COMPRESSION_MODEL, temperature=0)
            return reply.text

        return await apreprocess(
            messages,
            system_prompt=system_prompt,
            max_context_tokens=max_context_tokens,
            keep_turns=keep_turns,
            compress=compress,
            compressor=compressor if compress else None,
            count_tokens=count_tokens,
        )

    async def estimate_cost(
        self, messages: Sequence[MessageParam], *, model: str, max_output_tokens: int | None = None
    ) -> CostEstimate:
        """What a chat call would cost on ``model``, from the listed prices (cached 5 minutes)."""
        check_cost_arguments(messages, model=model, max_output_tokens=max_output_tokens)  # before any request
        models = self._cached_models()
        if models is None:
            models = self._remember_models(await self.list_models())
        return estimate_cost_from_models(models, messages, model=model, max_output_tokens=max_output_tokens)

    # ---- structured output (integrations) ----

    async def parse(
        self,
        messages: Sequence[MessageParam],
        response_model: type[_T] | TypeAdapter[_T],
        *,
        max_attempts: int = 3,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        prefer_async: bool | None = None,
        compress: bool | None = None,
        debug: bool | None = None,
        surface: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> ParsedChatResponse[_T]:
        """Chat, and validate the reply as ``response_model``; see :meth:`neureus.AI.parse`."""
        keywords = _kwargs(locals())
        flow = parse_flow(messages, check_parse_arguments(response_model, max_attempts), max_attempts)
        for name in ("messages", "response_model", "max_attempts"):
            del keywords[name]
        reply: Any = None
        while True:
            try:
                conversation = flow.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            reply = await self.chat(conversation, **keywords)

    # ---- bulk work ----

    async def chat_many(
        self,
        inputs: Iterable[str | Sequence[MessageParam] | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_spend_usd: float | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | Callable[[BatchItem[ChatResponse]], object] | None = None,
        **chat_keywords: Any,
    ) -> BatchResult:
        """Chat over many inputs at once; a :class:`~neureus.BatchResult` in input order.

        >>> result = await client.ai.chat_many(prompts, concurrency=32)  # doctest: +SKIP

        The arguments are those of :meth:`neureus.AI.chat_many`; the calls run as tasks of
        an anyio task group (asyncio or trio).
        """
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_chat(self._client._ledger, **options)
        items = [item async for item in _bulk.aiter_run(run, lambda payload: self.chat(**payload))]
        return _bulk.batch_result(items, run)

    def iter_many(
        self,
        inputs: Iterable[str | Sequence[MessageParam] | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_spend_usd: float | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | Callable[[BatchItem[ChatResponse]], object] | None = None,
        **chat_keywords: Any,
    ) -> AsyncIterator[BatchItem[ChatResponse]]:
        """Like :meth:`chat_many`, but an async iterator of items as they finish.

        >>> async with contextlib.aclosing(client.ai.iter_many(prompts)) as items:  # doctest: +SKIP
        ...     async for item in items:
        ...         print(item.index, item.ok)

        To leave the loop early, close it (``aclosing`` as above): no new call starts.
        """
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_chat(self._client._ledger, description="iter_many", **options)
        return _bulk.aiter_run(run, lambda payload: self.chat(**payload))

    async def embed_many(
        self, texts: Iterable[str], *, model: str | None = None, batch_size: int = 100, concurrency: int = 4
    ) -> EmbeddingsResponse:
        """Embed many texts in batches of ``batch_size``, ``concurrency`` batches at a time;
        one :class:`~neureus.EmbeddingsResponse` with every vector in input order."""
        options = _kwargs(locals())
        from . import _bulk

        run = _bulk.prepare_embeddings(self._client._ledger, **options)
        items = [item async for item in _bulk.aiter_run(run, lambda payload: self.embeddings(**payload))]
        return _bulk.embeddings_result(items)
