"""``import neureus`` stays cheap: structural checks, not timings (DESIGN.md, "The tree").

Each check runs in a fresh interpreter, so modules imported by other tests do not count.
Timings live in ``benchmarks/bench_import.py``; this only guards what is imported: a new
eager import (a 0.2 module, an optional extra, the pool's httpcore) fails here, on purpose.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NEVER_IMPORTED = ("neureus.testing", "neureus._cli", "neureus.preprocessing", "http.server", "IPython")

# The optional extras and their integrations: `import neureus` never loads one.
EXTRAS = ("neureus.otel", "neureus.langchain", "neureus.ray", "opentelemetry", "langchain_core", "ray", "tqdm")

# What `import neureus` loads (issue #16): the clients, their configuration, the errors and
# the code of one call. The pydantic models, streaming, structured output, bulk work, the
# hooks' records and the helpers of the other namespaces load on first use.
CORE = {
    "neureus",
    "neureus._ai",
    "neureus._body",
    "neureus._client",
    "neureus._config",
    "neureus._cost",
    "neureus._exceptions",
    "neureus._known",
    "neureus._logs",
    "neureus._record",
    "neureus._redact",
    "neureus._retry",
    "neureus._retry_policy",
    "neureus._transport",
    "neureus._validation",
    "neureus._version",
    "neureus._wire",
}
# Not httpcore (the pool is built on the first request), not the hook dispatcher or the
# usage ledger (built on first use; an async client's first call loads the ledger off its loop).
OTHER_NEW_MODULES: set[str] = set()

DEPENDENCIES = "import httpx, pydantic, httpx_sse, anyio"
BUILD_CLIENTS = "neureus.Neureus(api_key='nru_test'); neureus.AsyncNeureus(api_key='nru_test')"


def _modules_after(code: str, before: str = "") -> set[str]:
    """The modules ``code`` adds to ``sys.modules`` after ``before`` ran, in a fresh interpreter."""
    script = (
        f"import json, sys\n{before}\n_before = set(sys.modules)\n{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - _before)))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _matching(loaded: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(name for name in loaded for p in prefixes if name == p or name.startswith(p + "."))


@pytest.mark.parametrize(
    "code",
    ["import neureus", f"import neureus; {BUILD_CLIENTS}"],
    ids=["import", "import-and-build-clients"],
)
def test_import_neureus_leaves_heavy_modules_alone(code: str) -> None:
    loaded = _modules_after(code)
    unexpected = _matching(loaded, NEVER_IMPORTED + EXTRAS)
    assert unexpected == [], f"`{code}` imported {unexpected}"


@pytest.mark.parametrize(
    "code",
    ["import neureus", f"import neureus; {BUILD_CLIENTS}"],
    ids=["import", "import-and-build-clients"],
)
def test_import_and_a_client_load_exactly_the_core(code: str) -> None:
    loaded = _modules_after(code, before=DEPENDENCIES)
    ours = {name for name in loaded if name == "neureus" or name.startswith("neureus.")}
    assert sorted(CORE - ours) == [], "a core module is no longer loaded: update CORE"
    assert sorted(ours - CORE) == [], "a module is now loaded eagerly: load it on first use"
    others = loaded - ours
    assert sorted(others - OTHER_NEW_MODULES) == [], "a new third-party or stdlib import at import time"


def test_lazy_public_names_load_their_module_on_first_use() -> None:
    # The names exist and are catchable as neureus.X, and only reading them loads them.
    code = (
        "import neureus\n"
        "assert 'neureus._structured' not in sys.modules\n"
        "try:\n"
        "    raise neureus.OutputValidationError('no', raw_replies=[], errors=[])\n"
        "except neureus.NeureusError as exc:\n"
        "    assert isinstance(exc, neureus.OutputValidationError)\n"
        "    assert type(exc).__module__ == 'neureus'\n"
        "assert neureus.ParsedChatResponse.__module__ == 'neureus'\n"
        "assert neureus.HookRecord.__name__ == 'HookRecord'\n"
    )
    loaded = _modules_after(code)
    assert {"neureus._structured", "neureus._hooks"} <= loaded


@pytest.mark.parametrize("namespace", ["neureus.types", "neureus.testing", "neureus.preprocessing"])
def test_the_other_namespaces_import_on_their_own(namespace: str) -> None:
    loaded = _modules_after(f"import {namespace}")
    assert namespace in loaded
    assert _matching(loaded, EXTRAS) == []
