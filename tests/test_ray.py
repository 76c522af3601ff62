"""``neureus.ray.ChatMany``: the map_batches callable, alone and on a local Ray cluster
(2 CPUs, no dashboard, loopback only) against the emulator on 127.0.0.1."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neureus import ConfigurationError
from neureus.ray import OUTPUT_COLUMNS, ChatMany
from neureus.testing import EmulatorServer, FakeGateway

pytestmark = pytest.mark.network

KEY = "nru_local_0123456789"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ray_chat_many.py"


def said(text: str) -> str:
    return f"Hello from the Neureus emulator! You said: {text}"


def test_chat_many_runs_a_batch_and_adds_the_columns(server: EmulatorServer, gateway: FakeGateway) -> None:
    mapper = ChatMany(api_key=KEY, base_url=server.base_url, client_options={"max_retries": 0}, model="claude-opus-4-8")
    gateway.queue_error(400)
    out = mapper({"prompt": ["a", "b", "c"], "id": [1, 2, 3]})
    assert set(out) == {"prompt", "id", *OUTPUT_COLUMNS}
    assert out["id"] == [1, 2, 3] and out["prompt"] == ["a", "b", "c"]
    failed = [i for i, error in enumerate(out["error"]) if error is not None]
    assert len(failed) == 1 and out["error"][failed[0]].startswith("BadRequestError: ")
    assert out["text"][failed[0]] is None and out["cost_usd"][failed[0]] is None
    ok = [i for i in range(3) if i not in failed]
    assert [out["text"][i] for i in ok] == [said(out["prompt"][i]) for i in ok]
    assert all(out["input_tokens"][i] > 0 and out["cost_usd"][i] > 0 for i in ok)
    assert {r.json["model"] for r in gateway.requests} == {"claude-opus-4-8"}
    mapper.client.close()


def test_the_rates_are_split_across_workers_and_the_column_is_checked(server: EmulatorServer) -> None:
    mapper = ChatMany(
        api_key=KEY, base_url=server.base_url, requests_per_minute=600, tokens_per_minute=90_000, workers=3
    )
    assert (mapper.requests_per_minute, mapper.tokens_per_minute) == (200, 30_000)
    assert ChatMany(api_key=KEY, base_url=server.base_url).requests_per_minute is None
    with pytest.raises(KeyError, match="no column 'prompt'"):
        mapper({"question": ["a"]})
    mapper.client.close()
    with pytest.raises(ConfigurationError, match="workers"):
        ChatMany(api_key=KEY, base_url=server.base_url, workers=0)


def test_a_messages_column_takes_lists_of_messages(server: EmulatorServer, gateway: FakeGateway) -> None:
    mapper = ChatMany(api_key=KEY, base_url=server.base_url, messages_column="messages")
    out = mapper({"messages": [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]]})
    assert out["text"] == [said("hi")] and out["error"] == [None]
    assert gateway.last_request.json["messages"][0]["role"] == "system"
    mapper.client.close()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason='ray is not installed (pip install "neureus[ray]"); the Ray tests need it')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield ray
    finally:
        ray.shutdown()


# Ray itself warns about its own deprecations; pytest turns warnings into errors.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")
def test_the_example_runs_1000_rows_on_a_local_cluster(ray_cluster: Any) -> None:
    spec = importlib.util.spec_from_file_location("ray_chat_many_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    gateway = FakeGateway()
    gateway.queue_error(400)  # max_retries=2 does not retry a 400: one row fails, the job does not
    with EmulatorServer(gateway) as server:
        rows = example.run(base_url=server.base_url, api_key=KEY, rows=example.ROWS, workers=2)
    assert len(rows) == 1000
    assert {row["prompt"] for row in rows} == {f"Give item {i} a five-word name." for i in range(1000)}
    assert len(gateway.requests) == 1000  # each row sent once
    failed = [row for row in rows if row["error"] is not None]
    assert len(failed) == 1 and failed[0]["text"] is None
    assert all(row["text"] == said(row["prompt"]) for row in rows if row["error"] is None)
    assert set(rows[0]) == {"prompt", *OUTPUT_COLUMNS}


def test_import_neureus_loads_no_bulk_module_and_no_extra() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, neureus; neureus.Neureus(api_key='nru_test'); neureus.AsyncNeureus(api_key='nru_test');"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    for name in ("neureus.ray", "neureus._bulk", "neureus._bulk_core", "neureus._progress", "ray", "tqdm"):
        assert name not in loaded, name
