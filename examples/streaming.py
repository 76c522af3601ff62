"""Streaming: print a reply token by token as it arrives, then read its usage.

Run it with ``python examples/streaming.py`` (the real gateway when NEUREUS_API_KEY is
set, else the built-in emulator).
"""

from __future__ import annotations

from _setup import make_client


def main() -> None:
    client, where = make_client()
    print(where)
    with client:
        messages = [{"role": "user", "content": "Write a haiku about edge computing."}]

        # The `with` block releases the connection even if the loop stops early.
        print("\nstream -> ", end="")
        with client.ai.stream(messages, model="gpt-4o-mini") as stream:
            for token in stream:
                print(token, end="", flush=True)
        print(f"\n  ({stream.input_tokens} in / {stream.output_tokens} out tokens, log {stream.log_id})")

        # Stop after a few tokens: leaving the block closes the connection at once.
        print("\nfirst three tokens -> ", end="")
        with client.ai.stream(messages) as stream:
            for count, token in enumerate(stream, start=1):
                print(repr(token), end=" ", flush=True)
                if count == 3:
                    break
        print(f"\n  stopped early; done={stream.done}")

        # chat(..., stream=True) is the same as stream(...); until_done() collects the rest.
        text = client.ai.chat(messages, stream=True).until_done()
        print(f"\nuntil_done -> {text!r}")


if __name__ == "__main__":
    main()
