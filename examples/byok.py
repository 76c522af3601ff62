"""Bring your own key: store, rotate, list and delete a provider key.

Run it with ``python examples/byok.py``. On the built-in emulator (NEUREUS_API_KEY unset)
it uses a fake key. On the real gateway it needs the key to store in DEMO_OPENAI_KEY
(never write a real key in code), and skips otherwise.
"""

from __future__ import annotations

import os

from _setup import make_client


def main() -> None:
    client, where = make_client()
    print(where)
    if os.environ.get("NEUREUS_API_KEY"):
        key = os.environ.get("DEMO_OPENAI_KEY")
        if not key:
            print("Set DEMO_OPENAI_KEY to the OpenAI key to store; skipping.")
            client.close()
            return
    else:
        key = "sk-emulator-demo-key-not-real-0000"
    with client:
        status = client.ai.set_provider_key("openai", key)
        print(f"\nset:    {status.provider} configured={status.configured}")

        status = client.ai.rotate_provider_key("openai", key)  # a compromised or expired key: replace it
        print(f"rotate: {status.provider} configured={status.configured}")

        print(f"list:   {client.ai.list_providers().configured}")

        status = client.ai.delete_provider_key("openai")
        print(f"delete: {status.provider} configured={status.configured}")
        print(f"list:   {client.ai.list_providers().configured}")


if __name__ == "__main__":
    main()
