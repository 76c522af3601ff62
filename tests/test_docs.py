"""Docs are code: every ```python block of README.md and docs/*.md runs, against the emulator.

Each block runs in a fresh ``python`` subprocess, with ``NEUREUS_BASE_URL`` pointing at a
loopback ``EmulatorServer`` of its own (a new ``FakeGateway``, so no block sees another's
state) and ``NEUREUS_API_KEY`` set to a test key, so ``Neureus()`` works exactly as
written. It must exit 0 within ``TIMEOUT`` seconds, with warnings turned into errors.

The rules a page follows (docs/design.md, "Docs are code"):

- A block stands alone when it can: its imports and its client are in it.
- A block that continues the one before it (it uses ``reply`` or ``stream`` from there)
  is marked ``<!-- docs-test: continue -->`` right above its fence; it then runs after the
  block(s) it continues, in the same process. A chain may be as long as the page needs.
- A page whose fragments share a context the prose gives (``client`` is an
  ``AsyncNeureus``, ``messages`` a list) states it once in a hidden setup comment, as
  rustdoc's hidden lines do; every block below it on the page runs after that code::

      <!-- docs-test: setup
      from neureus import AsyncNeureus
      client = AsyncNeureus()
      -->

- A block may use top-level ``await``/``async for``/``async with``, as in a notebook or
  ``python -m asyncio``; it then runs under ``asyncio.run``.
- A block that cannot run here (a real key, a cluster) is marked
  ``<!-- docs-test: skip (the reason) -->`` right above its fence: it shows as a pytest
  skip with that reason (``pytest -rs`` lists them), never silently.

Pages are found when the tests are collected, so a new page is covered with no change here.
An unknown or malformed marker fails its block, so a typo cannot skip one.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from neureus.testing import EmulatorServer, FakeGateway

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60
"""Seconds one block (with the blocks it continues) may take."""
API_KEY = "nru_docs_test_key_0000000000"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)[^`]*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_SETUP_START = re.compile(r"^\s*<!--\s*docs-test:\s*setup\s*$")
_COMMENT_END = re.compile(r"^\s*-->\s*$")
_SKIP = re.compile(r"^\s*skip\s*\((?P<reason>.*\S.*)\)\s*$")
_PYTHON = {"python", "py", "python3"}


@dataclasses.dataclass(frozen=True)
class Block:
    """One ```python block of a page."""

    page: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    code: str
    marker: str | None  # the docs-test marker's body right above the fence, if any
    setup: str = ""  # the page's hidden setup code above this block

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every docs/*.md page (docs/ sub-folders hold no pages)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def extract(path: Path) -> list[Block]:
    """The page's Python blocks, in order, each with the marker right above its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(ROOT).as_posix()
    blocks: list[Block] = []
    setup = ""
    index = 0
    while index < len(lines):
        if _SETUP_START.match(lines[index]):
            end = index + 1
            while end < len(lines) and not _COMMENT_END.match(lines[end]):
                end += 1
            setup += "\n".join(lines[index + 1 : end]) + "\n"
            index = end + 1
            continue
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if closing is not None and closing["fence"].startswith(fence[0] * len(fence)) and not closing["info"]:
                break
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        if opening["info"].lower() in _PYTHON:
            above = index - 1
            while above >= 0 and not lines[above].strip():
                above -= 1
            marker = _MARKER.match(lines[above]) if above >= 0 else None
            code = "\n".join(body) + "\n"
            blocks.append(Block(page, index + 1, code, marker["body"].strip() if marker else None, setup))
        index = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in extract(path)]


def chain(block: Block, blocks: list[Block]) -> list[Block]:
    """``block`` with the blocks of its page it continues, first to last."""
    position = blocks.index(block)
    start = position
    while blocks[start].marker == "continue":
        if start == 0 or blocks[start - 1].page != block.page:
            pytest.fail(f"{block.id}: 'docs-test: continue' but no block before it on {block.page}")
        start -= 1
    return blocks[start : position + 1]


BLOCKS = all_blocks()

# Runs a block that uses top-level await, as a notebook or `python -m asyncio` would.
_TOP_LEVEL_AWAIT = """\
import ast, asyncio, sys, types
path = sys.argv[1]
code = compile(open(path, encoding="utf-8").read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
main = types.ModuleType("__main__")
main.__file__ = path
sys.modules["__main__"] = main
result = eval(code, main.__dict__)
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


def needs_top_level_await(source: str) -> bool:
    try:
        compile(source, "<block>", "exec", dont_inherit=True)
    except SyntaxError:
        # A real syntax error raises here too.
        compile(source, "<block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        return True
    return False


def run_block(block: Block, blocks: list[Block] = BLOCKS) -> tuple[str, str]:
    """Run one block as the rules say: ``("ok" | "skip" | "fail", why)``."""
    if block.marker is not None and block.marker != "continue":
        skip = _SKIP.match(block.marker)
        if skip is None:
            return "fail", f"{block.id}: unknown docs-test marker {block.marker!r}: use 'skip (reason)' or 'continue'"
        return "skip", f"{block.id}: {skip['reason']}"
    parts = chain(block, blocks)
    skipped = [part for part in parts if part.marker not in (None, "continue")]
    if skipped:
        return "fail", f"{block.id} continues {skipped[-1].id}, which is skipped: mark this one skipped too"
    setup = f"# --- hidden setup of {block.page}\n{parts[0].setup}" if parts[0].setup else ""
    source = setup + "".join(f"# --- {part.id}\n{part.code}" for part in parts)
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(FakeGateway()) as emulator:
        script = Path(tmp) / "block.py"
        script.write_text(source, encoding="utf-8")
        runner = ["-c", _TOP_LEVEL_AWAIT] if needs_top_level_await(source) else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEUREUS_")}
        env.update(NEUREUS_BASE_URL=emulator.base_url, NEUREUS_API_KEY=API_KEY)
        try:
            proc = subprocess.run(
                [sys.executable, "-W", "error", *runner, str(script)],
                cwd=tmp,  # a block that writes files writes them here
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return "fail", f"{block.id} did not finish within {TIMEOUT} s"
    if proc.returncode != 0:
        return "fail", f"{block.id} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return "ok", ""


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[tuple[str, str]]]]:
    """The selected blocks, started a few at a time in the background as the module begins.

    Each block is still its own process with its own emulator; running some side by side
    only overlaps their start-up (a block is ~0.5 s, mostly importing and warming up).
    """
    selected = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if isinstance(params.get("block"), Block):
            selected.add(params["block"].id)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        yield {block.id: pool.submit(run_block, block) for block in BLOCKS if block.id in selected}


def test_the_docs_have_python_blocks() -> None:
    # A broken extractor must not pass by finding nothing.
    per_page = {block.page for block in BLOCKS}
    assert {"README.md", "docs/clients.md", "docs/streaming.md", "docs/testing.md"} <= per_page
    assert len(BLOCKS) > 40


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs(block: Block, outcomes: dict[str, Future[tuple[str, str]]]) -> None:
    verdict, why = outcomes[block.id].result(timeout=TIMEOUT * 10)
    if verdict == "skip":
        pytest.skip(why)
    if verdict == "fail":
        pytest.fail(why, pytrace=False)


# ---- the runner itself ----------------------------------------------------------------


def test_markers_fences_and_chains_are_read_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n"
        "```python\nfirst = 1\n```\n\n"
        "<!-- docs-test: continue -->\n\n"
        "```python\nsecond = first + 1\n```\n\n"
        "```bash\necho not python\n```\n\n"
        "<!-- docs-test: skip (needs a real key) -->\n"
        "````py\n```\nstill inside\n````\n\n"
        "   ```python\n   indented = True\n   ```\n\n"
        "<!-- docs-test: setup\nclient = 'set up'\n-->\n\n"
        "```python\nassert client == 'set up'\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    first, second, skipped, indented, after_setup = extract(page)
    assert (first.code, first.marker, first.line) == ("first = 1\n", None, 3)
    assert (second.code, second.marker) == ("second = first + 1\n", "continue")
    assert (skipped.code, skipped.marker) == ("```\nstill inside\n", "skip (needs a real key)")
    assert (indented.code, indented.setup) == ("indented = True\n", "")
    assert after_setup.setup == "client = 'set up'\n"
    blocks = [first, second, skipped, indented]
    assert chain(second, blocks) == [first, second]
    assert chain(indented, blocks) == [indented]


def test_top_level_await_is_detected_and_syntax_errors_are_not_hidden() -> None:
    assert not needs_top_level_await("import asyncio\nasyncio.run(asyncio.sleep(0))\n")
    assert needs_top_level_await("import asyncio\nawait asyncio.sleep(0)\n")
    assert needs_top_level_await("async for x in y:\n    pass\n")
    with pytest.raises(SyntaxError):
        needs_top_level_await("def broken(:\n")


def test_a_failing_block_fails_and_a_skip_needs_a_reason() -> None:
    ok = Block(
        "page.md",
        1,
        "from neureus import Neureus\nprint(Neureus().ai.chat([{'role': 'user', 'content': 'x'}]).text)\n",
        None,
    )
    broken = Block("page.md", 5, "raise SystemExit('no')\n", "continue")
    warns = Block("page.md", 9, "import warnings\nwarnings.warn('careless')\n", None)
    awaits = Block("page.md", 13, "import asyncio\nawait asyncio.sleep(0)\n", None)
    blocks = [ok, broken, warns, awaits]
    assert run_block(ok, blocks) == ("ok", "")
    verdict, why = run_block(broken, blocks)
    assert verdict == "fail" and "page.md:5 failed" in why and "no" in why
    assert run_block(warns, blocks)[0] == "fail"  # warnings are errors
    assert run_block(awaits, blocks) == ("ok", "")
    assert run_block(Block("p.md", 1, "x = 1\n", "skip (a real key)"), blocks) == ("skip", "p.md:1: a real key")
    assert run_block(Block("p.md", 1, "x = 1\n", "skip"), blocks)[0] == "fail"
    assert run_block(Block("p.md", 1, "x = 1\n", "skipp (typo)"), blocks)[0] == "fail"


def setup_commands(text: str) -> list[str]:
    """The lines of the first ```bash block after a "## Set up" / "## Install" heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("## Set up", "## Install")))
    blocks = [i for i in range(start, len(lines)) if lines[i].startswith("```bash")]
    commands: list[str] = []
    for opening in blocks:
        body = lines[opening + 1 : lines.index("```", opening + 1)]
        if any("venv" in line for line in body):
            return body
    return commands


def test_the_set_up_commands_are_the_same_in_the_readme_and_the_docs() -> None:
    # .ci/run runs the README's two commands; the docs' home page must not teach others.
    readme = setup_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(readme) == 2 and readme[0].endswith("examples/quickstart.py") and "pytest" in readme[1]
    assert "[dev]" not in readme[0]  # the quickstart needs the runtime dependencies only
    assert setup_commands((ROOT / "docs" / "index.md").read_text(encoding="utf-8")) == readme
