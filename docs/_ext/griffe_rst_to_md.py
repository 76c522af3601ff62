"""A griffe extension for the API reference: make the code's docstrings read well as Markdown.

The docstrings are written for ``help()`` and doctest: ``>>>`` examples with no fence, and
Sphinx roles such as ``:class:`~neureus.X```. Markdown would run an example's lines
together (and read ``["a"]\\n[{...}]`` as a reference link), and would print the roles
literally. This extension fences each doctest block as ``pycon``, turns a role into inline
code, drops ``# doctest:`` flags, and turns a paragraph's closing ``::`` into ``:``. It changes only what the docs show.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):`(~?)([^`]+)`")
_DOCTEST_FLAG = re.compile(r"\s*# doctest: \+\w+")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1]}`" if match.group(1) else f"`{target}`"


def convert(text: str) -> str:
    """Fence doctest blocks, replace Sphinx roles, and drop the RST ``::`` marker."""
    out: list[str] = []
    in_fence = False
    in_doctest = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if in_doctest:
            if stripped:
                out.append(_DOCTEST_FLAG.sub("", line))
                continue
            out.append(f"{indent}```")
            in_doctest = False
        if stripped.startswith("```"):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            out.append(_DOCTEST_FLAG.sub("", line))
            in_doctest = True
            continue
        line = _ROLE.sub(_role, line)
        if line.endswith("::") and not line.endswith(":::"):
            line = line[:-1]
        out.append(line)
    if in_doctest:
        out.append(f"{indent}```")
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring once, as its object is created."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
