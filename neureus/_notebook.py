"""Show a stream live in a Jupyter cell: one output, updated as the tokens arrive.

>>> from neureus import display_stream
>>> text = display_stream(client.ai.stream([{"role": "user", "content": "Hi"}]))  # doctest: +SKIP

In a notebook (an IPython kernel) the reply is one Markdown output, re-rendered as it
grows (``display(..., display_id=True)`` then ``handle.update(...)``). Anywhere else (a
script, a terminal IPython, no IPython installed) the tokens are printed as they come.
IPython is not a dependency: it is imported here, when a stream is shown, and only if it
is installed.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from ._streaming import AsyncChatStream, ChatStream

__all__ = ["adisplay_stream", "display_stream"]

MIN_INTERVAL = 0.05
"""Seconds between two re-renders of the output: fast streams are not redrawn per token."""


class _ShownText(str):
    """The text a stream's live view already showed in a notebook cell.

    A plain ``str`` as a cell's last line (``display_stream(...)``) would be shown a second
    time as the cell's result. This ``str`` tells IPython's display hook that the cell that
    made it has shown it already; in any later cell it displays as the string it is.
    """

    _cell: object  # the execution count of the cell that showed it (str allows no __slots__)

    def _ipython_display_(self) -> None:
        shell = _shell()
        if shell is not None and getattr(shell, "execution_count", None) == self._cell:
            return  # the cell's last line: the live view above is the output
        ipython_display: Any = importlib.import_module("IPython.display")
        ipython_display.display(str(self))


def _shown_text(text: str) -> str:
    shell = _shell()
    if shell is None:
        return text
    shown = _ShownText(text)
    shown._cell = getattr(shell, "execution_count", None)
    return shown


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


class _LiveView:
    """Where a stream's text goes as it grows: a notebook output, or stdout."""

    def __init__(self, min_interval: float) -> None:
        self._min_interval = min_interval
        self._text = ""
        self._shown_at = 0.0
        self._shown = ""
        self._handle: Any = None
        self._markdown: Any = None
        display = _notebook_display()
        if display is not None:
            show, self._markdown = display
            self._handle = show(self._markdown("…"), display_id=True)

    def add(self, token: str) -> None:
        self._text += token
        if self._handle is None:
            print(token, end="", flush=True)
        elif time.monotonic() - self._shown_at >= self._min_interval:
            self._render()

    def finish(self) -> None:
        if self._handle is None:
            print(flush=True)
        elif self._text != self._shown or not self._text:
            self._render()

    def _render(self) -> None:
        self._handle.update(self._markdown(self._text or "*(empty reply)*"))
        self._shown = self._text
        self._shown_at = time.monotonic()


def _notebook_display() -> tuple[Any, Any] | None:
    """IPython's ``display`` and ``Markdown`` when running in a notebook kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        return None
    shell = get_ipython()
    # A terminal IPython would print "<IPython.core.display.Markdown object>": print tokens there.
    if shell is None or "Terminal" in type(shell).__name__:
        return None
    return display, Markdown


def display_stream(stream: ChatStream, *, min_interval: float = MIN_INTERVAL) -> str:
    """Show a :class:`~neureus.ChatStream` live (one notebook output, updated in place); return its text.

    >>> text = display_stream(client.ai.stream(messages))  # doctest: +SKIP

    Outside a notebook the tokens are printed as they arrive. The stream is read to its
    end and closed; its errors (``StreamError``, ``IncompleteStreamError``) propagate after
    what arrived has been shown.
    """
    view = _LiveView(min_interval)
    with stream:
        try:
            for token in stream:
                view.add(token)
        finally:
            view.finish()
    return _shown_text(stream.text)


async def adisplay_stream(stream: AsyncChatStream, *, min_interval: float = MIN_INTERVAL) -> str:
    """Show an :class:`~neureus.AsyncChatStream` live; return its text (``await`` it, e.g. in a cell).

    >>> text = await adisplay_stream(client.ai.stream(messages))  # doctest: +SKIP

    The stream may be un-awaited (``client.ai.stream(...)``) or already opened.
    """
    view = _LiveView(min_interval)
    async with stream:
        try:
            async for token in stream:
                view.add(token)
        finally:
            view.finish()
    return _shown_text(stream.text)
