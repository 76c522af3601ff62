"""How fast is ``neureus.preprocessing.preprocess``, next to the least any such pass could cost?

The floor is a plain Python loop doing ``text.strip()`` and one precompiled ``re.sub`` per
message over the same data: the normalize work alone, with no validation, no structure,
no trim, no stats and no output messages. ``preprocess`` runs all of that on top, so the
ratio to the floor is the price of the pipeline. The target is under 3x at 100k messages,
with linear growth (the time per message at 100k close to the time per message at 1k).

The conversations are realistic and mixed: prose and code of 40 to 1,500 characters,
CRLF line ends, runs of blank and whitespace-only lines, padding around the contents, a
system message in the middle, and far more than 6,000 tokens, so ``trim`` has work to do.

Runs alternate (floor, preprocess, floor, preprocess, ...) so drift in the machine's speed
hits both alike; each run is timed with the garbage collector paused, as ``timeit`` does.

    python benchmarks/bench_preprocess.py            # --quick: under a minute
    python benchmarks/bench_preprocess.py --full     # more repetitions, steadier numbers

Standard library only (plus neureus).
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from neureus.preprocessing import preprocess

SIZES = (1_000, 10_000, 100_000)
# Repetitions per size: (quick, full).
REPEATS = {1_000: (41, 201), 10_000: (15, 61), 100_000: (7, 21)}

FLOOR_RE = re.compile(r"\n(?:[^\S\n]*\n)+")

WORDS = [
    "the", "gateway", "routes", "each", "request", "to", "a", "model", "and", "returns", "tokens",
    "as", "they", "arrive", "while", "caching", "answers", "per", "tenant", "so", "repeated",
    "prompts", "cost", "nothing", "keys", "stay", "encrypted", "retry", "stream", "`code`",
]  # fmt: skip
CODE = 'def handler(request):\n    body = request.json()\n    return {"ok": True, "items": body["items"]}\n'


def make_content(rng: random.Random) -> str:
    """One message: a few paragraphs, sometimes code, messy whitespace, sometimes CRLF."""
    paragraphs = []
    for _ in range(rng.randint(1, 4)):
        paragraphs.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 60))))
        if rng.random() < 0.15:
            paragraphs.append(CODE)
    gaps = ["\n\n", "\n\n\n\n", "\n  \n\t\n", "\n"]
    text = ""
    for paragraph in paragraphs:
        text += paragraph + rng.choice(gaps)
    text = rng.choice(["", "  ", "\n", " \t "]) + text + rng.choice(["", " ", "\n\n"])
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
    return text


def make_conversation(size: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": make_content(rng)} for n in range(size)
    ]
    messages[size // 2] = {"role": "system", "content": "  Answer briefly.\r\n\r\n\r\nCite sources.  "}
    return messages


def floor(messages: list[dict[str, Any]]) -> list[str]:
    sub = FLOOR_RE.sub
    return [sub("\n\n", message["content"].strip()) for message in messages]


def run_preprocess(messages: list[dict[str, Any]]) -> object:
    return preprocess(messages)


def timed(fn: Callable[[list[dict[str, Any]]], object], data: list[dict[str, Any]]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn(data)
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure(size: int, repeats: int) -> dict[str, list[float]]:
    data = make_conversation(size)
    result = preprocess(data)
    assert result.stats.trimmed, "the benchmark conversation must be long enough to trim"
    times: dict[str, list[float]] = {"floor": [], "preprocess": []}
    for _ in range(2):  # warm-up: caches, the stats model's schema, the regex
        floor(data)
        run_preprocess(data)
    for _ in range(repeats):
        times["floor"].append(timed(floor, data))
        times["preprocess"].append(timed(run_preprocess, data))
    return times


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repetitions, under a minute (default)")
    mode.add_argument("--full", action="store_true", help="more repetitions, steadier numbers")
    mode.add_argument("--smoke", action="store_true", help="the quickest run (CI): 1,000 messages, 3 repetitions")
    args = parser.parse_args(argv)
    full = bool(args.full)
    sizes = (1_000,) if args.smoke else SIZES

    print(f"Python {platform.python_version()} on {platform.platform()}; {'full' if full else 'quick'} run")
    print("times in ms: median (min–max) over interleaved runs; µs/msg from the medians;")
    print("ratio: median over runs of preprocess time / the floor run just before it\n")
    header = (
        f"{'messages':>9} | {'floor ms':>26} | {'preprocess ms':>26} | "
        f"{'floor µs/msg':>12} | {'pre µs/msg':>10} | {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    per_message: dict[int, float] = {}
    floor_per_message: dict[int, float] = {}
    ratios: dict[int, float] = {}
    for size in sizes:
        repeats = 3 if args.smoke else REPEATS[size][1 if full else 0]
        times = measure(size, repeats)
        cells = []
        for name in ("floor", "preprocess"):
            values = times[name]
            cells.append(f"{fmt_ms(statistics.median(values))} ({fmt_ms(min(values))}–{fmt_ms(max(values))})")
        floor_median = statistics.median(times["floor"])
        pre_median = statistics.median(times["preprocess"])
        per_message[size] = pre_median / size * 1e6
        floor_per_message[size] = floor_median / size * 1e6
        # Each preprocess run is compared with the floor run just before it, so a burst of
        # load on the machine hits both sides of a ratio; the median of those ratios is shown.
        ratios[size] = statistics.median(p / f for f, p in zip(times["floor"], times["preprocess"], strict=True))
        print(
            f"{size:>9,} | {cells[0]:>26} | {cells[1]:>26} | {floor_per_message[size]:>12.3f} | "
            f"{per_message[size]:>10.3f} | {ratios[size]:>5.2f}x"
        )
        sys.stdout.flush()

    first, last = sizes[0], sizes[-1]
    growth = per_message[last] / per_message[first]
    floor_growth = floor_per_message[last] / floor_per_message[first]
    print(
        f"\ngrowth: µs/msg at {last:,} / at {first:,} = {growth:.2f} for preprocess, {floor_growth:.2f} for "
        "the floor\n        (1.00 is perfectly linear; the floor shows what memory and machine load add)"
    )
    verdict = "OK, under 3x" if ratios[last] < 3 else "OVER the 3x target"
    print(f"ratio to the floor at {last:,} messages: {ratios[last]:.2f}x ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
