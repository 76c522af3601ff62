"""Terminal input and output for the CLI: secrets from stdin or a hidden prompt, tables, JSON.

Secrets are never taken from argv (visible in ``ps`` and shell history): they come from
stdin when it is piped, else from ``getpass``. Every secret read is remembered so that
an error line can redact it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Collection, Sequence
from typing import Any, TypeAlias

from ._terminal import is_terminal, strip_escapes

__all__ = [
    "SECRETS",
    "Commands",
    "UsageError",
    "count",
    "print_json",
    "read_prompt",
    "read_secret",
    "table",
    "write_text",
]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns; each command module registers its commands on it."""

SECRETS: list[str] = []
"""Every secret this process has read, for redaction in error lines."""


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit code 2."""


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more (``--max-retries``, ``--keep-turns``, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def read_secret(what: str) -> str:
    """One secret from piped stdin (its only non-blank line), else from a hidden prompt."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        try:
            value = getpass.getpass(f"{what} (input hidden): ").strip()
        except EOFError:
            value = ""
    else:
        lines = [line.strip() for line in (stdin.read() if stdin is not None else "").splitlines() if line.strip()]
        if len(lines) > 1:
            raise UsageError(f"expected one {what} on stdin, got {len(lines)} lines")
        value = lines[0] if lines else ""
    if not value:
        raise UsageError(
            f"no {what} given: pipe it on stdin or type it at the prompt (secrets are never read from arguments)"
        )
    SECRETS.append(value)
    return value


def read_prompt() -> str:
    """The prompt piped on stdin; a usage error when stdin is a terminal or empty."""
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise UsageError('no prompt: pass it as arguments (neureus chat "Hello") or pipe it on stdin')
    text = stdin.read().strip()
    if not text:
        raise UsageError("no prompt: stdin was empty")
    return text


def write_text(text: str) -> None:
    """Human output on stdout; on a terminal, without escape sequences (the text may be the server's)."""
    sys.stdout.write(strip_escapes(text) if is_terminal(sys.stdout) else text)
    sys.stdout.flush()


_UNESCAPED_CONTROLS = re.compile("[\x7f-\x9f]")


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout, with no raw control character in it.

    ``json.dumps`` escapes only the C0 controls; DEL and the C1 controls (``\\x9b`` is an
    8-bit CSI) are escaped here too, which keeps the same JSON value.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    print(_UNESCAPED_CONTROLS.sub(lambda found: f"\\u{ord(found.group()):04x}", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()) -> str:
    """An aligned plain-text table; the columns in ``right`` are right-aligned (numbers).

    A table is for people (``--json`` is for programs): cells lose escape sequences and
    control characters before the columns are measured, so they stay aligned.
    """
    rows = [[strip_escapes(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
