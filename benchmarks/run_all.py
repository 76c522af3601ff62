"""Run every benchmark, one after another, and write ``benchmarks/results/latest.json``.

    python benchmarks/run_all.py            # --quick runs (a few minutes in all)
    python benchmarks/run_all.py --full     # more rounds and events (much longer)
    python benchmarks/run_all.py --only import chat_inprocess
    python benchmarks/run_all.py --smoke    # CI: every benchmark in its quickest mode (~1 min)

Each benchmark runs in its own interpreter (so none inherits another's imports or event
loop) and writes its JSON; this script gathers them, prints each benchmark's headline
ratio, and ends with one summary table (every row: its ratio, target and noise), the noise
line, and the count of targets met; then it draws ``docs/img/performance.png`` (one panel
per row; ``benchmarks/plot.py``) when matplotlib is installed.

``--smoke`` checks that every benchmark runs and that its results are right (each
benchmark checks its answers: the chat text, every stream's event count, 0 failed streams
...); it never judges a time, and it exits non-zero when a benchmark fails. Its JSON goes
to a temporary file unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHES = [
    ("import", "bench_import.py"),
    ("stream_inprocess", "bench_stream_inprocess.py"),
    ("stream_loopback", "bench_stream_loopback.py"),
    ("chat_inprocess", "bench_chat_inprocess.py"),
    ("chat_loopback", "bench_chat_loopback.py"),
    ("concurrency", "bench_concurrency.py"),
    ("chat_many", "bench_chat_many.py"),
    ("emulator", "bench_emulator.py"),
    ("loop_lag", "bench_loop_lag.py"),
    ("preprocess", "bench_preprocess.py"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--smoke", action="store_true", help="quickest mode: checks results, never times (CI)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument(
        "--out", default=None, help="default: benchmarks/results/latest.json (a temporary file with --smoke)"
    )
    parser.add_argument("--patched", metavar="DIR", help="passed to bench_import.py (a patched copy of the package)")
    args = parser.parse_args()
    mode_flag = "--smoke" if args.smoke else "--full" if args.full else "--quick"
    if args.out is None:
        args.out = str(Path(tempfile.mkdtemp()) / "smoke.json") if args.smoke else str(HERE / "results" / "latest.json")
    out = Path(args.out)
    failed: list[str] = []
    load_before = _load()
    previous = json.loads(out.read_text()) if out.exists() else {}
    results: dict[str, object] = dict(previous.get("results", {})) if args.only else {}
    for name, script in BENCHES:
        path = HERE / script
        if args.only and name not in args.only:
            continue
        if not path.exists():
            print(f"-- {name}: {script} not found, skipped")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            json_path = Path(tmp) / "result.json"
            cmd = [sys.executable, str(path), mode_flag]
            if name != "preprocess":
                cmd += ["--json", str(json_path)]
            if name == "import" and args.patched:
                cmd += ["--patched", args.patched]
            print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            print(proc.stdout[-3000:], end="")
            if proc.returncode != 0:
                print(f"-- {name} FAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
                failed.append(name)
                continue
            if json_path.exists():
                results[name] = json.loads(json_path.read_text())
            else:
                # A benchmark without --json support: keep its printed table and last line.
                lines = [line for line in proc.stdout.splitlines() if line.strip()]
                entry: dict[str, object] = {
                    "bench": name,
                    "stdout_tail": lines[-25:],
                    "headline": lines[-1] if lines else "",
                }
                found = re.search(r"ratio to the floor at ([\d,]+) messages: ([\d.]+)x", lines[-1] if lines else "")
                if found:
                    entry.update(
                        {
                            "title": f"preprocess on {found.group(1)} messages vs strip + regex loop",
                            "higher_is_better": False,
                            "target": 3.0,
                            "baseline": "strip + regex loop",
                            "subject": "preprocess",
                            "ratios": {"preprocess / strip + regex loop": float(found.group(2))},
                        }
                    )
                results[name] = entry
    payload = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode_flag[2:],
        "load_average": {"before": load_before, "after": _load()},
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": _cpus()},
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}")
    print(f"\n{'benchmark':<18} {'ratio (median of per-round ratios)':>52}  {'target':>8}  {'noise':>6}  verdict")
    met = total = 0
    noises: list[float] = []
    for name, r in results.items():
        if not isinstance(r, dict) or "ratios" not in r:
            print(f"{name:<18} {str(r.get('headline', ''))[:60] if isinstance(r, dict) else ''}")
            continue
        cmp = ">=" if r["higher_is_better"] else "<="
        for label, value in r["ratios"].items():
            ok = value >= r["target"] if r["higher_is_better"] else value <= r["target"]
            met += ok
            total += 1
            noise = _noise(r, label)
            if noise is not None:
                noises.append(noise)
            shown = "" if noise is None else f"{noise * 100:5.1f}%"
            verdict = "(smoke: not judged)" if args.smoke else "MET" if ok else "NOT MET"
            print(f"{name:<18} {label[:52]:>52} = {value:6.3f}  {cmp} {r['target']:<5} {shown:>6}  {verdict}")
    if noises:
        print(
            f"NOISE median {statistics.median(noises) * 100:.1f}%, max {max(noises) * 100:.1f}% (half the "
            "interquartile range of each row's per-round ratios, over their median); load average "
            f"{load_before} before, {_load()} after"
        )
    if args.smoke:
        if failed:
            raise SystemExit(f"SMOKE FAILED: {', '.join(failed)}")
        print(f"SMOKE OK: {len(results)} benchmarks ran and checked their results (times are not judged)")
        return
    print(f"TARGETS MET {met} of {total}")
    if not args.no_plot and not args.only:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        else:
            subprocess.run([sys.executable, str(HERE / "plot.py"), "--results", str(out)], check=False)
    if failed:
        raise SystemExit(f"FAILED: {', '.join(failed)}")


def _load() -> str:
    import os

    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _noise(r: dict[str, Any], label: str) -> float | None:
    """Half the IQR of a row's per-round ratios (or values), relative to their median."""
    cases = r.get("cases", {})
    if r.get("absolute"):
        values = list(cases.get(r["subject"], {}).get("samples", []))
    else:
        subject, _, baseline = label.partition(" / ")
        a = cases.get(subject, {}).get("samples")
        b = cases.get(baseline, {}).get("samples")
        if not a or not b or len(a) != len(b):
            return None
        values = [x / y for x, y in zip(a, b, strict=True)]
    if len(values) < 4:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / 2 / statistics.median(values)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
