"""The loopback emulator the integration suites talk to (one per session).

The emulator echoes prompts, which no schema accepts; for the structured-output tests it
answers a schema request (the system message ``client.ai.parse`` writes) with an example
object built from that schema, so the whole path (prompt, HTTP, extraction, validation)
runs for real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from neureus.testing import EmulatorServer, FakeGateway

SCHEMA_PROMPT = "Answer with a single JSON value that matches this JSON Schema"


def example_of(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value matching a simple JSON schema (objects, arrays, scalars, refs, anyOf)."""
    if "$ref" in schema:
        return example_of(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_of(options[0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {name: example_of(sub, defs) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_of(schema.get("items", {"type": "string"}), defs)]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "null": None}[kind]


class SchemaAwareGateway(FakeGateway):
    def respond(self, recorded: Any) -> Any:
        body = recorded.json if recorded.path == "/ai/chat" else None
        messages = body.get("messages") if isinstance(body, dict) else None
        if messages and str(messages[0].get("content", "")).startswith(SCHEMA_PROMPT):
            schema = json.loads(messages[0]["content"].split("\n", 1)[1])
            self.queue_reply("```json\n" + json.dumps(example_of(schema, schema.get("$defs", {}))) + "\n```")
        return super().respond(recorded)


GATEWAY = SchemaAwareGateway()
SERVER = EmulatorServer(GATEWAY)


@pytest.fixture(scope="session", autouse=True)
def emulator() -> Iterator[EmulatorServer]:
    with SERVER:
        yield SERVER
