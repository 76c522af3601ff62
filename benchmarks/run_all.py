"""Run every benchmark, one after another, and write ``benchmarks/results/latest.json``.

    python benchmarks/run_all.py            # --quick runs (a few minutes in all)
    python benchmarks/run_all.py --full     # more rounds and events (much longer)
    python benchmarks/run_all.py --only import chat_inprocess

Each benchmark runs in its own interpreter (so none inherits another's imports or event
loop) and writes its JSON; this script gathers them, prints each benchmark's headline
ratio, and ends with a summary table, the last line being the count of targets met.
Then ``python benchmarks/plot.py`` draws ``docs/img/performance.png`` from the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

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
    ("preprocess", "bench_preprocess.py"),  # another engineer's; included when present
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--patched", metavar="DIR", help="passed to bench_import.py (a patched copy of the package)")
    args = parser.parse_args()
    out = Path(args.out)
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
            cmd = [sys.executable, str(path), "--full" if args.full else "--quick"]
            if name != "preprocess":
                cmd += ["--json", str(json_path)]
            if name == "import" and args.patched:
                cmd += ["--patched", args.patched]
            print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            print(proc.stdout[-3000:], end="")
            if proc.returncode != 0:
                print(f"-- {name} FAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
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
        "mode": "full" if args.full else "quick",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": _cpus()},
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}")
    print(f"\n{'benchmark':<18} {'ratio':>24}  {'target':>8}  verdict")
    met = total = 0
    for name, r in results.items():
        if not isinstance(r, dict) or "ratios" not in r:
            print(f"{name:<18} {str(r.get('headline', ''))[:60] if isinstance(r, dict) else ''}")
            continue
        cmp = ">=" if r["higher_is_better"] else "<="
        for label, value in r["ratios"].items():
            ok = value >= r["target"] if r["higher_is_better"] else value <= r["target"]
            met += ok
            total += 1
            print(f"{name:<18} {label[:40]:>40} = {value:6.3f}  {cmp} {r['target']:<5} {'MET' if ok else 'NOT MET'}")
    print(f"TARGETS MET {met} of {total}")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
