"""``--patched DIR``: time another copy of ``neureus/`` in the same run, side by side.

The copy is loaded under another module name (``neureus_patched``; the package imports
itself only relatively), so both versions run interleaved in one process on the same
machine state: e.g. ``git archive main neureus | tar -x -C /tmp/base`` then
``--patched /tmp/base/neureus`` times main's copy next to the working tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import Case

NAME = "neureus_patched"
LABEL = " (patched)"


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--patched", metavar="DIR", help="also time the copy of the neureus package in DIR, side by side"
    )


def load(directory: str, name: str = NAME) -> ModuleType:
    """The package in ``directory`` (its ``__init__.py``), imported as ``name``.

    ``name="neureus"`` (in a worker process, before anything imports neureus) makes that
    copy the one every ``import neureus`` of the process gets.
    """
    path = Path(directory).resolve()
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"--patched: no package at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def chat_cases(
    client: Any,
    async_client: Any,
    messages: Any,
    expected: str,
    loop: asyncio.AbstractEventLoop,
    per_call: Callable[[Callable[[], object]], Callable[[], float]],
    per_acall: Callable[[Callable[[], Awaitable[object]]], Callable[[], float]],
) -> list[Case]:
    """The patched copy's two chat cases (sync and async), checked like the working tree's."""

    def call() -> str:
        text: str = client.ai.chat(messages).text
        return text

    async def acall() -> str:
        text: str = (await async_client.ai.chat(messages)).text
        return text

    assert call() == expected and loop.run_until_complete(acall()) == expected
    return [Case("neureus" + LABEL, per_call(call)), Case("neureus async" + LABEL, per_acall(acall))]


def chat_info_ratios(patched: object) -> list[tuple[str, str]]:
    """The info lines of a chat benchmark run with ``--patched``: the copy against raw
    httpx, and the working tree against the copy (none without a copy)."""
    if patched is None:
        return []
    return [
        ("neureus" + LABEL, "raw httpx"),
        ("neureus async" + LABEL, "raw httpx async"),
        ("neureus", "neureus" + LABEL),
        ("neureus async", "neureus async" + LABEL),
    ]
