"""Progress of a bulk run: a tqdm bar, a caller's callable, or nothing.

``progress=None`` shows a ``tqdm.auto`` bar (a widget in notebooks) when tqdm is installed
(the ``progress`` extra) and a terminal or a notebook is attached; ``False`` shows
nothing; a callable is called with each finished :class:`~neureus.BatchItem`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Progress", "make_progress"]


class Progress:
    """Shows nothing (also the base of the other displays)."""

    def update(self, item: Any, spent_usd: float) -> None:
        """One more item finished; ``spent_usd`` is the run's spending so far."""

    def close(self) -> None:
        """The run ended (or was interrupted)."""


class _Callback(Progress):
    def __init__(self, callback: Callable[[Any], object]) -> None:
        self._callback = callback

    def update(self, item: Any, spent_usd: float) -> None:
        self._callback(item)


class _Bar(Progress):
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._failed = 0

    def update(self, item: Any, spent_usd: float) -> None:
        if item.error is not None:
            self._failed += 1
        self._bar.set_postfix(failed=self._failed, spend=f"${spent_usd:.4f}", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    ip = get_ipython() if callable(get_ipython) else None
    return ip is not None and hasattr(ip, "kernel")


def _attached() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def make_progress(progress: object, *, total: int, initial: int, description: str) -> Progress:
    """The display for ``progress=`` (see the module docstring)."""
    if progress is False:
        return Progress()
    if callable(progress):
        return _Callback(progress)
    if progress is not None and progress is not True:
        from ._exceptions import InvalidRequestError

        raise InvalidRequestError(f"progress must be None, True, False or a callable; got {type(progress).__name__}.")
    if progress is None and not (_in_notebook() or _attached()):
        return Progress()
    import importlib

    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm  # the optional `progress` extra
    except ImportError:
        return Progress()
    return _Bar(tqdm(total=total, initial=initial, desc=description, unit="item", dynamic_ncols=True))
