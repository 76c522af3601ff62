"""Every ``examples/*.py`` runs, offline, against the built-in emulator.

Each runs as its own process with NEUREUS_API_KEY removed from the environment, as a new
user would first run it. It must exit 0 and, when it talks to a gateway, say that it is
using the emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(path for path in EXAMPLES.glob("*.py") if not path.name.startswith("_"))
# Examples that start something heavy run in their own test instead of here.
RUN_ELSEWHERE = {"ray_chat_many.py": "starts a local Ray cluster; tests/test_ray.py runs it"}
EMULATOR_LINE = "built-in offline emulator"


def test_the_examples_are_found() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"quickstart.py", "streaming.py", "async_streaming.py", "error_handling.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_example_runs_offline(script: Path, tmp_path: Path) -> None:
    if script.name in RUN_ELSEWHERE:
        pytest.skip(RUN_ELSEWHERE[script.name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUREUS_")}
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,  # examples must not depend on the working directory
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    source = script.read_text(encoding="utf-8")
    if any(name in source for name in ("make_client", "make_async_client", "FakeGateway")):
        # It talks to a gateway: it must say it is the emulator (no key was set).
        assert EMULATOR_LINE in proc.stdout.splitlines()[0], proc.stdout
