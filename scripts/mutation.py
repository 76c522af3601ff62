"""Mutation testing of the pure core: a score per module, with the fast unit tests.

    .venv/bin/python scripts/mutation.py                 # every core module, one at a time
    .venv/bin/python scripts/mutation.py _sse _wire      # some of them
    .venv/bin/python scripts/mutation.py --survivors _sse  # also list the surviving mutants

Too slow for CI (minutes per module); run it before closing a change to the core. Each
module is mutated in a scratch copy of the repository (build/mutation/<module>/), so the
work tree is never touched and one module's run never sees another's mutants. mutmut runs
tests/core and tests/preprocessing (and the module's EXTRA_TESTS) against each mutant.

The score leaves out the mutants listed in docs/test-strength.md as equivalent (a mutant
that changes no behaviour cannot be killed by any test): killed / (mutants - equivalent).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "_sse",
    "_stream_state",
    "_retry_policy",
    "_wire",
    "preprocessing/_passes",
    "_bulk_core",
    "_body",
    "_redact",
    "_known",
    "_usage",
]
TESTS = ["tests/core", "tests/preprocessing"]
# A module's own fast tests outside those folders (the endpoint table is checked through the
# public API, against the in-process emulator: under a second).
# The ledger is heard only from a call's flow, so its tests make calls, against the emulator
# (about 6 s for the three files).
EXTRA_TESTS = {
    "_wire": ["tests/shells/test_endpoints.py"],
    "_usage": [
        "tests/shells/test_usage.py",
        "tests/shells/test_ledger_hooks.py",
        "tests/shells/test_ledger_concurrency.py",
    ],
}
EQUIVALENT_DOC = ROOT / "docs" / "test-strength.md"
# In docs/test-strength.md, an equivalent mutant is a list item starting with its name in backticks.
_EQUIVALENT_LINE = re.compile(r"^- `(neureus\.[\w.]+__mutmut_\d+)`")
_UNKILLED = ("survived", "no tests")  # a mutant no test runs is as untested as one that survives
_RESULT_LINE = re.compile(r"^\s+(\S+): (\w[\w ]*)$")


def equivalent_mutants() -> set[str]:
    if not EQUIVALENT_DOC.exists():
        return set()
    names = set()
    for line in EQUIVALENT_DOC.read_text("utf-8").splitlines():
        match = _EQUIVALENT_LINE.match(line)
        if match:
            names.add(match.group(1))
    return names


def scratch_copy(module: str) -> Path:
    work = ROOT / "build" / "mutation" / module.replace("/", ".")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "neureus", work / "neureus", ignore=ignore)
    for folder in ("tests", "docs", "examples"):  # some unit tests read the docs' examples
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, work / folder, ignore=ignore)
    shutil.copy2(ROOT / "README.md", work / "README.md")
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    tests = ", ".join(f'"{path}"' for path in TESTS + EXTRA_TESTS.get(module, []))
    pyproject += (
        "\n[tool.mutmut]\n"
        'source_paths = ["neureus"]\n'
        f'only_mutate = ["neureus/{module}.py"]\n'
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        # The repository's warnings-as-errors stays on: a mutant that warns is a behaviour change.
        'pytest_add_cli_args = ["-q"]\n'
        'also_copy = ["docs", "examples", "README.md"]\n'
    )
    (work / "pyproject.toml").write_text(pyproject, "utf-8")
    return work


def run_module(module: str, max_children: int, timeout: float) -> dict[str, str]:
    work = scratch_copy(module)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("NEUREUS_API_KEY", None)
    env.pop("NEUREUS_BASE_URL", None)
    subprocess.run(
        [mutmut, "run", "--max-children", str(max_children)],
        cwd=work,
        env=env,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    listing = subprocess.run(
        [mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    statuses: dict[str, str] = {}
    for line in listing.stdout.splitlines():
        match = _RESULT_LINE.match(line)
        if match:
            statuses[match.group(1)] = match.group(2)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", default=CORE, help="modules under neureus/ (default: the core)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel test runs (default 1: shared machines)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per module")
    parser.add_argument("--survivors", action="store_true", help="list the surviving non-equivalent mutants")
    args = parser.parse_args()
    equivalent = equivalent_mutants()
    rows = []
    for module in args.modules:
        statuses = run_module(module, args.max_children, args.timeout)
        killed = sum(1 for status in statuses.values() if status in ("killed", "timeout", "caught by type check"))
        equiv = {name for name in statuses if name in equivalent}
        survivors = sorted(name for name, status in statuses.items() if status in _UNKILLED and name not in equiv)
        other = sorted(
            f"{name} ({status})"
            for name, status in statuses.items()
            if status not in ("killed", "timeout", "caught by type check", *_UNKILLED)
        )
        counted = len(statuses) - len(equiv)
        score = 100.0 * killed / counted if counted else 100.0
        rows.append((module, len(statuses), len(equiv), killed, len(survivors), score))
        print(f"{module}: {score:.1f}% ({killed} killed of {counted}; {len(equiv)} equivalent)", flush=True)
        if args.survivors:
            for name in survivors:
                print(f"    survived: {name}")
        if other:
            print(f"    {len(other)} mutant(s) not run, e.g. {other[0]}")
    print()
    print(f"{'module':28} {'mutants':>8} {'equiv':>6} {'killed':>7} {'survived':>9} {'score':>7}")
    for module, total, equiv_count, killed, survived, score in rows:
        print(f"{module:28} {total:8} {equiv_count:6} {killed:7} {survived:9} {score:6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
