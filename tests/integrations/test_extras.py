"""Extras stay out of the core: ``import neureus`` loads none of them, and a missing extra
says which ``pip install`` to run."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

EXTRA_MODULES = ("opentelemetry", "langchain_core", "instructor", "neureus.otel", "neureus.langchain", "pydantic")


def test_import_neureus_and_a_call_load_no_extra() -> None:
    code = (
        "import json, sys, neureus\n"
        "from neureus.testing import FakeGateway\n"
        "FakeGateway().client(hooks=[lambda record: None]).ai.list_providers()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    for name in EXTRA_MODULES[:-1]:
        assert not any(m == name or m.startswith(name + ".") for m in loaded), name


def test_import_neureus_alone_does_not_load_pydantic_for_hooks_or_parse() -> None:
    # The hooks' and parse's modules load on first use: reach them through the public names.
    code = "import json, sys, neureus\nneureus.HookRecord, neureus.ParsedChatResponse\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "neureus._hooks" in loaded and "neureus._structured" in loaded
    assert "neureus._tool_call" not in loaded  # with the models, on first use


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [("neureus.otel", "opentelemetry", "otel"), ("neureus.langchain", "langchain_core", "langchain")],
)
def test_a_missing_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, module: str, missing: str, extra: str
) -> None:
    for name in list(sys.modules):
        if name in (missing, module) or name.startswith(missing + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # what an uninstalled package looks like to import
    with pytest.raises(ImportError, match=rf'pip install "neureus\[{extra}\]"'):
        importlib.import_module(module)
