"""``import neureus`` plus building a client, each sample in a fresh interpreter, CPU ms.

Every sample is a new ``python -c`` process that times the imports and the client
construction (interpreter start-up is excluded, for every case alike) in CPU time
(``process_time``), which the other processes of a shared machine inflate far less than
wall time; wall time (``perf_counter``) is printed beside it. Cases:

- ``deps``: ``import httpx, pydantic, httpx_sse, anyio``: the floor of issue #7.
- ``deps + httpx.Client()``: the same plus building one httpx pool, which imports
  httpcore (and h11, and trio when it is installed) and loads the CA bundle: the floor
  for any SDK that builds its pool at construction.
- ``neureus``: ``import neureus; neureus.Neureus(api_key=...)``.
- ``neureus import only``: ``import neureus``.
- ``openai`` / ``anthropic``: ``import openai; openai.OpenAI(api_key=...)`` and the same.

Every sample may read and write bytecode caches (``__pycache__``), as an installed package
does; the warm-up round writes them, so no case is timed compiling source.

Target (issue #16): neureus <= 1.10x deps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import _common
from _common import Case, Report, interleave

SNIPPETS = {
    "deps": "import httpx, pydantic, httpx_sse, anyio",
    "deps + httpx.Client()": "import httpx, pydantic, httpx_sse, anyio; httpx.Client()",
    "neureus": "import neureus; neureus.Neureus(api_key='nru_bench')",
    "neureus import only": "import neureus",
    "openai": "import openai; openai.OpenAI(api_key='sk-bench')",
    "anthropic": "import anthropic; anthropic.Anthropic(api_key='sk-ant-bench')",
}

TEMPLATE = """\
import time
_t, _c = time.perf_counter(), time.process_time()
{code}
print((time.perf_counter() - _t) * 1000, (time.process_time() - _c) * 1000)
"""

WALL: dict[str, list[float]] = {}  # wall ms per case, in the order of its samples


def sample(code: str, tree: str | None = None) -> tuple[float, float]:
    """(CPU ms, wall ms) of ``code`` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEUREUS_", "OPENAI_", "ANTHROPIC_"))}
    # Bytecode caches on, as in any installed package (pip compiles at install): with
    # PYTHONDONTWRITEBYTECODE set, a source checkout is recompiled in every sample (~29 ms for
    # neureus here) while the dependencies in site-packages load their .pyc files.
    # The warm-up round writes the caches.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if tree:
        env["PYTHONPATH"] = tree  # a patched copy of the package, found before the installed one
    out = subprocess.run(
        [sys.executable, "-c", TEMPLATE.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not the checkout: "" on sys.path must not shadow `tree`
        env=env,
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def timed(name: str, code: str, tree: str | None = None) -> Case:
    def run() -> float:
        cpu, wall = sample(code, tree)
        WALL.setdefault(name, []).append(wall)
        return cpu

    return Case(name, run)


def main() -> Report:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-peers", action="store_true")
        p.add_argument(
            "--patched",
            metavar="DIR",
            help="also time a copy of the package in DIR (e.g. main's, for a before/after)",
        )

    args = _common.parse_args(__doc__.splitlines()[0], extra)
    rounds = 1 if args.smoke else 31 if args.full else 7
    args.no_peers = args.no_peers or args.smoke
    names = [n for n in SNIPPETS if not (args.no_peers and n in ("openai", "anthropic"))]
    cases = [timed(name, SNIPPETS[name]) for name in names]
    info = [("neureus", "deps + httpx.Client()"), ("neureus import only", "deps")]
    if args.patched:
        cases.insert(3, timed("neureus, patched copy", SNIPPETS["neureus"], args.patched))
        info.insert(0, ("neureus, patched copy", "deps"))
    interleave(cases, rounds)
    for name in WALL:  # the warm-up round's samples are not kept
        del WALL[name][: len(WALL[name]) - rounds]
    wall_ratios = sorted(n / d for n, d in zip(WALL["neureus"], WALL["deps"], strict=True))
    report = Report(
        bench="import",
        title=f"import + build a client, fresh interpreter each sample, CPU ms, {rounds} interleaved rounds",
        unit="ms",
        higher_is_better=False,
        cases=cases,
        baseline="deps",
        subject="neureus",
        target=1.10,
        notes=[
            "interpreter start-up excluded; bytecode caches warm",
            "wall ms (median): " + ", ".join(f"{k} {sorted(v)[len(v) // 2]:.1f}" for k, v in WALL.items()),
            f"wall: neureus / deps = {wall_ratios[len(wall_ratios) // 2]:.3f} (median of per-round ratios)",
        ],
        extra={"wall_ms": WALL},
        versions=_common.versions(
            "neureus", "httpx", "httpcore", "pydantic", "httpx-sse", "anyio", "trio", "openai", "anthropic"
        ),
    )
    report.print(info_ratios=info)
    report.save(args.json)
    return report


if __name__ == "__main__":
    main()
