"""Quickstart: one chat call, one streamed reply, and the models with their prices.

Run it with ``python examples/quickstart.py``. With NEUREUS_API_KEY set it talks to the
real gateway; without, to the built-in emulator, so it works offline.
"""

from __future__ import annotations

from _setup import make_client


def main() -> None:
    client, where = make_client()
    print(where)
    with client:
        reply = client.ai.chat(
            [{"role": "user", "content": "Explain edge computing in one sentence."}],
            model="claude-sonnet-4-6",
        )
        print(f"\nchat -> {reply.text}")
        print(f"       ({reply.input_tokens} in / {reply.output_tokens} out tokens, log {reply.log_id})")

        print("\nstream -> ", end="")
        with client.ai.stream([{"role": "user", "content": "Write a haiku about edge computing."}]) as stream:
            for token in stream:
                print(token, end="", flush=True)
        print(f"\n       ({stream.output_tokens} tokens streamed)")

        models = client.ai.list_models(provider="anthropic")
        print(f"\n{len(models)} Anthropic models:")
        for model in models:
            print(f"  {model.id:<20} ${model.input_cost_per_1k}/1k in, ${model.output_cost_per_1k}/1k out")


if __name__ == "__main__":
    main()
