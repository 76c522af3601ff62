"""Draw ``docs/img/performance.png`` from ``benchmarks/results/latest.json``.

One panel per benchmark: every case's median as a ratio to that benchmark's baseline
(log scale, so the peers' 5-40x fit beside neureus's 1x), neureus highlighted, and the
issue #7 target drawn as a dashed line.

    python benchmarks/plot.py [--results PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker as ticker

HERE = Path(__file__).resolve().parent
COLORS = {"neureus": "#d95f02", "preprocess": "#d95f02", "openai": "#7570b3", "anthropic": "#1b9e77"}


def _color(name: str) -> str:
    for key, color in COLORS.items():
        if name.startswith(key):
            return color
    return "#999999"


SHORT = {
    "import": "import neureus + build a client (ms; lower is better)",
    "stream_inprocess": "stream decoding in-process, 5,000 events (ev/s; higher is better)",
    "stream_loopback": "stream decoding over loopback (ev/s; higher is better)",
    "chat_inprocess": "one chat call in-process (µs; lower is better)",
    "chat_loopback": "one chat call over loopback (µs; lower is better)",
    "concurrency": "1,000 concurrent streams, wall time (s; lower is better)",
    "preprocess": "preprocess, 100k messages (ms; lower is better)",
    "loop_lag": "event-loop block of a new async client's first call (ms; lower is better)",
    "chat_many": "chat_many, 2,000 calls at concurrency 64 (items/s; higher is better)",
    "emulator": "the emulator vs uvicorn + Starlette (per second; higher is better)",
}


def _vs_baseline(r: dict[str, Any], name: str, base: str, base_median: float) -> float:
    """Paired ratio to the baseline; an async case is compared with the async baseline."""
    cases = r["cases"]
    if name.endswith(" async") and f"{base} async" in cases:
        base = f"{base} async"
    a, b = cases[name].get("samples"), cases[base].get("samples")
    if a and b and len(a) == len(b):
        return float(statistics.median(x / y for x, y in zip(a, b, strict=True)))
    return float(cases[name]["median"] / (cases[base]["median"] if base in cases else base_median))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "img" / "performance.png"))
    args = parser.parse_args()
    data = json.loads(Path(args.results).read_text())
    results = [r for r in data["results"].values() if isinstance(r, dict) and ("cases" in r or "ratios" in r)]
    cols = 2
    rows = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 3.1 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results, strict=False):
        base = r.get("baseline", "")
        if "cases" in r:
            base_median = r["cases"][base]["median"]
            names = list(r["cases"])
            # Ratios as "times slower than the baseline" would flip for throughput; show
            # what the targets use: subject / baseline on the benchmark's own unit.
            ratios = [_vs_baseline(r, n, base, base_median) for n in names]
        else:
            names = [base, r["subject"]]
            ratios = [1.0, next(iter(r["ratios"].values()))]
        absolute = bool(r.get("absolute"))
        if absolute:  # the target is on the subject's own value (ms), not a ratio
            ratios = [max(r["cases"][n]["median"], 1e-3) for n in names]
        for key, value in r.get("ratios", {}).items():
            if "peak RSS" in key:  # the 1,000-streams row's second target
                names.append(key.split(" / ")[0])
                ratios.append(value)
        y = list(range(len(names)))[::-1]
        ax.barh(y, ratios, color=[_color(n) for n in names])
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        target = r.get("target")
        if target:
            label = f"target {target} {r.get('unit', '')}" if absolute else f"target {target}x"
            ax.axvline(target, color="#d95f02", linestyle="--", linewidth=1, label=label)
            ax.legend(fontsize=7, loc="lower right")
        for yy, ratio in zip(y, ratios, strict=True):
            ax.text(ratio, yy, f" {ratio:.2f}{' ' + r.get('unit', '') if absolute else 'x'}", va="center", fontsize=7)
        title = SHORT.get(r["bench"], r.get("title", r["bench"]))
        subtitle = "median of rounds" if absolute else f"ratio to {base} (async cases: to its async run)"
        ax.set_title(f"{title}\n{subtitle}", fontsize=8)
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g" if absolute else "%gx"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.suptitle(
        f"neureus performance vs raw httpx and the peers ({data['mode']} run, {data['generated']})", fontsize=10
    )
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
