"""Reading a stream to its end in the security suites, in the flavour under test.

One helper for both suites that drain streams (test_secrets, test_traceback_locals), so
they read it the same way. It does not pick the flavour from the stream: the sync flavour
reads a :class:`ChatStream` with ``with`` and ``for``, the async one an
:class:`AsyncChatStream` with ``async with`` and ``async for``, and a stream of the other
flavour fails the test instead of being read the way that happens to work.
"""

from __future__ import annotations

from typing import Any

from neureus import AsyncChatStream, ChatStream


async def drain(api: Any, stream: object) -> list[str]:
    """Every token of ``stream``, read inside its context manager (which closes it)."""
    if api.is_async:
        if not isinstance(stream, AsyncChatStream):
            raise AssertionError(f"the async client's stream() returned {type(stream).__name__}")
        async with stream:
            return [token async for token in stream]
    if not isinstance(stream, ChatStream):
        raise AssertionError(f"the sync client's stream() returned {type(stream).__name__}")
    with stream:
        return list(stream)
