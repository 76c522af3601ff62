"""No secret reaches Sentry, with its default settings, from any failed call.

Sentry's default ``include_local_variables=True`` uploads the locals of every frame of
an exception and of its ``__cause__``/``__context__`` chain. ``_sentry_probe.py`` runs
each failure (sync, asyncio and trio) under ``sentry_sdk.init`` with a transport that
keeps envelopes in memory, in a subprocess (``init`` patches the standard library for
the life of a process), and reports which secrets the serialised envelopes contain.
A control frame holding a key in a plain tuple proves the probe sees leaks. The
``neureus`` logger is at DEBUG, so its lines travel as breadcrumbs too (one server echoes
the key as the request id).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentry_sdk")

PROBE = Path(__file__).with_name("_sentry_probe.py")


@pytest.fixture(scope="module")
def sentry_report() -> dict[str, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "NEUREUS_"))}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    done = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, dict[str, object]] = json.loads(done.stdout)
    return report


def test_the_probe_sees_a_leak_when_there_is_one(sentry_report: dict[str, dict[str, object]]) -> None:
    control = sentry_report["control"]
    assert control["captured"] and control["has_vars"]
    assert control["leaks"] == ["api_key"]


def test_no_failed_call_sends_a_secret_to_sentry(sentry_report: dict[str, dict[str, object]]) -> None:
    cases = {name: result for name, result in sentry_report.items() if name.startswith(("sync-", "asyncio-", "trio-"))}
    assert len(cases) == 7 * 3  # every scenario, sync + asyncio + trio
    for name, result in cases.items():
        assert result["captured"] and result["has_vars"], name
        assert result["frames_with_neureus"], name  # the SDK's own frames were serialised
        assert result["has_breadcrumbs"], name  # and its log lines, as breadcrumbs
    leaking = {name: result["leaks"] for name, result in cases.items() if result["leaks"]}
    assert not leaking, leaking


def test_no_failed_construction_sends_the_key_to_sentry(sentry_report: dict[str, dict[str, object]]) -> None:
    """A ConfigurationError from Neureus(...)/AsyncNeureus(...) with a valid key, passed as
    api_key= or read from NEUREUS_API_KEY: the constructor's frames are uploaded too."""
    cases = {name: result for name, result in sentry_report.items() if name.startswith("constructor-")}
    assert len(cases) == 2 * 4 * 2
    for name, result in cases.items():
        assert result["captured"] and result["has_vars"], name
        assert result["frames_with_neureus"], name  # the constructor's own frames were serialised
    leaking = {name: result["leaks"] for name, result in cases.items() if result["leaks"]}
    assert not leaking, leaking


def test_no_failed_with_options_sends_a_key_to_sentry(sentry_report: dict[str, dict[str, object]]) -> None:
    cases = {name: result for name, result in sentry_report.items() if name.startswith("with_options-")}
    assert len(cases) == 2 * 3 * 2
    for name, result in cases.items():
        assert result["captured"] and result["has_vars"] and result["frames_with_neureus"], name
    leaking = {name: result["leaks"] for name, result in cases.items() if result["leaks"]}
    assert not leaking, leaking
