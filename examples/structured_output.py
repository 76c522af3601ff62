"""Structured output: ``client.ai.parse`` validates the reply as a pydantic model.

Run it with ``python examples/structured_output.py``. With NEUREUS_API_KEY set it asks the
real gateway; without, the built-in emulator, scripted with one reply that does not
validate and one that does, so you can watch the re-ask.
"""

from __future__ import annotations

import json
import os

from pydantic import BaseModel

from neureus import Neureus, OutputValidationError
from neureus.testing import FakeGateway


class City(BaseModel):
    name: str
    country: str
    population: int


def make_client() -> Neureus:
    if os.environ.get("NEUREUS_API_KEY"):
        client = Neureus()
        print(f"Using the real Neureus gateway at {client.base_url}.")
        return client
    print("NEUREUS_API_KEY is not set: using the built-in offline emulator, with two scripted replies.")
    gateway = FakeGateway()
    gateway.queue_reply('Sure! {"name": "Paris", "country": "France", "population": "about two million"}')
    fence = "`" * 3
    gateway.queue_reply(
        f"{fence}json\n" + json.dumps({"name": "Paris", "country": "France", "population": 2102650}) + f"\n{fence}"
    )
    return gateway.client()


def main() -> None:
    with make_client() as client:
        try:
            result = client.ai.parse(
                [{"role": "user", "content": "The largest city in France."}], City, model="gpt-4o-mini", temperature=0
            )
        except OutputValidationError as exc:
            print(f"no valid reply in {exc.attempts} attempts: {exc.errors[-1].splitlines()[0]}")
            return
        city = result.parsed
        print(f"{city.name} ({city.country}): population {city.population:,}")
        print(f"{result.attempts} attempt(s), {result.input_tokens} input tokens in all")


if __name__ == "__main__":
    main()
