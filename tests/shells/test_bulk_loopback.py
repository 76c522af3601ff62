"""Bulk runs over real HTTP on 127.0.0.1: the shared cooldown after a 429, and a run killed
with SIGKILL then resumed from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from neureus import Neureus, RetryPolicy
from neureus.testing import EmulatorServer, FakeGateway
from tests.conftest import Api

pytestmark = pytest.mark.network

KEY = "nru_local_0123456789"
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.004)


def said(text: str) -> str:
    return f"Hello from the Neureus emulator! You said: {text}"


class _Order:
    """A hook that keeps the order of request and retry records, across worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, int]] = []

    def on_request(self, record: Any) -> None:
        with self._lock:
            self.events.append(("request", record.attempt))

    def on_retry(self, record: Any) -> None:
        with self._lock:
            self.events.append(("retry", record.attempt))

    def first_attempts_between_retry_and_its_resend(self) -> int:
        start = self.events.index(("retry", 0))
        end = self.events.index(("request", 1), start)
        return sum(1 for event in self.events[start:end] if event == ("request", 0))


@pytest.mark.anyio
async def test_a_429_with_retry_after_pauses_every_worker_of_the_run(api: Api, server: EmulatorServer) -> None:
    # The first request gets a 429 asking for 0.4 s. Had only the worker that saw it paused,
    # the three others would get through dozens of the 60 fast calls meanwhile; with the
    # shared cooldown, only the calls already in flight land before the retry.
    api.gateway.queue_error(429, headers={"retry-after": "0.4"}, times=1)
    order = _Order()
    client = api.real_client(api_key=KEY, base_url=server.base_url, retry_policy=FAST, hooks=[order])
    prompts = [f"p{i}" for i in range(60)]
    result = await api.run(client.ai.chat_many(prompts, concurrency=4, progress=False))
    assert result.errors == {} and result.texts == [said(p) for p in prompts]
    contents = [r.json["messages"][0]["content"] for r in api.gateway.requests]
    assert len(contents) == 61  # every item once, plus the one retry
    # Counted in the order the client itself saw (the ledger hears the 429's retry record,
    # and sets the cooldown, before this hook does), so a busy machine that delays the
    # thread which read the 429 cannot blur it. After the cooldown began, each of the 3
    # other workers may send one call it was already admitted to make, and one more at the
    # moment the cooldown ends, racing the retry. Without the shared cooldown, dozens do.
    during = order.first_attempts_between_retry_and_its_resend()
    assert during <= 3 * 2, f"{during} calls went out during the cooldown"
    assert result.usage.retries == 1


RUNNER = textwrap.dedent(
    """
    import sys
    from neureus import Neureus
    base_url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = Neureus(api_key="nru_local_0123456789", base_url=base_url)
    prompts = [f"item {i}" for i in range(count)]
    # Throttled so that the run lasts long enough to be killed in the middle of it.
    client.ai.chat_many(prompts, concurrency=4, requests_per_minute=3000, checkpoint=path, progress=False)
    print("finished")
    """
)


def _records(path: Path) -> list[int]:
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line)["index"] for line in lines[1:] if line.strip() and line.endswith(b"}")]


def test_a_run_killed_mid_way_resumes_with_no_item_lost_or_duplicated(tmp_path: Path) -> None:
    count = 300
    gateway = FakeGateway()
    path = tmp_path / "run.jsonl"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    with EmulatorServer(gateway) as server:
        proc = subprocess.Popen(
            [sys.executable, str(script), server.base_url, str(path), str(count)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        try:
            give_up = time.monotonic() + 60
            while not (path.exists() and len(_records(path)) >= 40):
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < give_up, "the run never got going"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        done_before = _records(path)
        assert 40 <= len(done_before) < count
        assert len(set(done_before)) == len(done_before)
        # Tear the last line too, as a kill in the middle of a write would.
        with path.open("ab") as file:
            file.write(b'{"index": 7, "response": {"te')
        sent_before = len(gateway.requests)
        with Neureus(api_key=KEY, base_url=server.base_url) as client:
            result = client.ai.chat_many([f"item {i}" for i in range(count)], checkpoint=path, progress=False)
    assert result.errors == {}
    assert result.texts == [said(f"item {i}") for i in range(count)]
    resent = [r.json["messages"][0]["content"] for r in gateway.requests[sent_before:]]
    assert len(resent) == count - len(done_before)  # the finished items were not sent again
    assert not {f"item {i}" for i in done_before} & set(resent)
    final = _records(path)
    assert sorted(final) == list(range(count))  # each item exactly once in the file
