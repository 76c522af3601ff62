"""LangChain integration: ``ChatNeureus`` (a chat model) and ``NeureusEmbeddings``.

>>> from neureus.langchain import ChatNeureus, NeureusEmbeddings  # doctest: +SKIP
>>> ChatNeureus(model="claude-sonnet-4-6").invoke("Hello").content  # doctest: +SKIP

Needs the ``langchain`` extra (``pip install "neureus[langchain]"``). Both read
``NEUREUS_API_KEY`` / ``NEUREUS_BASE_URL`` like the clients do, or take ``api_key=`` /
``base_url=``, or a ready ``client=`` (a :class:`~neureus.Neureus`) and ``async_client=``
(an :class:`~neureus.AsyncNeureus`). ``stop`` sequences are applied on the client side:
the gateway has no stop field, so the reply is cut at the first stop sequence (a stream
stops there and its connection is closed). Tool calling is not offered: the gateway
documents no ``tools`` request field. ``with_structured_output`` uses
:meth:`neureus.AI.parse`.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.messages.ai import UsageMetadata
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import Runnable, RunnableLambda
except ImportError as exc:  # pragma: no cover - exercised by simulating the missing extra
    raise ImportError(
        'neureus.langchain needs LangChain, which is an optional extra: pip install "neureus[langchain]"'
    ) from exc

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, TypeAdapter

from ._client import AsyncNeureus, Neureus

__all__ = ["ChatNeureus", "NeureusEmbeddings"]

# The keyword that routes a bound call through client.ai.parse (see with_structured_output).
_PARSE_KEY = "neureus_parse"

_ROLES = {"system": "system", "human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}


def _text(content: Any) -> str:
    # LangChain content is a string or a list of blocks; the gateway takes text.
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _to_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    converted = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:  # tool and function results, custom roles: shown to the model as user text
            role = "user"
        converted.append({"role": role, "content": _text(message.content)})
    return converted


def _cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """The text up to the first stop sequence, and whether one was found."""
    if not stop:
        return text, False
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text, False) if cut < 0 else (text[:cut], True)


class _StopFilter:
    """Applies stop sequences to a stream of tokens, holding back only what could still
    turn into one (``max(len(stop)) - 1`` characters)."""

    def __init__(self, stop: Sequence[str] | None) -> None:
        self.stop = [s for s in stop or () if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.pending = ""
        self.stopped = False

    def feed(self, token: str) -> str:
        if not self.stop:
            return token
        self.pending += token
        text, found = _cut_at_stop(self.pending, self.stop)
        if found:
            self.stopped = True
            self.pending = ""
            return text
        if self.hold == 0:
            out, self.pending = self.pending, ""
            return out
        out, self.pending = self.pending[: -self.hold], self.pending[-self.hold :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _usage(input_tokens: int | None, output_tokens: int | None) -> UsageMetadata | None:
    if input_tokens is None and output_tokens is None:
        return None
    i, o = input_tokens or 0, output_tokens or 0
    return cast("UsageMetadata", {"input_tokens": i, "output_tokens": o, "total_tokens": i + o})


class _SchemaAdapter(TypeAdapter[Any]):  # type: ignore[misc]  # final for type checkers; works at run time
    """Asks the model for a given JSON schema; validates a JSON object, then ``build``s it
    (for pydantic v1 models, which pydantic v2's TypeAdapter cannot describe)."""

    def __init__(self, schema: dict[str, Any], build: Any = None) -> None:
        super().__init__(dict[str, Any])
        self._schema = schema
        self._build = build

    def json_schema(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._schema

    def validate_json(self, data: Any, /, **kwargs: Any) -> Any:
        value = super().validate_json(data, **kwargs)
        if self._build is None:
            return value
        try:
            return self._build(value)
        except Exception as exc:  # a pydantic v1 ValidationError: re-ask like any other
            from pydantic_core import PydanticCustomError, ValidationError

            raise ValidationError.from_exception_data(
                "response", [{"type": PydanticCustomError("v1", str(exc)), "loc": (), "input": value}]
            ) from None


class _ClientOptions(BaseModel):
    # What ChatNeureus and NeureusEmbeddings share: how to reach the gateway.
    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True, protected_namespaces=())

    api_key: SecretStr | None = None
    """The key (``None``: ``NEUREUS_API_KEY``)."""
    base_url: str | None = None
    """The gateway's URL (``None``: ``NEUREUS_BASE_URL`` or the hosted gateway)."""
    timeout: float | None = None
    """Seconds per request (``None``: the client's 60 s)."""
    max_retries: int = 2
    """Retries after a failed first attempt."""
    client: Any = Field(default=None, exclude=True)
    """A ready :class:`~neureus.Neureus` to use for sync calls."""
    async_client: Any = Field(default=None, exclude=True)
    """A ready :class:`~neureus.AsyncNeureus` to use for async calls."""

    _sync: Neureus | None = PrivateAttr(default=None)
    _async: AsyncNeureus | None = PrivateAttr(default=None)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"max_retries": self.max_retries}
        if self.api_key is not None:
            options["api_key"] = self.api_key.get_secret_value()
        if self.base_url is not None:
            options["base_url"] = self.base_url
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return options

    def _sync_client(self) -> Neureus:
        if self.client is not None:
            return self.client  # type: ignore[no-any-return]
        if self._sync is None:
            self._sync = Neureus(**self._options())
            # LangChain objects have no close(): release the pool when this one goes away.
            weakref.finalize(self, self._sync.close)
        return self._sync

    def _async_client(self) -> AsyncNeureus:
        if self.async_client is not None:
            return self.async_client  # type: ignore[no-any-return]
        if self._async is None:
            self._async = AsyncNeureus(**self._options())
        return self._async

    def close(self) -> None:
        """Close the sync client this object made (not one passed as ``client=``)."""
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        """Close both clients this object made (not ones passed in)."""
        self.close()
        if self._async is not None:
            await self._async.aclose()


class ChatNeureus(_ClientOptions, BaseChatModel):
    """A LangChain chat model on the Neureus AI Gateway.

    >>> llm = ChatNeureus(model="gpt-4o-mini", temperature=0)  # doctest: +SKIP
    >>> llm.invoke("Say hi").content  # doctest: +SKIP

    ``usage_metadata`` holds the token counts; ``response_metadata`` the ``model_name``,
    ``log_id``, ``finish_reason`` and ``cost_usd``. ``stop`` is applied on the client side.
    """

    model: str | None = Field(default=None, alias="model_name")
    """The model (``None``: the gateway's default, ``meta-llm``)."""
    temperature: float | None = None
    """0..2; ``None`` leaves it to the model."""
    max_tokens: int | None = None
    """The cap on output tokens."""
    stop: list[str] | None = None
    """Stop sequences, applied on the client side (the gateway has no stop field)."""
    streaming: bool = False
    """Whether ``invoke`` streams under the hood (callbacks then see each token)."""
    system_prompt: str | None = None
    """Sent as the gateway's ``systemPrompt``."""
    chat_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other keywords for ``client.ai.chat`` (``prefer_async``, ``surface``, ``extra_body``, ...)."""

    @property
    def _llm_type(self) -> str:
        return "neureus"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="neureus",
            ls_model_name=kwargs.get("model") or self.model or "meta-llm",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop_sequences = stop or self.stop
        if stop_sequences:
            params["ls_stop"] = stop_sequences
        return params

    def _parse_result(self, result: Any, model: str | None) -> ChatResult:
        # The reply of a structured-output call: its text, and the validated object.
        chat = self._result(result.response, None, model)
        message = chat.generations[0].message
        message.additional_kwargs["parsed"] = result.parsed
        message.usage_metadata = _usage(result.input_tokens, result.output_tokens)  # type: ignore[attr-defined]
        message.response_metadata["attempts"] = result.attempts
        return chat

    def _parse(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        adapter, attempts = kwargs.pop(_PARSE_KEY)
        keywords = self._chat_keywords(kwargs)
        result = self._sync_client().ai.parse(_to_messages(messages), adapter, max_attempts=attempts, **keywords)
        return self._parse_result(result, keywords.get("model"))

    async def _aparse(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        adapter, attempts = kwargs.pop(_PARSE_KEY)
        keywords = self._chat_keywords(kwargs)
        result = await self._async_client().ai.parse(_to_messages(messages), adapter, max_attempts=attempts, **keywords)
        return self._parse_result(result, keywords.get("model"))

    @staticmethod
    def _as_chunk(result: ChatResult) -> ChatGenerationChunk:
        message = result.generations[0].message
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=message.content,
                id=message.id,
                additional_kwargs=message.additional_kwargs,
                usage_metadata=getattr(message, "usage_metadata", None),
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )

    def _chat_keywords(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        keywords: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "system_prompt": self.system_prompt,
            **self.chat_kwargs,
        }
        keywords.update({k: v for k, v in kwargs.items() if k not in ("stream", "stop")})
        return keywords

    def _stop(self, stop: list[str] | None) -> list[str] | None:
        return stop if stop is not None else self.stop

    def _result(self, reply: Any, stop: list[str] | None, model: str | None) -> ChatResult:
        text, _ = _cut_at_stop(reply.text, self._stop(stop))
        finish_reason = reply.choices[0].finish_reason if reply.choices else None
        metadata: dict[str, Any] = {
            "model_name": (reply.model_extra or {}).get("model") or model or self.model,
            "model_provider": "neureus",
            "log_id": reply.log_id,
            "finish_reason": finish_reason,
            "cost_usd": reply.cost_usd,
        }
        message = AIMessage(
            content=text,
            id=reply.log_id,
            usage_metadata=_usage(reply.input_tokens, reply.output_tokens),
            response_metadata=metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _PARSE_KEY in kwargs:
            return self._parse(messages, kwargs)
        if self.streaming:
            from langchain_core.language_models.chat_models import generate_from_stream

            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        keywords = self._chat_keywords(kwargs)
        reply = self._sync_client().ai.chat(_to_messages(messages), **keywords)
        return self._result(reply, stop, keywords.get("model"))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _PARSE_KEY in kwargs:
            return await self._aparse(messages, kwargs)
        if self.streaming:
            from langchain_core.language_models.chat_models import agenerate_from_stream

            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        keywords = self._chat_keywords(kwargs)
        reply = await self._async_client().ai.chat(_to_messages(messages), **keywords)
        return self._result(reply, stop, keywords.get("model"))

    def _final_chunk(self, stream: Any, model: str | None, stopped: bool) -> ChatGenerationChunk:
        final = stream.final
        extra = (final.model_extra or {}) if final is not None else {}
        metadata = {
            "model_name": extra.get("model") or model or self.model,
            "model_provider": "neureus",
            "log_id": stream.log_id,
            "finish_reason": "stop" if stopped else extra.get("finishReason", "stop" if final is not None else None),
        }
        message = AIMessageChunk(
            content="",
            usage_metadata=_usage(stream.input_tokens, stream.output_tokens),
            response_metadata=metadata,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if _PARSE_KEY in kwargs:  # structured output arrives whole, once validated
            yield self._as_chunk(self._parse(messages, kwargs))
            return
        keywords = self._chat_keywords(kwargs)
        cutter = _StopFilter(self._stop(stop))
        with self._sync_client().ai.stream(_to_messages(messages), **keywords) as stream:
            for token in stream:
                text = cutter.feed(token)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
                if cutter.stopped:
                    break
            rest = cutter.flush()
            if rest:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=rest))
                if run_manager is not None:
                    run_manager.on_llm_new_token(rest, chunk=chunk)
                yield chunk
        yield self._final_chunk(stream, keywords.get("model"), cutter.stopped)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if _PARSE_KEY in kwargs:
            yield self._as_chunk(await self._aparse(messages, kwargs))
            return
        keywords = self._chat_keywords(kwargs)
        cutter = _StopFilter(self._stop(stop))
        async with self._async_client().ai.stream(_to_messages(messages), **keywords) as stream:
            async for token in stream:
                text = cutter.feed(token)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
                if cutter.stopped:
                    break
            rest = cutter.flush()
            if rest:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=rest))
                if run_manager is not None:
                    await run_manager.on_llm_new_token(rest, chunk=chunk)
                yield chunk
        yield self._final_chunk(stream, keywords.get("model"), cutter.stopped)

    def with_structured_output(
        self,
        schema: Any,
        *,
        include_raw: bool = False,
        method: str | None = None,
        strict: bool | None = None,
        max_attempts: int = 3,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable that answers with ``schema`` (a pydantic model, a TypedDict or a JSON
        schema dict), through :meth:`neureus.AI.parse`: the schema is asked for in the
        prompt and the reply validated, re-asked up to ``max_attempts`` times.

        ``method`` and ``strict`` are accepted for compatibility and change nothing (the
        gateway has neither tool calling nor a JSON mode). With ``include_raw=True`` the
        answer is ``{"raw": AIMessage, "parsed": ..., "parsing_error": None | Exception}``.
        """
        from langchain_core.utils.function_calling import convert_to_json_schema

        is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        if isinstance(schema, dict):
            adapter: Any = _SchemaAdapter(convert_to_json_schema(schema))
        elif isinstance(schema, type) and hasattr(schema, "parse_obj") and not is_model:  # pydantic.v1
            adapter = _SchemaAdapter(convert_to_json_schema(schema), schema.parse_obj)
        elif is_model or isinstance(schema, TypeAdapter):
            adapter = schema
        else:
            try:
                adapter = TypeAdapter(schema)
            except Exception:  # e.g. typing.TypedDict before 3.12: validate its JSON schema as a dict
                adapter = _SchemaAdapter(convert_to_json_schema(schema))
        try:
            declared = convert_to_json_schema(schema)
        except Exception:  # a TypeAdapter of a type LangChain cannot describe
            declared = adapter.json_schema() if isinstance(adapter, TypeAdapter) else {}
        bound = self.bind(
            ls_structured_output_format={"kwargs": {"method": method or "json_schema"}, "schema": declared},
            **{_PARSE_KEY: (adapter, max_attempts)},
            **{k: v for k, v in kwargs.items() if k != "tools"},
        )

        def answer(message: BaseMessage) -> Any:
            parsed = message.additional_kwargs.get("parsed")
            if not include_raw:
                return parsed
            return {"raw": message, "parsed": parsed, "parsing_error": None}

        return bound | RunnableLambda(answer, name="ChatNeureusStructuredOutput")


class NeureusEmbeddings(_ClientOptions, Embeddings):
    """LangChain embeddings on the Neureus AI Gateway.

    >>> NeureusEmbeddings(model="text-embedding-3-small").embed_query("hello")[:3]  # doctest: +SKIP
    """

    model: str | None = None
    """The embedding model (``None``: the gateway's default)."""
    chunk_size: int = Field(default=256, gt=0)
    """Texts per request; longer lists are sent in chunks of this size."""

    def _chunks(self, texts: list[str]) -> Iterator[list[str]]:
        for start in range(0, len(texts), self.chunk_size):
            yield texts[start : start + self.chunk_size]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        vectors: list[list[float]] = []
        for chunk in self._chunks(texts):
            vectors.extend(self._sync_client().ai.embeddings(chunk, model=self.model).embeddings)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        vectors: list[list[float]] = []
        for chunk in self._chunks(texts):
            reply = await self._async_client().ai.embeddings(chunk, model=self.model)
            vectors.extend(reply.embeddings)
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return (await self.aembed_documents([text]))[0]
