"""Embeddings: embed a few sentences and rank them by similarity to a query.

Run it with ``python examples/embeddings.py`` (the real gateway when NEUREUS_API_KEY is
set, else the built-in emulator, whose vectors are deterministic but meaningless).
"""

from __future__ import annotations

import math

from _setup import make_client


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def main() -> None:
    client, where = make_client()
    print(where)
    documents = [
        "Edge computing runs code close to the user.",
        "A croissant is a buttery French pastry.",
        "CDNs cache content in many locations worldwide.",
    ]
    with client:
        result = client.ai.embeddings(documents)  # a list in, one vector per item out
        print(f"\n{len(result.embeddings)} vectors of {len(result.embeddings[0])} dimensions (model {result.model})")

        query = client.ai.embeddings("Where does edge code run?").embeddings[0]  # a single string works too
        ranked = sorted(zip(documents, result.embeddings, strict=True), key=lambda d: -cosine(query, d[1]))
        print("\nMost similar to the query first:")
        for text, vector in ranked:
            print(f"  {cosine(query, vector):+.3f}  {text}")


if __name__ == "__main__":
    main()
