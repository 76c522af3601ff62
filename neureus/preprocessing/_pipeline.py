"""The whole pipeline, written once as a flow, and its two entry points.

``_preprocess_flow`` runs normalize, structure, trim and (when asked) compress, and builds
the stats. It is a generator: the compress step yields each text to compress and receives
the result, so ``preprocess`` (sync driver: calls the compressor) and ``apreprocess``
(async driver: calls it, awaits the result if it is awaitable) share every line of
pipeline logic. No I/O happens here; a compressor may do some, and that is the caller's.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from .._exceptions import InvalidRequestError
from ._drive import check_compressor, drive_async, drive_sync
from ._passes import (
    DEFAULT_KEEP_TURNS,
    DEFAULT_MAX_CONTEXT_TOKENS,
    check_count,
    check_counter,
    check_system_prompt,
    compress_flow,
    load,
    materialize,
    normalize_conversation,
    normalize_text,
    structure_conversation,
    trim_conversation,
)
from ._result import PreprocessResult, PreprocessStats
from ._tokens import count_each
from ._types import AsyncCompressor, Compressor, MessageT, TokenCounter

__all__ = ["apreprocess", "preprocess"]

_NO_COMPRESSOR = (
    "compress=True needs a compressor: pass compressor=<a function from text to shorter text>, "
    "or use client.ai.preprocess(messages, compress=True) to let the gateway compress "
    "(with meta/llama-3.1-8b)."
)


def _check_compress(compress: bool, compressor: object, *, caller: str, sync: bool) -> None:
    if not compress:
        return  # a compressor given with compress=False is not used: compress is the switch
    if compressor is None:
        raise InvalidRequestError(_NO_COMPRESSOR)
    check_compressor(compressor, caller=caller, sync=sync)


def _preprocess_flow(
    messages: object,
    *,
    system_prompt: object,
    max_context_tokens: object,
    keep_turns: object,
    compress: bool,
    count_tokens: object,
) -> Generator[str, object, PreprocessResult[Any]]:
    max_tokens = check_count("max_context_tokens", max_context_tokens)
    turns = check_count("keep_turns", keep_turns)
    prompt = check_system_prompt(system_prompt)
    counter = check_counter(count_tokens)
    conversation = load(messages)
    original_messages = len(conversation.items)
    original_tokens = sum(count_each(conversation.contents, counter))

    normalize_conversation(conversation)
    # The added system message is normalized like every other one (it is always added,
    # as the gateway prepends it: see structure()).
    structure_conversation(conversation, None if prompt is None else normalize_text(prompt))
    tokens = count_each(conversation.contents, counter)
    trimmed = trim_conversation(conversation, tokens, max_tokens, turns)
    passes = ["normalize", "structure", "trim"]

    if compress:
        changed = yield from compress_flow(conversation, where=" (its index in the result)")
        contents = conversation.contents
        new_counts = count_each([contents[i] for i in changed], counter)
        for i, count in zip(changed, new_counts, strict=True):
            tokens[i] = count
        passes.append("compress")

    order = conversation.order
    stats = PreprocessStats(
        original_tokens=original_tokens,
        final_tokens=sum(map(tokens.__getitem__, order)),
        original_messages=original_messages,
        final_messages=len(order),
        trimmed=trimmed,
        compressed=bool(compress),
        passes=passes,
    )
    return PreprocessResult(messages=materialize(conversation), stats=stats)


def preprocess(
    messages: Iterable[MessageT],
    *,
    system_prompt: str | None = None,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    compress: bool = False,
    compressor: Compressor | None = None,
    count_tokens: TokenCounter | None = None,
) -> PreprocessResult[MessageT]:
    """Run the gateway's pipeline locally: normalize, structure, trim, then compress if asked.

    Args:
        messages: dicts (``{"role", "content", ...}``, extra keys kept) or ``ChatMessage``
            objects; the result holds new messages of the same kinds. Never mutated.
        system_prompt: prepended as the first system message, always (see ``structure``).
        max_context_tokens: trim only when the conversation is over this many tokens.
        keep_turns: how many non-system messages trim keeps (the most recent ones).
        compress: run the compress pass (needs ``compressor``; ignored when False).
        compressor: a sync ``str -> str`` applied to each non-system content. For an async
            one, use :func:`apreprocess`.
        count_tokens: a ``str -> int`` counter (default :func:`estimate_tokens`).

    Raises:
        InvalidRequestError: a bad message (its index is named) or argument.
        TypeError: an async compressor, or a compressor or counter returning the wrong type.

    >>> history = [
    ...     {"role": "user", "content": " Hi\\r\\n\\r\\n  \\r\\nthere "},
    ...     {"role": "system", "content": "Be brief."},
    ... ]
    >>> result = preprocess(history, system_prompt="You are Ada.")
    >>> [(m["role"], m["content"]) for m in result.messages]
    [('system', 'You are Ada.'), ('system', 'Be brief.'), ('user', 'Hi\\n\\nthere')]
    >>> result.stats.passes
    ['normalize', 'structure', 'trim']
    """
    _check_compress(compress, compressor, caller="preprocess", sync=True)
    flow = _preprocess_flow(
        messages,
        system_prompt=system_prompt,
        max_context_tokens=max_context_tokens,
        keep_turns=keep_turns,
        compress=compress,
        count_tokens=count_tokens,
    )
    return drive_sync(flow, compressor or _unused, caller="preprocess")


async def apreprocess(
    messages: Iterable[MessageT],
    *,
    system_prompt: str | None = None,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    compress: bool = False,
    compressor: Compressor | AsyncCompressor | None = None,
    count_tokens: TokenCounter | None = None,
) -> PreprocessResult[MessageT]:
    """The async twin of :func:`preprocess`: the compressor may be sync or async.

    The compressor is called once per non-system message, one at a time, in order; an
    awaitable result is awaited (works under asyncio and trio). This is the hook for
    compressing with the gateway: ``apreprocess(messages, compress=True,
    compressor=async_fn)``.

    >>> import asyncio
    >>> async def shorten(text: str) -> str:
    ...     return text[:5]
    >>> result = asyncio.run(
    ...     apreprocess([{"role": "user", "content": "Hello there"}], compress=True, compressor=shorten)
    ... )
    >>> result.messages, result.stats.passes
    ([{'role': 'user', 'content': 'Hello'}], ['normalize', 'structure', 'trim', 'compress'])
    """
    _check_compress(compress, compressor, caller="apreprocess", sync=False)
    flow = _preprocess_flow(
        messages,
        system_prompt=system_prompt,
        max_context_tokens=max_context_tokens,
        keep_turns=keep_turns,
        compress=compress,
        count_tokens=count_tokens,
    )
    return await drive_async(flow, compressor or _unused)


def _unused(text: str) -> str:
    # The flow yields only when compress is on, and then a real compressor was checked.
    raise AssertionError("no compressor was asked for")
