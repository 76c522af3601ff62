"""Preprocessing, locally: the gateway's 4-pass pipeline on a messy conversation.

Run it with ``python examples/preprocessing.py``: no network and no API key needed.
"""

from __future__ import annotations

import re

from neureus.preprocessing import preprocess

# Messy whitespace, Windows line ends, a system message in the middle, a long history.
history = [{"role": "user", "content": "  Hi!\r\n\r\n\r\n  \r\nMy order #1234 never arrived.  "}]
for n in range(1, 13):
    role = "assistant" if n % 2 else "user"
    history.append({"role": role, "content": f"Turn {n}: " + "details about the order. " * 100})
history.insert(6, {"role": "system", "content": "\tYou are a support agent.\n\n\n\nBe brief. "})
history.append({"role": "user", "content": "So, basically, where is it?\r\n"})


def show(title: str, messages: list[dict[str, str]]) -> None:
    print(f"{title} ({len(messages)} messages)")
    for index, message in enumerate(messages):
        text = message["content"]
        preview = repr(text if len(text) <= 48 else text[:45] + "...")
        print(f"  {index:>2} {message['role']:<9} {preview}")


show("Before", history)
result = preprocess(history, system_prompt="Answer in English.")
show("\nAfter", result.messages)
print(f"\nStats: {result.stats}")
print(f"       {result.stats!r}")


# Your own token counter: any str -> int callable (here words; tiktoken would fit too).
def count_words(text: str) -> int:
    return len(text.split())


# A simple local compressor: drop filler words and collapse the spaces they leave.
FILLER = re.compile(r"\b(?:so|basically|really|just|actually),?\s*", re.IGNORECASE)


def drop_filler(text: str) -> str:
    return re.sub(r" {2,}", " ", FILLER.sub("", text)).strip()


compressed = preprocess(
    history, max_context_tokens=1500, keep_turns=2, compress=True, compressor=drop_filler, count_tokens=count_words
)
show("\nCompressed, counted in words", compressed.messages)
print(f"\nStats: {compressed.stats}")
