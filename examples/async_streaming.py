"""Async streaming with asyncio: the three ways to hold an ``AsyncChatStream``, and
several requests at once.

Run it with ``python examples/async_streaming.py`` (the real gateway when NEUREUS_API_KEY
is set, else the built-in emulator). The same code runs under trio.
"""

from __future__ import annotations

import asyncio

from _setup import make_async_client

MESSAGES = [{"role": "user", "content": "Name three uses of edge computing."}]


async def main() -> None:
    client, where = make_async_client()
    print(where)
    async with client:
        # 1. Iterate directly: no await needed to start.
        print("\nasync for -> ", end="")
        async for token in client.ai.stream(MESSAGES):
            print(token, end="", flush=True)
        print()

        # 2. `async with`: the connection is released when the block is left.
        print("async with -> ", end="")
        async with client.ai.stream(MESSAGES, model="claude-haiku-4-5") as stream:
            async for token in stream:
                print(token, end="", flush=True)
        print(f"\n  ({stream.output_tokens} tokens, log {stream.log_id})")

        # 3. `await` opens the stream (errors before the first event are raised here).
        stream = await client.ai.stream(MESSAGES)
        print(f"await -> opened (HTTP {stream.response.status_code}); text: {await stream.until_done()!r}")

        # Several calls at once share one connection pool.
        questions = ["What is a CDN?", "What is latency?", "What is a POP?"]
        replies = await asyncio.gather(*(client.ai.chat([{"role": "user", "content": q}]) for q in questions))
        for question, reply in zip(questions, replies, strict=True):
            print(f"gather: {question} -> {reply.text}")


if __name__ == "__main__":
    asyncio.run(main())
