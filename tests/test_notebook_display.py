"""``display_stream`` / ``adisplay_stream``: one notebook output updated in place, or tokens
printed when there is no notebook. IPython is faked through ``sys.modules``, so these tests
neither need nor load it; each body runs sync, and async under asyncio and trio.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import neureus
from neureus import StreamError, adisplay_stream, display_stream
from tests.conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio


class FakeMarkdown:
    def __init__(self, data: str) -> None:
        self.data = data


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[str] = []

    def update(self, obj: FakeMarkdown) -> None:
        self.updates.append(obj.data)


class FakeNotebook:
    """What the helpers see of IPython: ``get_ipython``, ``display`` and ``Markdown``."""

    def __init__(self, shell_class: str | None) -> None:
        self.shell_class = shell_class
        self.displayed: list[tuple[str, Any]] = []
        self.handles: list[FakeHandle] = []

    def get_ipython(self) -> object | None:
        return None if self.shell_class is None else type(self.shell_class, (), {})()

    def display(self, obj: FakeMarkdown, *, display_id: Any = None) -> FakeHandle:
        self.displayed.append((obj.data, display_id))
        handle = FakeHandle()
        self.handles.append(handle)
        return handle

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeNotebook:
        ipython = types.ModuleType("IPython")
        ipython.get_ipython = self.get_ipython  # type: ignore[attr-defined]
        display = types.ModuleType("IPython.display")
        display.display = self.display  # type: ignore[attr-defined]
        display.Markdown = FakeMarkdown  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "IPython", ipython)
        monkeypatch.setitem(sys.modules, "IPython.display", display)
        return self


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> FakeNotebook:
    return FakeNotebook("ZMQInteractiveShell").install(monkeypatch)


async def show(api: Api, stream: Any, **options: Any) -> str:
    helper = adisplay_stream if api.is_async else display_stream
    result: str = await api.run(helper(stream, **options))
    return result


def test_exported_from_neureus() -> None:
    assert "display_stream" in neureus.__all__
    assert "adisplay_stream" in neureus.__all__


async def test_one_output_updated_as_tokens_arrive(
    api: Api, notebook: FakeNotebook, capsys: pytest.CaptureFixture[str]
) -> None:
    api.gateway.queue_stream(["Hello", " **bold**", " world"])
    client = api.client()
    stream = client.ai.stream(MESSAGES)
    text = await show(api, stream, min_interval=0)
    assert text == "Hello **bold** world"
    assert notebook.displayed == [("…", True)]  # one output, with a display id
    assert notebook.handles[0].updates == ["Hello", "Hello **bold**", "Hello **bold** world"]
    assert capsys.readouterr().out == ""
    assert stream.done
    assert api.gateway.open_streams == 0  # read to the end and closed


async def test_fast_streams_are_not_redrawn_per_token(api: Api, notebook: FakeNotebook) -> None:
    tokens = [f" t{i}" for i in range(200)]
    api.gateway.queue_stream(tokens)
    client = api.client()
    text = await show(api, client.ai.stream(MESSAGES), min_interval=3600)
    updates = notebook.handles[0].updates
    assert len(updates) < len(tokens)
    assert updates[-1] == text == "".join(tokens)


async def test_an_opened_async_stream_works_too(api: Api, notebook: FakeNotebook) -> None:
    client = api.client()
    stream = await api.run(client.ai.stream(MESSAGES))  # `await` opens an AsyncChatStream
    text = await show(api, stream)
    assert text == "Hello from the Neureus emulator! You said: Hello"
    assert notebook.handles[0].updates[-1] == text


async def test_a_stream_error_shows_what_arrived_then_raises(api: Api, notebook: FakeNotebook) -> None:
    api.gateway.queue_stream(["partial", " reply"], error_after=1, error_message="upstream provider failed")
    client = api.client()
    with pytest.raises(StreamError, match="upstream provider failed"):
        await show(api, client.ai.stream(MESSAGES))
    assert notebook.handles[0].updates[-1] == "partial"
    assert api.gateway.open_streams == 0


async def test_an_empty_reply_says_so(api: Api, notebook: FakeNotebook) -> None:
    api.gateway.queue_stream([])
    client = api.client()
    assert await show(api, client.ai.stream(MESSAGES)) == ""
    assert notebook.handles[0].updates == ["*(empty reply)*"]


async def test_without_ipython_tokens_are_printed(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)  # `import IPython` raises ImportError
    api.gateway.queue_stream(["Hello", ", ", "world"])
    client = api.client()
    assert await show(api, client.ai.stream(MESSAGES)) == "Hello, world"
    assert capsys.readouterr().out == "Hello, world\n"


@pytest.mark.parametrize("shell_class", [None, "TerminalInteractiveShell"], ids=["no-shell", "terminal"])
async def test_outside_a_notebook_tokens_are_printed(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shell_class: str | None
) -> None:
    fake = FakeNotebook(shell_class).install(monkeypatch)
    api.gateway.queue_stream(["a", "b", "c"])
    client = api.client()
    assert await show(api, client.ai.stream(MESSAGES)) == "abc"
    assert capsys.readouterr().out == "abc\n"
    assert fake.displayed == []
