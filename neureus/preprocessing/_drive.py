"""The two drivers of a compress flow: the only code that calls a compressor.

A flow (see ``_passes.compress_flow`` and ``_pipeline._preprocess_flow``) is a generator
that yields each text to compress, receives the compressed text (``sent = yield text``)
and finally returns its result. Every decision lives in the flow; a driver only calls the
compressor and, in the async flavour, awaits what it returned. The drivers do no I/O of
their own: whatever the compressor does (a local function, a call to the gateway) is the
caller's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any, TypeVar

__all__ = ["check_compressor", "drive_async", "drive_sync", "is_async_callable"]

_R = TypeVar("_R")


def is_async_callable(obj: object) -> bool:
    """Whether calling ``obj`` gives an awaitable it declares: ``async def``, a partial of one,
    or an object whose ``__call__`` is ``async def``."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    return callable(obj) and inspect.iscoroutinefunction(type(obj).__call__)


def _async_refusal(caller: str) -> TypeError:
    return TypeError(
        f"{caller}() got an async compressor; it only runs sync ones. Use "
        "`await apreprocess(messages, compress=True, compressor=...)` instead "
        "(or `await client.ai.preprocess(messages, compress=True)` on AsyncNeureus)."
    )


def check_compressor(compressor: object, *, caller: str, sync: bool) -> None:
    """Refuse, before any work, a compressor that is not callable or (for ``sync``) is async."""
    if not callable(compressor):
        raise TypeError(
            f"compressor must be a callable that takes a text and returns a shorter text; "
            f"got {type(compressor).__name__}."
        )
    if sync and is_async_callable(compressor):
        raise _async_refusal(caller)


def drive_sync(flow: Generator[str, object, _R], compressor: Callable[[str], Any], *, caller: str) -> _R:
    """Run ``flow`` to its end, calling ``compressor`` for each text it yields.

    A compressor that returns an awaitable (a plain function wrapping an ``async def``) is
    refused with a ``TypeError`` pointing to ``apreprocess``; a coroutine it created is
    closed first, so Python does not warn that it was never awaited.
    """
    sent: object = None
    try:
        while True:
            try:
                text = flow.send(sent)
            except StopIteration as stop:
                result: _R = stop.value
                return result
            sent = compressor(text)
            if inspect.isawaitable(sent):
                if inspect.iscoroutine(sent):
                    sent.close()
                raise _async_refusal(caller)
    finally:
        flow.close()


async def drive_async(flow: Generator[str, object, _R], compressor: Callable[[str], Any]) -> _R:
    """Run ``flow`` to its end, calling ``compressor`` for each text and awaiting its result
    when it is awaitable, so sync and async compressors both work (under asyncio or trio)."""
    sent: object = None
    try:
        while True:
            try:
                text = flow.send(sent)
            except StopIteration as stop:
                result: _R = stop.value
                return result
            sent = compressor(text)
            if inspect.isawaitable(sent):
                sent = await sent
    finally:
        flow.close()
