"""Bulk work: 200 prompts with ``chat_many``, a checkpoint, a budget and the usage ledger.

Run it with ``python examples/chat_many.py``. With NEUREUS_API_KEY set it talks to the
real gateway; without, to the built-in emulator, so it works offline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _setup import make_client

PROMPTS = [f"Name a colour that starts with the letter {chr(65 + i % 26)}." for i in range(200)]


def main() -> None:
    client, where = make_client()
    print(where)
    with client, tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "colours.jsonl"
        with client.track() as usage:
            result = client.ai.chat_many(
                PROMPTS,
                model="gpt-4o-mini",
                concurrency=16,
                requests_per_minute=6000,
                max_spend_usd=1.00,  # no new call starts once this run has spent a dollar
                checkpoint=checkpoint,  # each finished item is appended as it ends
            )
        print(f"{len(result)} items, {len(result.errors)} failed, ${result.usage.cost_usd:.4f} spent")
        print(f"first: {result.texts[0]!r}")
        print(f"tracked: {usage.calls} calls, {usage.input_tokens} in / {usage.output_tokens} out tokens")

        # The same call again resumes from the checkpoint: nothing is sent twice.
        again = client.ai.chat_many(PROMPTS, model="gpt-4o-mini", checkpoint=checkpoint, progress=False)
        print(f"rerun: {len(again)} items, {again.usage.calls} new calls")

        # iter_many hands items over as they finish.
        for item in client.ai.iter_many(PROMPTS[:3], model="gpt-4o-mini", progress=False):
            print(f"  #{item.index}: {item.response.text if item.ok else item.error}")

        vectors = client.ai.embed_many([f"document {i}" for i in range(250)], batch_size=100)
        print(f"embed_many: {len(vectors.embeddings)} vectors, in input order")
        print(f"client total: {client.usage.calls} calls, ${client.usage.cost_usd:.4f}")


if __name__ == "__main__":
    main()
