"""``import neureus`` stays cheap: structural checks, not timings (DESIGN.md, "The tree").

Each check runs in a fresh interpreter, so modules imported by other tests do not count.
Timings live in ``benchmarks/bench_import.py``; this only guards what is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NEVER_IMPORTED = ("neureus.testing", "neureus._cli", "neureus.preprocessing", "http.server", "IPython")


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import neureus",
        "import neureus; neureus.Neureus(api_key='nru_test'); neureus.AsyncNeureus(api_key='nru_test')",
    ],
    ids=["import", "import-and-build-clients"],
)
def test_import_neureus_leaves_heavy_modules_alone(code: str) -> None:
    loaded = _modules_after(code)
    unexpected = sorted(
        name for name in loaded for banned in NEVER_IMPORTED if name == banned or name.startswith(banned + ".")
    )
    assert unexpected == [], f"`{code}` imported {unexpected}"
