"""The bulk drivers: ``chat_many``/``iter_many``/``embed_many`` over a thread pool or a task group.

Every decision (throttle, cooldown, budget, order, what a checkpoint holds) is made in
:mod:`neureus._bulk_core`. This module prepares a :class:`Run` (checks the arguments, reads
the checkpoint) before anything is sent, then drives it:

- the sync driver runs ``concurrency`` worker threads over the sync client (httpx.Client is
  thread-safe), never a hidden event loop, so it works inside a running Jupyter loop;
- the async driver runs ``concurrency`` worker tasks in an anyio task group.

Both hand finished items to the caller as they end. A finished item's checkpoint line is
written and flushed by the thread (or task) that finished it; one background thread fsyncs
what was written (a group commit).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ._batch import BatchItem, BatchResult
from ._bulk_core import (
    Job,
    Scheduler,
    Wait,
    checkpoint_header,
    checkpoint_record,
    estimate_job_tokens,
    inputs_digest,
    item_flow,
    normalize_inputs,
    read_checkpoint,
)
from ._config import check_max_spend_usd
from ._exceptions import InvalidRequestError, NeureusError
from ._progress import Progress, make_progress
from ._usage import Scope, Usage, active_scopes, enter_scopes

if TYPE_CHECKING:
    from ._usage import Ledger
    from .types import EmbeddingsResponse

__all__ = [
    "CheckpointWriter",
    "Run",
    "aiter_run",
    "embeddings_result",
    "iter_run",
    "prepare_chat",
    "prepare_embeddings",
]

_DONE = object()
# How long after a checkpoint line is written it is fsync'd, at most (see CheckpointWriter).
SYNC_EVERY = 0.05
# The sync driver's reader wakes at least this often, and when WAKE_EVERY items wait.
READ_EVERY = 0.05
WAKE_EVERY = 16


class CheckpointWriter:
    """Appends finished items' lines to the checkpoint in the thread that finished them,
    and fsyncs what was written from one background thread (a group commit).

    A line is written and flushed at once: a few hundred bytes handed to the OS, which keep
    through a crash or a SIGKILL of this process. fsync, which only guards against the
    machine itself going down and can take milliseconds, runs in the background within
    ``SYNC_EVERY`` seconds of the first line it covers. Handing each line to a writer
    thread instead cost an async run a GIL hand-off between the event loop and that thread
    for every item (about a fifth of its throughput on a fast server); the background thread
    now wakes at most once per ``SYNC_EVERY``.
    """

    def __init__(self, file: Any) -> None:
        self._file = file
        self._lock = threading.Lock()  # one writer of the file at a time
        self._closed = False
        self._unsynced = False  # written since the last fsync (changed under the lock)
        self._written = threading.Event()  # set when a line lands in a synced file
        self._stop = threading.Event()  # close() was called
        self.error: BaseException | None = None
        # Started with the first line: a run that is prepared but never read leaves no thread.
        self._thread: threading.Thread | None = None

    def add(self, line: bytes) -> None:
        """Write and flush one line (ignored once closed, or after a write failed)."""
        with self._lock:
            if self._closed or self.error is not None:
                return
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:  # a full disk: reported when the run ends
                self.error = exc
                return
            if not self._unsynced:
                self._unsynced = True
                if self._thread is None:
                    self._thread = threading.Thread(target=self._sync, name="neureus-checkpoint", daemon=True)
                    self._thread.start()
                self._written.set()

    def _sync(self) -> None:
        fd = self._file.fileno()
        while True:
            self._written.wait()
            self._stop.wait(SYNC_EVERY)  # the lines of the next SYNC_EVERY join this fsync
            with self._lock:
                self._written.clear()
                unsynced, self._unsynced = self._unsynced, False
                closing = self._closed
            if unsynced and self.error is None:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    self.error = exc
            if closing:
                return

    def close(self) -> None:
        """fsync what was written, then close the file (blocks until done)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        self._written.set()
        if thread is not None:
            thread.join()
        self._file.close()
        if self.error is not None:
            raise InvalidRequestError(f"Could not write the checkpoint: {self.error}") from self.error


class Run:
    """One bulk run, prepared: the jobs still to do, the items read back from a
    checkpoint, and where finished items go (checkpoint, progress, usage)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        jobs: list[Job],
        resumed: list[BatchItem[Any]],
        concurrency: int,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        max_spend_usd: float | None,
        writer: CheckpointWriter | None,
        progress: Progress,
    ) -> None:
        self.jobs = jobs
        self.resumed = resumed
        self.concurrency = concurrency
        self.writer = writer
        self.progress = progress
        self._limits = (requests_per_minute, tokens_per_minute, max_spend_usd)
        self.scope = Scope(ledger)
        # Captured where the run was asked for: its calls count in the track() blocks open there.
        self.scopes = (*active_scopes(), self.scope)

    @property
    def usage(self) -> Usage:
        """What this run's calls used and cost so far."""
        return self.scope.usage.copy()

    def scheduler(self, lock: contextlib.AbstractContextManager[Any]) -> Scheduler:
        """The run's scheduler; a 429 seen by any of its calls pauses all its workers."""
        rpm, tpm, budget = self._limits
        scheduler = Scheduler(
            clock=time.monotonic,
            lock=lock,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            max_spend_usd=budget,
            spent=lambda: self.scope.usage.cost_usd,
        )
        self.scope.on_rate_limit = scheduler.cool_down
        return scheduler

    def workers(self) -> int:
        return min(self.concurrency, len(self.jobs))

    def record(self, item: BatchItem[Any]) -> None:
        """An item finished: append it to the checkpoint (successes only)."""
        if self.writer is not None and item.response is not None:
            self.writer.add(checkpoint_record(item.index, item.response))

    def show(self, item: BatchItem[Any]) -> None:
        """An item reached the caller: update the progress display."""
        self.progress.update(item, self.scope.usage.cost_usd)

    def close(self) -> None:
        """Finish the checkpoint file and the progress display."""
        try:
            if self.writer is not None:
                self.writer.close()
        finally:
            self.progress.close()


# -- preparing a run: every check before anything is sent -----------------------------------


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{name} must be a whole number >= 1; got {value!r}.")
    return value


def _check_rate(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise InvalidRequestError(f"{name} must be a positive number per minute, or None for no limit; got {value!r}.")
    return float(value)


def _lock_for_this_run(file: Any, path: str) -> None:
    # Two runs appending to one checkpoint would interleave their lines and each skip the
    # other's items: the second is refused. The lock goes with the file (and with a killed
    # process). Only where the OS has flock.
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InvalidRequestError(
            f"The checkpoint {path} is in use by another run (in this process or another); "
            "wait for it to end, or pass another path."
        ) from None


def _open_checkpoint(path_like: object, jobs: list[Job]) -> tuple[CheckpointWriter, dict[int, Any]]:
    if not isinstance(path_like, (str, os.PathLike)):
        raise InvalidRequestError(
            f"checkpoint must be a file path (str or os.PathLike); got {type(path_like).__name__}."
        )
    path = os.fspath(path_like)
    if isinstance(path, bytes):  # pragma: no cover - os.PathLike[bytes] is rare
        path = os.fsdecode(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidRequestError(f"checkpoint: the directory {directory!r} does not exist; create it first.")
    if os.path.isdir(path):
        raise InvalidRequestError(f"checkpoint: {path!r} is a directory; pass a file path such as 'run.jsonl'.")
    digest = inputs_digest(jobs)
    file = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+b")  # the writer thread closes it
    try:
        _lock_for_this_run(file, path)
        data = file.read()
        state = read_checkpoint(data, digest=digest, count=len(jobs), path=path)
        file.truncate(state.keep_bytes)  # a torn last line is cut before appending
        file.seek(state.keep_bytes)
        if state.fresh:
            file.write(checkpoint_header(digest, len(jobs)))
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        file.close()
        raise
    return CheckpointWriter(file), state.done


def prepare_chat(
    ledger: Ledger,
    inputs: Iterable[Any],
    *,
    concurrency: int,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    max_spend_usd: float | None,
    checkpoint: object,
    progress: object,
    chat_keywords: Mapping[str, Any],
    description: str = "chat_many",
) -> Run:
    """Check everything, read the checkpoint, and return the run (nothing is sent yet)."""
    from .types import ChatResponse

    concurrency = _check_count(concurrency, "concurrency")
    rpm = _check_rate(requests_per_minute, "requests_per_minute")
    tpm = _check_rate(tokens_per_minute, "tokens_per_minute")
    budget = check_max_spend_usd(max_spend_usd, InvalidRequestError)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise InvalidRequestError(f"progress must be None, True, False or a callable; got {type(progress).__name__}.")
    jobs = normalize_inputs(inputs, chat_keywords)
    if tpm is not None:
        for job in jobs:
            job.tokens = estimate_job_tokens(job.payload)
    writer: CheckpointWriter | None = None
    resumed: list[BatchItem[Any]] = []
    if checkpoint is not None:
        writer, done = _open_checkpoint(checkpoint, jobs)
        try:
            resumed = [
                BatchItem(index, jobs[index].input, ChatResponse.model_validate(data), None)
                for index, data in sorted(done.items())
            ]
        except ValueError as exc:  # pydantic's ValidationError: a record edited or from another version
            writer.close()
            raise InvalidRequestError(
                f"The checkpoint {checkpoint} holds a response that does not parse "
                f"({type(exc).__name__}); delete it to start over."
            ) from None
        jobs = [job for job in jobs if job.index not in done]
    return Run(
        ledger=ledger,
        jobs=jobs,
        resumed=resumed,
        concurrency=concurrency,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        max_spend_usd=budget,
        writer=writer,
        progress=make_progress(progress, total=len(jobs) + len(resumed), initial=0, description=description),
    )


def prepare_embeddings(
    ledger: Ledger, texts: Iterable[str], *, model: str | None, batch_size: int, concurrency: int
) -> Run:
    """One job per batch of ``batch_size`` texts."""
    batch_size = _check_count(batch_size, "batch_size")
    concurrency = _check_count(concurrency, "concurrency")
    if isinstance(texts, (str, bytes, Mapping)):
        raise InvalidRequestError(f"texts must be an iterable of strings; got one {type(texts).__name__}.")
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidRequestError(f"texts[{index}] is {type(text).__name__}; every text must be a str.")
    jobs = [
        Job(number, items[start : start + batch_size], {"input": items[start : start + batch_size], "model": model})
        for number, start in enumerate(range(0, len(items), batch_size))
    ]
    return Run(
        ledger=ledger,
        jobs=jobs,
        resumed=[],
        concurrency=concurrency,
        requests_per_minute=None,
        tokens_per_minute=None,
        max_spend_usd=None,
        writer=None,
        progress=Progress(),
    )


def embeddings_result(items: Sequence[BatchItem[Any]]) -> EmbeddingsResponse:
    """Every batch's vectors in input order, as one response; the first failure is raised."""
    from .types import EmbeddingsResponse

    ordered = sorted(items, key=lambda item: item.index)
    for item in ordered:
        if item.error is not None:
            raise item.error
    vectors: list[list[float]] = []
    usage: dict[str, Any] = {}
    model = None
    for item in ordered:
        response: Any = item.response
        vectors.extend(response.embeddings)
        model = model or response.model
        for key, value in (response.usage or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                usage[key] = usage.get(key, 0) + value
    return EmbeddingsResponse(embeddings=vectors, model=model, usage=usage or None)


def batch_result(items: Iterable[BatchItem[Any]], run: Run) -> BatchResult:
    """The items in input order, with the run's usage."""
    return BatchResult(sorted(items, key=lambda item: item.index), run.usage)


# -- the sync driver: worker threads ---------------------------------------------------------


def _drive(scheduler: Scheduler, job: Job, call: Callable[[Any], Any]) -> BatchItem[Any] | None:
    flow = item_flow(scheduler, job)
    outcome: Any = None
    try:
        while True:
            action = flow.send(outcome)
            if isinstance(action, Wait):
                time.sleep(action.seconds)
                outcome = None
            else:
                try:
                    outcome = call(action.payload)
                except NeureusError as exc:
                    outcome = exc
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def iter_run(run: Run, call: Callable[[Any], Any]) -> Iterator[BatchItem[Any]]:
    """Items as they finish, from ``concurrency`` threads over the sync client."""
    scheduler = run.scheduler(threading.Lock())
    # The hand-overs between threads are deques (documented thread-safe appends and pops),
    # not locks and queues: with dozens of threads on one GIL every lock taken per item
    # costs far more than the work it guards.
    jobs = collections.deque(run.jobs)
    finished: collections.deque[Any] = collections.deque()
    # The reader is woken when WAKE_EVERY items (or a few, at low concurrency) wait, when a
    # worker ends, or by its own timer, not for every item: at most a few hundred wake-ups a
    # second however fast items finish.
    wake_at = max(1, min(run.concurrency // 4, WAKE_EVERY))
    wake = threading.Event()
    # Workers run at most `ahead` items ahead of a slow reader, so leaving the loop early
    # leaves little work done for nothing.
    ahead = max(run.concurrency, 1)
    room = threading.Condition(threading.Lock())
    waiting = [0]  # workers waiting for room (changed under `room`)

    def hand_over(thing: Any, last: bool = False) -> None:
        finished.append(thing)
        if (last or len(finished) >= wake_at) and not wake.is_set():
            wake.set()

    def wait_for_room() -> None:
        # The slow path, only while the reader is behind.
        with room:
            while len(finished) >= ahead and not scheduler.stopped:
                wake.set()
                waiting[0] += 1
                room.wait(READ_EVERY)
                waiting[0] -= 1

    def work() -> None:
        enter_scopes(run.scopes)
        try:
            while True:
                if len(finished) >= ahead:
                    wait_for_room()
                try:
                    job = jobs.popleft()
                except IndexError:
                    break
                item = _drive(scheduler, job, call)
                if item is None:
                    break
                run.record(item)
                hand_over(item)
            hand_over(_DONE, last=True)
        except BaseException as exc:  # a bug, not an item's error: hand it to the caller
            hand_over(exc, last=True)

    # Each thread runs in its own copy of the caller's context (a Context is entered by one
    # thread at a time); daemon threads, so an interrupted notebook cell never hangs on them.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"neureus-bulk-{n}", daemon=True)
        for n in range(run.workers())
    ]
    try:
        for item in run.resumed:
            run.show(item)
            yield item
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            if not finished:
                # Cleared only after the wait: a worker's set() after the clear wakes the next
                # wait, and whatever was appended before it is read below.
                wake.wait(READ_EVERY)
                wake.clear()
                continue
            got = finished.popleft()
            if waiting[0]:  # read without the lock: a worker that just began waiting wakes on its timer
                with room:
                    room.notify_all()
            if got is _DONE:
                running -= 1
            elif isinstance(got, BaseException):
                raise got
            else:
                run.show(got)
                yield got
    finally:
        scheduler.stop()  # Ctrl-C or an early break: no new call starts; calls in flight end alone
        run.close()


# -- the async driver: an anyio task group ---------------------------------------------------


async def _adrive(scheduler: Scheduler, job: Job, call: Callable[[Any], Awaitable[Any]]) -> BatchItem[Any] | None:
    flow = item_flow(scheduler, job)
    outcome: Any = None
    try:
        while True:
            action = flow.send(outcome)
            if isinstance(action, Wait):
                await anyio.sleep(action.seconds)
                outcome = None
            else:
                try:
                    outcome = await call(action.payload)
                except NeureusError as exc:
                    outcome = exc
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def aiter_run(run: Run, call: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[BatchItem[Any]]:
    """Items as they finish, from ``concurrency`` tasks in an anyio task group."""
    scheduler = run.scheduler(contextlib.nullcontext())
    jobs = iter(run.jobs)
    send, receive = anyio.create_memory_object_stream[BatchItem[Any]](run.concurrency)

    failures: list[Exception] = []

    async def work(out: Any) -> None:
        enter_scopes(run.scopes)
        async with out:
            try:
                for job in jobs:  # shared by the tasks: one thread, so no lock is needed
                    item = await _adrive(scheduler, job, call)
                    if item is None:
                        break
                    run.record(item)
                    await out.send(item)
            except Exception as exc:  # a bug, not an item's error: the caller gets it as is,
                failures.append(exc)  # as from the sync driver, not inside an ExceptionGroup
                group.cancel_scope.cancel()

    try:
        for item in run.resumed:
            run.show(item)
            yield item
        async with anyio.create_task_group() as group:
            for _ in range(run.workers()):
                group.start_soon(work, send.clone())
            send.close()
            async with receive:
                try:
                    async for item in receive:
                        try:
                            run.show(item)
                        except Exception as exc:  # from a progress callable: stop the run, raise it as is
                            failures.append(exc)
                            group.cancel_scope.cancel()
                            break
                        yield item
                except GeneratorExit:
                    # The caller closed the iterator (aclosing, break + aclose): stop the
                    # workers and end quietly, rather than through the task group as an error.
                    group.cancel_scope.cancel()
        if failures:
            raise failures[0]
    finally:
        scheduler.stop()
        send.close()
        if run.writer is None:
            run.close()
        else:  # joining the writer thread blocks: not on the event loop
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(run.close)
