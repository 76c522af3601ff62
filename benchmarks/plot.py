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
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
COLORS = {"neureus": "#d95f02", "openai": "#7570b3", "anthropic": "#1b9e77"}


def _color(name: str) -> str:
    for key, color in COLORS.items():
        if name.startswith(key):
            return color
    return "#999999"


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
            ratios = [r["cases"][n].get("vs_baseline", r["cases"][n]["median"] / base_median) for n in names]
        else:
            names = [base, r["subject"]]
            ratios = [1.0, next(iter(r["ratios"].values()))]
        y = list(range(len(names)))[::-1]
        ax.barh(y, ratios, color=[_color(n) for n in names])
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        target = r.get("target")
        if target:
            ax.axvline(target, color="#d95f02", linestyle="--", linewidth=1, label=f"target {target}x")
            ax.legend(fontsize=7, loc="lower right")
        for yy, ratio in zip(y, ratios, strict=True):
            ax.text(ratio, yy, f" {ratio:.2f}x", va="center", fontsize=7)
        better = "higher is better" if r.get("higher_is_better") else "lower is better"
        ax.set_title(f"{r.get('title', r['bench'])[:90]}\n(ratio to {base}; {better})", fontsize=8)
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
