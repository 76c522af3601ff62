"""The bulk scheduler: every decision of ``chat_many``/``iter_many``/``embed_many``, with no I/O.

- :class:`TokenBucket` and :class:`Scheduler`: the client-side requests- and
  tokens-per-minute throttle, the shared cooldown after a 429 with ``Retry-After``, the
  run's spending budget and the stop flag. The clock and the lock are injected.
- :func:`item_flow`: one item's life as a generator in the style of ``request_flow``: it
  yields :class:`Wait` or :class:`Call` and is sent the outcome; it returns the finished
  :class:`~neureus.BatchItem` (or ``None`` when the run stopped first). The sync driver
  (threads) and the async driver (an anyio task group) only sleep and call.
- :func:`normalize_inputs`: what each input means as chat() keywords, checked before
  anything is sent.
- The checkpoint format: a JSONL file whose first line names the inputs' digest and each
  later line one finished item; :func:`read_checkpoint` is the resume rule (a torn last
  line is ignored, other inputs are refused).

Must not: sleep, import anyio or threading, open files or sockets.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Final

from ._batch import BatchItem
from ._exceptions import BudgetExceededError, InvalidRequestError, NeureusError
from ._record import Record

__all__ = [
    "CHAT_KEYWORDS",
    "MAX_WAIT_SLICE",
    "Call",
    "Checkpoint",
    "Job",
    "Scheduler",
    "TokenBucket",
    "Wait",
    "checkpoint_header",
    "checkpoint_record",
    "estimate_job_tokens",
    "inputs_digest",
    "item_flow",
    "normalize_inputs",
    "read_checkpoint",
]

CHAT_KEYWORDS: Final = frozenset(
    {
        "model",
        "temperature",
        "max_tokens",
        "system_prompt",
        "prefer_async",
        "compress",
        "debug",
        "surface",
        "extra_headers",
        "extra_body",
        "timeout",
        "deadline",
    }
)
# Keywords that change how a call is sent, not what it answers: a checkpoint written with
# another timeout is still the same work.
_NOT_HASHED: Final = frozenset({"timeout", "deadline"})
# A waiting worker wakes at least this often, so an interrupted run stops promptly and a
# cooldown announced meanwhile is seen.
MAX_WAIT_SLICE: Final = 0.25
CHECKPOINT_VERSION: Final = 1


class TokenBucket:
    """``per_minute`` units spread evenly over the minute, with at most one second's worth
    (and at least one unit) at once. A take larger than that is allowed when the bucket is
    full and leaves it in debt, which later takes wait out.

    A new bucket holds one unit, not a full second's worth: runs made back to back (a Ray
    worker runs one per batch) would otherwise each start with a burst and together pass
    the rate."""

    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = 1.0
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` may be taken (0 when it may be taken now)."""
        self._refill(now)
        need = min(amount, self.capacity)
        # A hair of tolerance: refills are sums of float products, and a wait of 1e-14 s
        # is no wait.
        return 0.0 if self.level >= need - 1e-9 else (need - self.level) / self.rate

    def take(self, amount: float, now: float) -> None:
        """Take ``amount`` (after :meth:`wait_for` said 0)."""
        self._refill(now)
        self.level -= amount

    def give_back(self, amount: float) -> None:
        """Correct an estimate: a negative ``amount`` takes more."""
        self.level = min(self.capacity, self.level + amount)


class Scheduler:
    """The shared state of one run: throttles, cooldown, budget, stop. Not thread-safe by
    itself: every method runs under the injected ``lock`` (a real lock for the thread
    pool, a no-op one on an event loop)."""

    __slots__ = ("budget", "clock", "cooldown_until", "lock", "requests", "spent", "stopped", "tokens")

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        lock: AbstractContextManager[Any],
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_spend_usd: float | None = None,
        spent: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.clock = clock
        self.lock = lock
        now = clock()
        self.requests = None if requests_per_minute is None else TokenBucket(requests_per_minute, now)
        self.tokens = None if tokens_per_minute is None else TokenBucket(tokens_per_minute, now)
        self.cooldown_until = -math.inf
        self.budget = max_spend_usd
        self.spent = spent
        self.stopped = False

    def cool_down(self, seconds: float) -> None:
        """A 429 asked to wait ``seconds``: no worker of the run starts a call before then."""
        with self.lock:
            self.cooldown_until = max(self.cooldown_until, self.clock() + seconds)

    def stop(self) -> None:
        """Start no new call (the caller stopped reading, or was interrupted)."""
        with self.lock:
            self.stopped = True

    def budget_error(self) -> BudgetExceededError | None:
        """The error for an item not started because the run's budget is spent."""
        if self.budget is None:
            return None
        spent = self.spent()
        if spent < self.budget:
            return None
        return BudgetExceededError(
            f"Not started: this run has spent ${spent:.6g} of its max_spend_usd=${self.budget:.6g}. "
            "Run it again with a higher budget (and the same checkpoint) to finish.",
            spent_usd=spent,
            budget_usd=self.budget,
        )

    def admit(self, tokens: int) -> float:
        """0.0 when a call using about ``tokens`` may start now (and it is counted), else
        the seconds to wait before asking again."""
        if self.requests is None and self.tokens is None:
            # No throttle: only the cooldown, one float read that needs no lock. The lock
            # would be taken by every worker for every item, and with dozens of threads on
            # one GIL a shared lock held across a forced GIL switch stalls them all.
            wait = self.cooldown_until - self.clock()
            return wait if wait > 0 else 0.0
        with self.lock:
            now = self.clock()
            wait = self.cooldown_until - now
            if wait > 0:
                return wait
            requests, token_bucket = self.requests, self.tokens
            wait = max(
                0.0 if requests is None else requests.wait_for(1, now),
                0.0 if token_bucket is None else token_bucket.wait_for(tokens, now),
            )
            if wait > 0:
                return wait
            if requests is not None:
                requests.take(1, now)
            if token_bucket is not None:
                token_bucket.take(tokens, now)
            return 0.0

    def settle(self, estimated: int, used: int) -> None:
        """A call used ``used`` tokens where ``estimated`` were counted: correct the bucket."""
        if self.tokens is not None:
            with self.lock:
                self.tokens.give_back(estimated - used)


class Wait(Record):
    """Sleep this long, then send ``None`` back."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class Call(Record):
    """Make the call with this payload; send back its response or its ``NeureusError``."""

    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload


class Job(Record):
    """One input to run: its index, the input as given, the call's payload, its token estimate."""

    __slots__ = ("index", "input", "payload", "tokens")

    def __init__(self, index: int, input: Any, payload: Any, tokens: int = 0) -> None:
        self.index = index
        self.input = input
        self.payload = payload
        self.tokens = tokens


def item_flow(scheduler: Scheduler, job: Job) -> Generator[Wait | Call, Any, BatchItem[Any] | None]:
    """One item: wait for the budget, cooldown and throttle to allow it, call, settle."""
    while True:
        if scheduler.stopped:
            return None
        refusal = scheduler.budget_error()
        if refusal is not None:
            return BatchItem(job.index, job.input, None, refusal)
        wait = scheduler.admit(job.tokens)
        if wait <= 0:
            break
        yield Wait(min(wait, MAX_WAIT_SLICE))
    outcome = yield Call(job.payload)
    if isinstance(outcome, NeureusError):
        scheduler.settle(job.tokens, job.tokens)
        return BatchItem(job.index, job.input, None, outcome)
    used = (getattr(outcome, "input_tokens", None) or 0) + (getattr(outcome, "output_tokens", None) or 0)
    scheduler.settle(job.tokens, used or job.tokens)
    return BatchItem(job.index, job.input, outcome, None)


# -- inputs --------------------------------------------------------------------------------


def _check_keywords(keywords: Mapping[str, Any], where: str) -> None:
    if keywords.get("stream"):
        raise InvalidRequestError(f"{where}: stream=True is not supported in bulk runs; use client.ai.stream per item.")
    unknown = sorted(set(keywords) - CHAT_KEYWORDS - {"messages", "stream"})
    if unknown:
        raise InvalidRequestError(
            f"{where}: unknown chat() keyword(s) {', '.join(map(repr, unknown))}; "
            f"the keywords are {', '.join(sorted(CHAT_KEYWORDS))}."
        )


def normalize_inputs(inputs: Iterable[Any], chat_keywords: Mapping[str, Any]) -> list[Job]:
    """Each input as chat() keywords (``chat_keywords`` first, then the item's own).

    A str is one user message; a list (or tuple) is the messages; a dict holds chat()
    keywords with ``messages``. Anything else is an :class:`InvalidRequestError` naming
    its index. The messages themselves are checked by chat(), per item.
    """
    _check_keywords(chat_keywords, "chat_many")
    defaults = {k: v for k, v in chat_keywords.items() if k != "stream"}
    jobs: list[Job] = []
    if isinstance(inputs, (str, bytes, Mapping)):
        raise InvalidRequestError(
            f"inputs must be an iterable of inputs (a list of prompts, say); got one {type(inputs).__name__}. "
            "Wrap a single input in a list."
        )
    for index, raw in enumerate(inputs):
        if isinstance(raw, str):
            payload = {**defaults, "messages": [{"role": "user", "content": raw}]}
        elif isinstance(raw, (list, tuple)):
            payload = {**defaults, "messages": list(raw)}
        elif isinstance(raw, Mapping):
            _check_keywords(raw, f"inputs[{index}]")
            if "messages" not in raw:
                raise InvalidRequestError(
                    f"inputs[{index}] is a dict without 'messages'; a dict input holds chat() keywords, "
                    "e.g. {'messages': [{'role': 'user', 'content': 'Hi'}], 'model': 'gpt-4o-mini'}."
                )
            payload = {**defaults, **{k: v for k, v in raw.items() if k != "stream"}}
        else:
            raise InvalidRequestError(
                f"inputs[{index}] is {type(raw).__name__}; each input must be a str (one user message), "
                "a list of messages, or a dict of chat() keywords."
            )
        jobs.append(Job(index, raw, payload))
    return jobs


def _content_of(message: Any) -> str:
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
    return content if isinstance(content, str) else ""


def estimate_job_tokens(payload: Mapping[str, Any]) -> int:
    """Tokens a call may use, for ``tokens_per_minute``: ``ceil(len / 4)`` of each text,
    plus ``max_tokens`` when given (the reply's real size is settled afterwards)."""
    messages = payload.get("messages")
    texts = [_content_of(m) for m in messages] if isinstance(messages, (list, tuple)) else []
    system = payload.get("system_prompt")
    if isinstance(system, str):
        texts.append(system)
    max_tokens = payload.get("max_tokens")
    extra = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return sum(math.ceil(len(text) / 4) for text in texts) + max(extra, 0) or 1


# -- checkpoints ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def inputs_digest(jobs: Iterable[Job]) -> str:
    """A digest of every item's chat() keywords (inputs and shared keywords alike), in order."""
    digest = hashlib.sha256()
    count = 0
    for job in jobs:
        payload = {k: v for k, v in job.payload.items() if k not in _NOT_HASHED}
        digest.update(json.dumps(payload, sort_keys=True, default=_jsonable, separators=(",", ":")).encode())
        digest.update(b"\n")
        count += 1
    return f"sha256:{digest.hexdigest()}:{count}"


def checkpoint_header(digest: str, count: int) -> bytes:
    """The first line of a checkpoint file."""
    return json.dumps({"neureus_checkpoint": CHECKPOINT_VERSION, "inputs": count, "digest": digest}).encode() + b"\n"


def checkpoint_record(index: int, response: Any) -> bytes:
    """The line of one finished item (only successes are written: a rerun retries failures)."""
    # pydantic writes the JSON itself (three times faster than model_dump + json.dumps); it
    # escapes every newline inside strings, so the record stays on one line.
    data: bytes = response.model_dump_json(by_alias=True, exclude_none=True).encode()
    return b'{"index":%d,"response":%s}\n' % (index, data)


class Checkpoint(Record):
    """What a checkpoint file holds: ``done`` (index -> the response's wire data) and
    ``keep_bytes``, the length of its intact part (a torn last line is cut off before
    appending). ``fresh`` when the file has no header yet."""

    __slots__ = ("done", "fresh", "keep_bytes")

    def __init__(self, done: dict[int, Any], keep_bytes: int, fresh: bool) -> None:
        self.done = done
        self.keep_bytes = keep_bytes
        self.fresh = fresh


def read_checkpoint(data: bytes, *, digest: str, count: int, path: str) -> Checkpoint:
    """The resume rule: the file's records for these inputs, or a clear refusal.

    Only whole lines count: a process killed mid-write leaves a last line without its
    newline, which is ignored (and cut before appending). A header for other inputs or
    keywords, or a damaged line before the last, is an :class:`InvalidRequestError`.
    """
    end = data.rfind(b"\n") + 1
    lines = data[:end].splitlines()
    if not lines:
        return Checkpoint({}, 0, fresh=True)
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("neureus_checkpoint") != CHECKPOINT_VERSION:
        raise InvalidRequestError(
            f"{path} is not a neureus checkpoint file (its first line is not a checkpoint header); "
            "pass a new path, or delete the file."
        )
    if header.get("digest") != digest:
        raise InvalidRequestError(
            f"The checkpoint {path} was written for other inputs or chat keywords "
            f"({header.get('inputs')} inputs then, {count} now); resuming would mix two runs. "
            "Pass another checkpoint path, or delete the file to start over."
        )
    done: dict[int, Any] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            record = json.loads(line)
            index = record["index"]
            response = record["response"]
        except (ValueError, KeyError, TypeError):
            raise InvalidRequestError(
                f"The checkpoint {path} is damaged at line {number}; delete it (or that line) to go on."
            ) from None
        if not (isinstance(index, int) and 0 <= index < count and isinstance(response, dict)):
            raise InvalidRequestError(f"The checkpoint {path} is damaged at line {number}: no such item {index!r}.")
        done[index] = response
    return Checkpoint(done, end, fresh=False)
