"""Which progress display a bulk run gets: tqdm, a callable, or nothing."""

from __future__ import annotations

import io
import sys
import types
from typing import Any

import pytest

from neureus import InvalidRequestError
from neureus._batch import BatchItem
from neureus._progress import Progress, make_progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_false_and_no_terminal_show_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(make_progress(False, total=3, initial=0, description="x")) is Progress
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert type(make_progress(None, total=3, initial=0, description="x")) is Progress
    monkeypatch.setattr(sys, "stderr", None)
    assert type(make_progress(None, total=3, initial=0, description="x")) is Progress


def test_a_callable_gets_each_item() -> None:
    seen: list[Any] = []
    display = make_progress(seen.append, total=1, initial=0, description="x")
    item = BatchItem(0, "a")
    display.update(item, 0.5)
    display.close()
    assert seen == [item]


def test_anything_else_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="progress must be"):
        make_progress("yes", total=1, initial=0, description="x")


def test_a_terminal_gets_a_tqdm_bar_with_failed_and_spend(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    terminal = Tty()
    monkeypatch.setattr(sys, "stderr", terminal)
    display = make_progress(None, total=2, initial=0, description="chat_many")
    display.update(BatchItem(0, "a", response=object()), 0.25)
    display.update(BatchItem(1, "b", error=InvalidRequestError("x")), 0.5)
    display.close()
    shown = terminal.getvalue()
    assert "chat_many" in shown and "2/2" in shown and "failed=1" in shown and "spend=$0.5000" in shown


def test_a_notebook_kernel_counts_as_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    kernel_shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel_shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    display = make_progress(None, total=1, initial=0, description="x")
    assert type(display) is not Progress
    display.close()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert type(make_progress(None, total=1, initial=0, description="x")) is Progress


def test_without_tqdm_nothing_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes the import fail
    monkeypatch.setattr(sys, "stderr", Tty())
    assert type(make_progress(True, total=1, initial=0, description="x")) is Progress
