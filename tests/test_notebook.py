"""``examples/notebook.ipynb`` runs top to bottom in a real Jupyter kernel, offline.

The kernel is ``python3`` run by this very interpreter (ipykernel, from the ``dev`` extra):
a kernelspec written for the test comes first on ``JUPYTER_PATH``, so a user-level
``python3`` kernel pointing at another Python cannot be picked up instead. Any cell that raises fails the test; the live-stream cells must end as one
Markdown output holding the whole reply.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]')")
nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[dev]')")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


def tagged(notebook: Any, tag: str) -> Any:
    (cell,) = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def mime(cell: Any, kind: str) -> list[str]:
    return [o["data"][kind] for o in cell.outputs if kind in o.get("data", {})]


def use_this_interpreter_as_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[dev]')")
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3 (tests)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def test_the_notebook_runs_in_a_real_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("NEUREUS_")]:
        monkeypatch.delenv(name)
    use_this_interpreter_as_kernel(tmp_path, monkeypatch)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []

    stream = tagged(notebook, "stream")
    assert [o.output_type for o in stream.outputs] == ["display_data"]  # one output, updated in place
    assert mime(stream, "text/markdown") == [
        "**Edge computing** runs code close to the user, so replies arrive *fast*."
    ]
    astream = tagged(notebook, "astream")
    assert mime(astream, "text/markdown") == ["Hello from the Neureus emulator! You said: Stream, asynchronously"]

    assert mime(tagged(notebook, "chat"), "text/markdown")[0].startswith("Hello from the Neureus emulator!")
    assert "claude-sonnet-4-6" in mime(tagged(notebook, "models"), "text/html")[0]
    assert "(trimmed)" in mime(tagged(notebook, "preprocess"), "text/html")[0]


def run_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *sources: str) -> list[Any]:
    """Run these cells in a real kernel (this interpreter); returns the executed cells."""
    for name in [name for name in os.environ if name.startswith("NEUREUS_")]:
        monkeypatch.delenv(name)
    use_this_interpreter_as_kernel(tmp_path, monkeypatch)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return list(notebook.cells)


def test_display_stream_as_a_cells_last_line_shows_the_reply_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup, last_line, assigned, later, free = run_cells(
        tmp_path,
        monkeypatch,
        "from neureus import display_stream\n"
        "from neureus.testing import FakeGateway\n"
        "from neureus.types import ChatResponse\n"
        "gateway = FakeGateway()\n"
        "client = gateway.client()",
        'gateway.queue_stream(["Once", " only"])\ndisplay_stream(client.ai.stream([{"role": "user", "content": "x"}]))',
        'gateway.queue_stream(["Kept", " text"])\ntext = display_stream(client.ai.stream([{"role": "user", "content": "x"}]))',
        "text",
        'ChatResponse.model_validate({"text": "Free", "inputTokens": 3, "outputTokens": 1, "costUsd": 0})',
    )
    # The live view is the one output; no execute_result repeats the text underneath.
    assert [o.output_type for o in last_line.outputs] == ["display_data"]
    assert mime(last_line, "text/markdown") == ["Once only"]
    assert [o.output_type for o in assigned.outputs] == ["display_data"]
    # The returned text is still a string, shown as one when asked for in a later cell.
    assert [o["data"]["text/plain"] for o in later.outputs] == ["'Kept text'"]
    # A free call costs "$0", not "$0.000000".
    (markdown,) = mime(free, "text/markdown")
    assert "$0*" in markdown and "$0.0" not in markdown
