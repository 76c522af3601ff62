"""docs/bulk.md, Checkpoints: each finished item's line is "written and flushed at once
[...] and fsync'd within 50 ms" (a group commit by a background writer), and the file is
whole and synced when the run returns. Observed by wrapping ``os.fsync``: when it ran, and
how much of the file it covered, against when each line was handed to the writer. The
bound asserted is 1 s, twenty times the promise, so a busy machine does not fail it and a
writer that syncs only at the end (the run lasts well over 2 s) does."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from neureus import _bulk
from neureus.testing import EmulatorServer
from tests.conftest import Api

pytestmark = [pytest.mark.anyio, pytest.mark.network]

KEY = "nru_local_0123456789"
ITEMS = 48
RATE = 1200  # calls per minute: 20 a second, so the run lasts about 2.4 s
BOUND = 1.0


class Observed:
    """Each fsync (when, and the file's size then) and each line handed to the writer."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.syncs: list[tuple[float, int]] = []
        self.added: dict[bytes, float] = {}
        real_fsync = os.fsync
        real_add = _bulk.CheckpointWriter.add

        def fsync(fd: int) -> None:
            real_fsync(fd)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                with self.lock:
                    self.syncs.append((time.monotonic(), os.fstat(fd).st_size))

        def add(writer: Any, line: bytes) -> None:
            with self.lock:
                self.added[line] = time.monotonic()
            real_add(writer, line)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(_bulk.CheckpointWriter, "add", add)

    def synced_after(self) -> dict[bytes, float]:
        """Each line of the file: how long after it was handed over it was first fsync'd."""
        data = self.path.read_bytes()
        delays: dict[bytes, float] = {}
        end = data.index(b"\n") + 1  # the header, synced when the file was opened
        for line in data[end:].splitlines(keepends=True):
            end += len(line)
            at = next(when for when, size in self.syncs if size >= end)
            delays[line] = at - self.added[line]
        return delays


async def test_every_line_is_fsynced_soon_after_it_was_added_while_the_run_goes_on(
    api: Api, server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.jsonl"
    path.touch()
    observed = Observed(path, monkeypatch)
    client = api.real_client(api_key=KEY, base_url=server.base_url)
    started = time.monotonic()
    result = await api.run(
        client.ai.chat_many(
            [f"item {i}" for i in range(ITEMS)],
            concurrency=4,
            requests_per_minute=RATE,
            checkpoint=path,
            progress=False,
        )
    )
    returned = time.monotonic()
    assert result.errors == {}
    assert returned - started > 2 * BOUND  # long enough that syncing only at the end shows
    delays = observed.synced_after()
    assert len(delays) == ITEMS and set(delays) == set(observed.added)
    assert all(delay >= 0 for delay in delays.values())
    late = {line[:20]: round(delay, 3) for line, delay in delays.items() if delay > BOUND}
    assert not late, f"lines fsync'd more than {BOUND} s after they were added: {late}"
    # The run returns with the whole file synced: the last fsync covered all of it.
    last_at, last_size = observed.syncs[-1]
    assert last_size == path.stat().st_size and last_at <= returned
