"""``chat_many``, ``iter_many`` and ``embed_many`` through the public API, sync and async
(asyncio and trio), on the in-process emulator."""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path
from typing import Any

import anyio
import pytest

from neureus import (
    BadRequestError,
    BatchItem,
    BatchResult,
    BudgetExceededError,
    ChatMessage,
    InvalidRequestError,
)
from tests.conftest import Api

pytestmark = pytest.mark.anyio

PROMPTS = [f"prompt {i}" for i in range(12)]


def said(text: str) -> str:
    return f"Hello from the Neureus emulator! You said: {text}"


async def items_of(api: Api, iterator: Any) -> list[BatchItem[Any]]:
    if api.is_async:
        async with contextlib.aclosing(iterator) as items:
            return [item async for item in items]
    return list(iterator)


async def test_results_come_back_in_input_order_and_agree(api: Api) -> None:
    client = api.client()
    result = await api.run(client.ai.chat_many(PROMPTS, concurrency=4, progress=False))
    assert isinstance(result, BatchResult)
    assert len(result) == len(PROMPTS) == len(list(result))
    assert [item.index for item in result] == list(range(len(PROMPTS)))
    assert [result[i].index for i in range(len(result))] == list(range(len(PROMPTS)))
    assert result.texts == [said(p) for p in PROMPTS]
    assert [r.text for r in result.responses] == result.texts
    assert result.errors == {}
    assert result[-1] is result[len(result) - 1] and result[1:3] == [result[1], result[2]]
    assert result.usage.calls == len(PROMPTS)
    sent = sorted(request.json["messages"][0]["content"] for request in api.gateway.requests)
    assert sent == sorted(PROMPTS)


async def test_every_input_shape_and_every_chat_keyword_is_passed_through(api: Api) -> None:
    client = api.client()
    inputs = [
        "plain",
        [{"role": "system", "content": "Be brief."}, ChatMessage(role="user", content="as a list")],
        {"messages": [{"role": "user", "content": "as a dict"}], "model": "gpt-4o-mini", "temperature": 0.5},
    ]
    result = await api.run(
        client.ai.chat_many(inputs, model="claude-sonnet-4-6", prefer_async=True, max_tokens=50, progress=False)
    )
    assert result.errors == {}
    bodies = {r.json["messages"][-1]["content"]: r.json for r in api.gateway.requests}
    assert bodies["plain"]["model"] == "claude-sonnet-4-6"
    assert bodies["plain"]["prefer_async"] is True and bodies["plain"]["maxTokens"] == 50
    assert bodies["as a list"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert bodies["as a dict"]["model"] == "gpt-4o-mini" and bodies["as a dict"]["temperature"] == 0.5
    assert bodies["as a dict"]["prefer_async"] is True
    assert [item.input for item in result] == inputs


async def test_a_failed_item_keeps_its_error_and_never_stops_the_others(api: Api) -> None:
    client = api.client(max_retries=0)
    api.gateway.queue_error(400, times=2)
    inputs = [*PROMPTS, [{"role": "robot", "content": "bad role"}]]
    result = await api.run(client.ai.chat_many(inputs, concurrency=3, progress=False))
    assert len(result) == len(inputs)
    errors = result.errors
    assert len(errors) == 3
    assert sum(isinstance(e, BadRequestError) for e in errors.values()) == 2
    assert isinstance(errors[len(inputs) - 1], InvalidRequestError)  # refused locally, per item
    assert all(result.responses[i] is None for i in errors)
    assert sum(r is not None for r in result.responses) == len(inputs) - 3
    assert result.usage.failed_calls == 2


async def test_empty_input_gives_an_empty_result_and_sends_nothing(api: Api) -> None:
    client = api.client()
    result = await api.run(client.ai.chat_many([], progress=False))
    assert len(result) == 0 and list(result) == [] and result.errors == {}
    assert await items_of(api, client.ai.iter_many(iter(()))) == []
    embedded = await api.run(client.ai.embed_many([]))
    assert embedded.embeddings == []
    assert api.gateway.requests == []


@pytest.mark.parametrize(
    ("inputs", "options", "message"),
    [
        (["ok", 3.5], {}, "inputs[1] is float"),
        (["ok", {"model": "x"}], {}, "inputs[1] is a dict without 'messages'"),
        (["ok"], {"concurrency": 0}, "concurrency must be a whole number >= 1"),
        (["ok"], {"concurrency": True}, "concurrency must be a whole number >= 1"),
        (["ok"], {"max_spend_usd": -1}, "max_spend_usd must be a non-negative number"),
        (["ok"], {"max_spend_usd": float("nan")}, "max_spend_usd must be a non-negative number"),
        (["ok"], {"requests_per_minute": 0}, "requests_per_minute must be a positive number"),
        (["ok"], {"tokens_per_minute": -5}, "tokens_per_minute must be a positive number"),
        (["ok"], {"checkpoint": "/no/such/directory/run.jsonl"}, "does not exist"),
        (["ok"], {"checkpoint": 12}, "checkpoint must be a file path"),
        (["ok"], {"progress": "yes"}, "progress must be None, True, False or a callable"),
        (["ok"], {"stream": True}, "stream=True is not supported"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    api: Api, inputs: list[Any], options: dict[str, Any], message: str
) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError) as caught:
        await api.run(client.ai.chat_many(inputs, **options))
    assert message in str(caught.value)
    with pytest.raises(InvalidRequestError):
        client.ai.iter_many(inputs, **options)  # refused at the call, not at the first item
    assert api.gateway.requests == []


async def test_a_checkpoint_that_is_a_directory_is_refused(api: Api, tmp_path: Path) -> None:
    client = api.client()
    with pytest.raises(InvalidRequestError, match="is a directory"):
        await api.run(client.ai.chat_many(["ok"], checkpoint=tmp_path))
    assert api.gateway.requests == []


async def test_iter_many_yields_every_item_once_as_it_finishes(api: Api) -> None:
    client = api.client()
    items = await items_of(api, client.ai.iter_many(PROMPTS, concurrency=5))
    assert sorted(item.index for item in items) == list(range(len(PROMPTS)))
    assert all(item.response.text == said(PROMPTS[item.index]) for item in items)


async def test_leaving_iter_many_early_starts_no_new_call(api: Api) -> None:
    client = api.client()
    iterator = client.ai.iter_many([f"p{i}" for i in range(200)], concurrency=2)
    seen = 0
    if api.is_async:
        async with contextlib.aclosing(iterator) as items:
            async for _ in items:
                seen += 1
                if seen == 3:
                    break
    else:
        for _ in iterator:
            seen += 1
            if seen == 3:
                break
        iterator.close()
    sent = len(api.gateway.requests)
    await anyio.sleep(0.05)
    assert len(api.gateway.requests) == sent  # nothing more after the loop was left
    assert sent <= 3 + 2 * 2  # what was read, plus at most what is buffered and in flight


async def test_a_slow_reader_holds_the_workers_back_and_still_gets_every_item(api: Api) -> None:
    client = api.client()
    prompts = [f"p{i}" for i in range(40)]
    iterator = client.ai.iter_many(prompts, concurrency=2)
    if api.is_async:
        async with contextlib.aclosing(iterator) as items:
            first = [await items.__anext__()]
            await anyio.sleep(0.3)  # the reader is busy: the workers must not run far ahead
            sent = len(api.gateway.requests)
            rest = [item async for item in items]
    else:
        first = [next(iterator)]
        await anyio.sleep(0.3)
        sent = len(api.gateway.requests)
        rest = list(iterator)
    assert sent <= 1 + 2 * 2 + 2  # what was read, plus at most what is buffered and in flight
    assert sorted(item.index for item in first + rest) == list(range(len(prompts)))
    assert all(item.response.text == said(prompts[item.index]) for item in first + rest)


async def test_a_run_smaller_than_its_concurrency_ends_with_every_item(api: Api) -> None:
    # Fewer items than workers: the reader is woken by the workers as they end.
    client = api.client()
    result = await api.run(client.ai.chat_many(PROMPTS[:3], concurrency=64, progress=False))
    assert result.texts == [said(p) for p in PROMPTS[:3]]


async def test_a_checkpoint_resumes_without_calling_finished_items_again(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client(max_retries=0)
    api.gateway.queue_error(500, times=2)
    first = await api.run(client.ai.chat_many(PROMPTS, checkpoint=path, concurrency=1, progress=False))
    assert len(first.errors) == 2
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1 + len(PROMPTS) - 2  # the header, then each success
    api.gateway.requests.clear()
    second = await api.run(client.ai.chat_many(PROMPTS, checkpoint=path, progress=False))
    assert second.errors == {}
    assert second.texts == [said(p) for p in PROMPTS]
    assert [item.index for item in second] == list(range(len(PROMPTS)))
    retried = sorted(r.json["messages"][0]["content"] for r in api.gateway.requests)
    assert retried == sorted(PROMPTS[i] for i in first.errors)  # only the failures were sent again
    assert second.usage.calls == 2
    records = [json.loads(line)["index"] for line in path.read_bytes().splitlines()[1:]]
    assert sorted(records) == list(range(len(PROMPTS)))  # each item exactly once
    api.gateway.requests.clear()
    third = await api.run(client.ai.chat_many(PROMPTS, checkpoint=str(path), progress=False))
    assert third.texts == second.texts and api.gateway.requests == []


async def test_a_torn_last_line_is_ignored_and_the_file_stays_readable(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    await api.run(client.ai.chat_many(PROMPTS[:4], checkpoint=path, progress=False))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # killed in the middle of the last write
    api.gateway.requests.clear()
    result = await api.run(client.ai.chat_many(PROMPTS[:4], checkpoint=path, progress=False))
    assert result.texts == [said(p) for p in PROMPTS[:4]]
    assert len(api.gateway.requests) == 1
    data = path.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line)["index"] for line in data.splitlines()[1:]]
    assert sorted(records) == [0, 1, 2, 3]


async def test_a_checkpoint_for_other_inputs_or_keywords_is_refused(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    await api.run(client.ai.chat_many(PROMPTS[:3], checkpoint=path, model="gpt-4o-mini", progress=False))
    before = path.read_bytes()
    sent = len(api.gateway.requests)
    for inputs, keywords in ((PROMPTS[1:4], {"model": "gpt-4o-mini"}), (PROMPTS[:3], {"model": "claude-sonnet-4-6"})):
        with pytest.raises(InvalidRequestError, match="written for other inputs or chat keywords"):
            await api.run(client.ai.chat_many(inputs, checkpoint=path, progress=False, **keywords))
    assert path.read_bytes() == before and len(api.gateway.requests) == sent


async def test_the_run_budget_stops_new_calls_once_reached(api: Api) -> None:
    client = api.client()
    # claude-opus-4-8 costs 0.015 + 0.075 per 1k tokens: each emulated reply costs about 0.001.
    result = await api.run(
        client.ai.chat_many(PROMPTS, model="claude-opus-4-8", concurrency=1, max_spend_usd=0.002, progress=False)
    )
    refused = [e for e in result.errors.values() if isinstance(e, BudgetExceededError)]
    assert refused and len(refused) == len(result.errors)
    assert len(api.gateway.requests) == len(PROMPTS) - len(refused)
    assert result.usage.cost_usd >= 0.002
    # No call started after the budget was reached: without the last call it was below.
    last_cost = max(r.cost_usd for r in result.responses if r is not None)
    assert result.usage.cost_usd - last_cost < 0.002


async def test_a_zero_budget_sends_nothing(api: Api) -> None:
    client = api.client()
    result = await api.run(client.ai.chat_many(PROMPTS[:3], max_spend_usd=0, progress=False))
    assert all(isinstance(e, BudgetExceededError) for e in result.errors.values()) and len(result.errors) == 3
    assert api.gateway.requests == []


async def test_a_progress_callable_gets_each_finished_item(api: Api) -> None:
    client = api.client()
    seen: list[int] = []
    await api.run(client.ai.chat_many(PROMPTS, progress=lambda item: seen.append(item.index)))
    assert sorted(seen) == list(range(len(PROMPTS)))


async def test_a_tqdm_bar_shows_done_failed_and_spend(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm", reason="tqdm is the optional `progress` extra")
    client = api.client(max_retries=0)
    api.gateway.queue_error(400)
    await api.run(client.ai.chat_many(PROMPTS[:5], model="claude-opus-4-8", progress=True))
    err = capsys.readouterr().err
    assert "5/5" in err and "failed=1" in err and "spend=$0.00" in err


async def test_no_bar_without_a_terminal(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    client = api.client()
    await api.run(client.ai.chat_many(PROMPTS[:3]))  # progress=None; pytest's stderr is no terminal
    assert capsys.readouterr().err == ""


async def test_embed_many_batches_and_keeps_input_order(api: Api) -> None:
    client = api.client()
    texts = [f"text number {i}" for i in range(23)]
    reference = await api.run(client.ai.embeddings(texts))
    api.gateway.requests.clear()
    result = await api.run(client.ai.embed_many(texts, batch_size=5, concurrency=3))
    assert result.embeddings == reference.embeddings
    assert sorted(len(r.json["input"]) for r in api.gateway.requests) == [3, 5, 5, 5, 5]


async def test_embed_many_raises_a_failed_batch_error_and_checks_its_arguments(api: Api) -> None:
    client = api.client(max_retries=0)
    api.gateway.queue_error(400)
    with pytest.raises(BadRequestError):
        await api.run(client.ai.embed_many(["a", "b", "c"], batch_size=1))
    for texts, options, message in (
        ("one string", {}, "texts must be an iterable of strings"),
        (["a", 5], {}, "texts[1] is int"),
        (["a"], {"batch_size": 0}, "batch_size must be"),
        (["a"], {"concurrency": 0}, "concurrency must be"),
    ):
        with pytest.raises(InvalidRequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
            await api.run(client.ai.embed_many(texts, **options))


async def test_batch_results_and_items_pickle(api: Api) -> None:
    client = api.client()
    result = await api.run(
        client.ai.chat_many(PROMPTS[:3], model="claude-opus-4-8", concurrency=1, max_spend_usd=0.0015, progress=False)
    )
    assert list(result.errors) == [2]
    copy = pickle.loads(pickle.dumps(result))
    assert [(i.index, i.input, i.response) for i in copy] == [(i.index, i.input, i.response) for i in result]
    assert copy.usage == result.usage and copy[0] == result[0]
    error = copy.errors[2]
    assert isinstance(error, BudgetExceededError) and error.budget_usd == 0.0015 and error.spent_usd >= 0.0015
    assert "3 items, 1 failed" in repr(result) and "index=0" in repr(result[0])


async def test_tokens_per_minute_lets_a_run_through_and_passes_keywords(api: Api) -> None:
    client = api.client()
    result = await api.run(
        client.ai.chat_many(PROMPTS, tokens_per_minute=6_000_000, requests_per_minute=600_000, max_tokens=10)
    )
    assert result.errors == {} and len(api.gateway.requests) == len(PROMPTS)
    assert {r.json["maxTokens"] for r in api.gateway.requests} == {10}


async def test_a_bug_in_a_call_reaches_the_caller_as_itself(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import neureus

    client = api.client()

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug, not an item's error")

    monkeypatch.setattr(neureus.AsyncAI if api.is_async else neureus.AI, "chat", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        await api.run(client.ai.chat_many(PROMPTS, concurrency=3, progress=False))


async def test_a_checkpoint_that_cannot_be_written_is_reported(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    client = api.client()
    path = tmp_path / "run.jsonl"
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 1:  # the header goes through; the first item does not
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(InvalidRequestError, match=r"Could not write the checkpoint.*No space left"):
        await api.run(client.ai.chat_many(PROMPTS[:3], checkpoint=path, progress=False))


async def test_a_checkpoint_line_that_cannot_be_written_is_reported_and_stops_the_writing(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from neureus import _bulk

    real_fdopen = os.fdopen
    writes: list[bytes] = []

    class FullDisk:
        """The checkpoint file on a disk that fills up after the header."""

        def __init__(self, file: Any) -> None:
            self._file = file

        def write(self, data: bytes) -> int:
            writes.append(data)
            if len(writes) > 1:
                raise OSError(28, "No space left on device")
            return int(self._file.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._file, name)

    monkeypatch.setattr(_bulk.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    client = api.client()
    with pytest.raises(InvalidRequestError, match=r"Could not write the checkpoint.*No space left"):
        await api.run(client.ai.chat_many(PROMPTS[:3], checkpoint=tmp_path / "run.jsonl", progress=False))
    assert len(writes) == 2  # the header, then one failed line: no later line is tried


async def test_a_checkpoint_whose_records_do_not_parse_is_refused(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    await api.run(client.ai.chat_many(PROMPTS[:2], checkpoint=path, progress=False))
    lines = path.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["response"] = {"choices": "not a list"}
    path.write_bytes(lines[0] + json.dumps(record).encode() + b"\n")
    with pytest.raises(InvalidRequestError, match="holds a response that does not parse"):
        await api.run(client.ai.chat_many(PROMPTS[:2], checkpoint=path, progress=False))


def test_the_sync_flavour_works_inside_a_running_event_loop(gateway: Any) -> None:
    # A notebook cell runs inside a running asyncio loop: the sync chat_many must not try
    # to start (or need) an event loop of its own.
    import asyncio

    async def cell() -> BatchResult:
        with gateway.client() as client:
            return client.ai.chat_many(PROMPTS[:5], concurrency=2, progress=False)

    result = asyncio.run(cell())
    assert result.texts == [said(p) for p in PROMPTS[:5]]


class Interrupted(Exception):
    """Stands in for Ctrl-C (KeyboardInterrupt) raised while the run is being shown."""


async def test_an_interrupted_run_keeps_what_finished_and_resumes(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    prompts = [f"p{i}" for i in range(60)]
    seen: list[int] = []

    def show(item: BatchItem[Any]) -> None:
        seen.append(item.index)
        if len(seen) == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        await api.run(client.ai.chat_many(prompts, concurrency=2, checkpoint=path, progress=show))
    sent_before = len(api.gateway.requests)
    kept = [json.loads(line)["index"] for line in path.read_bytes().splitlines()[1:]]
    assert len(kept) >= 5 and len(set(kept)) == len(kept)
    assert sent_before < len(prompts)  # the run stopped: no new call after the interrupt
    result = await api.run(client.ai.chat_many(prompts, checkpoint=path, progress=False))
    assert result.texts == [said(p) for p in prompts]
    assert result.usage.calls == len(prompts) - len(kept)


async def test_two_runs_cannot_share_a_checkpoint_at_once(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    running = client.ai.iter_many(PROMPTS, checkpoint=path)  # prepared: it holds the file
    with pytest.raises(InvalidRequestError, match="in use by another run"):
        await api.run(client.ai.chat_many(PROMPTS, checkpoint=path, progress=False))
    assert await items_of(api, running) != []  # the first run goes on, then lets go
    again = await api.run(client.ai.chat_many(PROMPTS, checkpoint=path, progress=False))
    assert again.usage.calls == 0 and len(again) == len(PROMPTS)


@pytest.mark.parametrize("flavor", [("async", "asyncio"), ("async", "trio")], ids=["asyncio", "trio"], indirect=True)
async def test_a_cancelled_async_run_releases_its_checkpoint(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    client = api.client()
    with anyio.move_on_after(0.3) as scope:
        # One call a second: the run is still going when the scope ends it.
        await client.ai.chat_many(PROMPTS, requests_per_minute=60, checkpoint=path, progress=False)
    assert scope.cancelled_caught
    done = len(path.read_bytes().splitlines()) - 1
    assert 1 <= done < len(PROMPTS)
    result = await client.ai.chat_many(PROMPTS, checkpoint=path, progress=False)  # not "in use"
    assert result.errors == {} and result.usage.calls == len(PROMPTS) - done


def test_sync_iter_many_hands_an_item_over_while_the_others_are_still_running(
    gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync reader is woken when 16 items wait, when a worker ends, or by itself every
    # 50 ms (docs/bulk.md): one finished item among 19 still running must reach the caller
    # before any of the others is let go.
    import threading

    import neureus

    release = threading.Event()
    chat = neureus.AI.chat

    def held(self: Any, messages: Any, **keywords: Any) -> Any:
        if "p0" not in str(messages):
            release.wait(5)  # bounded: a broken hand-over fails the assertion below, not the run
        return chat(self, messages, **keywords)

    monkeypatch.setattr(neureus.AI, "chat", held)
    prompts = [f"p{i}" for i in range(20)]
    with gateway.client() as client:
        iterator = client.ai.iter_many(prompts, concurrency=64)
        try:
            first = next(iterator)
            released_before = release.is_set()
            release.set()
            rest = list(iterator)
        finally:
            release.set()
            iterator.close()
    assert first.index == 0 and not released_before
    assert sorted(item.index for item in [first, *rest]) == list(range(20))
