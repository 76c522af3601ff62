"""The ``neureus`` command line, run as a real subprocess (``python -m neureus``) against the
emulator served over HTTP on 127.0.0.1, failure paths and exit codes included.

Exit codes: 0 ok, 1 gateway or network error, 2 bad usage or input, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import neureus.preprocessing
from neureus import Neureus, __version__
from neureus._cli import _main, main
from neureus.testing import EmulatorServer, FakeGateway
from tests.streams.server import Script, SSEServer, done, token

pytestmark = pytest.mark.network

API_KEY = "nru_cli_test_key_0123456789abcd"
PROVIDER_KEY = "sk-cli-test-provider-key-5678abcd"


def cli_env(server: EmulatorServer | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUREUS_")}
    if server is not None:
        env.update(NEUREUS_BASE_URL=server.base_url, NEUREUS_API_KEY=API_KEY)
    env.update(extra)
    return env


def run(
    *args: str, server: EmulatorServer | None = None, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neureus", *args],
        input=stdin if stdin is not None else "",
        env=env if env is not None else cli_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("neureus: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def completed(result: tuple[int, str, str]) -> subprocess.CompletedProcess[str]:
    """An in-process run (the ``cli`` fixture's) in the shape the subprocess checks take."""
    code, out, err = result
    return subprocess.CompletedProcess([], code, out, err)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# `python -m neureus ARGS`, with Ctrl-C working as in a terminal's foreground job. A child
# inherits an ignored SIGINT (pytest run under `nohup`, as a background job, by some CI
# runners), and Python then never turns SIGINT into KeyboardInterrupt; the tests that press
# Ctrl-C must not depend on how the suite was started. (Not preexec_fn: unsafe with threads.)
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'neureus'; runpy.run_module('neureus', run_name='__main__', alter_sys=True)"
)


class Running:
    """A CLI process we talk to while it runs (killed after ``limit`` seconds, whatever happens)."""

    def __init__(self, *args: str, env: dict[str, str], limit: float = 30) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self._watchdog = threading.Timer(limit, self.proc.kill)
        self._watchdog.start()

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def read(self, size: int) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.read(size)

    def interrupt(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def close(self) -> None:
        self._watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for item in started:
        item.close()


@pytest.fixture
def sse_server() -> Iterator[SSEServer]:
    """A raw-socket SSE server whose replies can wait for the test (a ``threading.Event`` part)."""
    with SSEServer() as server:
        yield server


# -- basics ------------------------------------------------------------------------------


def test_version_and_help() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"neureus {__version__}"
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("chat", "models", "providers", "widget-key", "preprocess", "emulator"):
        assert command in proc.stdout


def test_the_console_script() -> None:
    script = Path(sys.executable).with_name("neureus")
    if not script.exists():
        pytest.skip("the neureus console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"neureus {__version__}")


def test_usage_errors_exit_2() -> None:
    proc = run()
    assert proc.returncode == 2
    assert "COMMAND" in proc.stderr
    assert run("bogus").returncode == 2
    assert run("chat", "--temperature", "warm", "hi").returncode == 2


def test_import_neureus_does_not_load_the_cli() -> None:
    code = "import sys, neureus; print(any(m.split('.')[:2] == ['neureus', '_cli'] for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"


# -- chat --------------------------------------------------------------------------------


def test_chat_streams_the_reply(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("chat", "Hello", "there", server=server)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from the Neureus emulator! You said: Hello there\n"
    assert proc.stderr == ""
    request = gateway.last_request
    assert request.json["stream"] is True
    assert request.json["messages"] == [{"role": "user", "content": "Hello there"}]
    assert request.headers["x-neureus-surface"] == "cli"
    assert request.api_key == API_KEY


def test_chat_tokens_reach_the_terminal_as_they_arrive(sse_server: SSEServer, running: list[Running]) -> None:
    rest = threading.Event()  # the server holds the rest of the reply until the test saw "first"
    sse_server.script(Script([token("first"), rest, token(" second"), token(" third"), done()]))
    chat = Running("chat", "go", env=cli_env(None, NEUREUS_BASE_URL=sse_server.url, NEUREUS_API_KEY=API_KEY))
    running.append(chat)
    assert chat.read(5) == "first"  # printed while the reply was still incomplete: not buffered
    assert chat.proc.poll() is None
    rest.set()
    assert chat.readline() == " second third\n"
    assert chat.proc.wait(timeout=20) == 0


def test_chat_options_reach_the_wire(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run(
        "chat",
        "--no-stream",
        "--model",
        "gpt-4o-mini",
        "--system",
        "Be brief.",
        "--temperature",
        "0.5",
        "--max-tokens",
        "20",
        "Hi",
        server=server,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from the Neureus emulator! You said: Hi\n"
    body = gateway.last_request.json
    assert "stream" not in body
    assert body["model"] == "gpt-4o-mini"
    assert body["systemPrompt"] == "Be brief."
    assert body["temperature"] == 0.5
    assert body["maxTokens"] == 20


def test_chat_reads_the_prompt_from_stdin(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("chat", server=server, stdin="Summarise this\nplease\n")
    assert proc.returncode == 0, proc.stderr
    assert gateway.last_request.json["messages"][0]["content"] == "Summarise this\nplease"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_chat_json(server: EmulatorServer, gateway: FakeGateway, stream: bool) -> None:
    gateway.queue_reply("Machine readable.")
    args = ["--json", "chat", "hi"] if stream else ["chat", "--no-stream", "hi", "--json"]
    proc = run(*args, server=server)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["text"] == "Machine readable."
    assert data["log_id"].startswith("log_")
    assert data["output_tokens"] > 0


def test_chat_without_a_prompt_is_a_usage_error(server: EmulatorServer, gateway: FakeGateway) -> None:
    assert_one_error_line(run("chat", server=server), 2, "no prompt")
    assert gateway.requests == []


def test_chat_bad_temperature_is_refused_locally(server: EmulatorServer, gateway: FakeGateway) -> None:
    assert_one_error_line(run("chat", "-t", "5", "hi", server=server), 2, "temperature")
    assert gateway.requests == []


def test_chat_stream_error_exits_1(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_stream(["partial"], error_after=1, error_message="upstream provider failed")
    proc = run("chat", "hi", server=server)
    assert proc.stdout.startswith("partial")
    assert_one_error_line(proc, 1, "upstream provider failed")


def test_ctrl_c_during_a_stream_exits_130_quietly(sse_server: SSEServer, running: list[Running]) -> None:
    never = threading.Event()  # the rest of the reply never comes: Ctrl-C lands mid-stream
    sse_server.script(Script([token("one"), never, token(" two"), done()]))
    chat = Running("chat", "go", env=cli_env(None, NEUREUS_BASE_URL=sse_server.url, NEUREUS_API_KEY=API_KEY))
    running.append(chat)
    assert chat.read(3) == "one"
    code, _, err = chat.interrupt()
    assert code == 130
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


# -- models ------------------------------------------------------------------------------


def test_models_table_is_aligned(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("models", server=server)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PROVIDER", "TYPE", "CONTEXT", "IN/1K", "OUT/1K"]
    assert len(lines) == 1 + len(gateway.models)
    column = lines[0].index("PROVIDER")
    for line, model in zip(lines[1:], gateway.models, strict=True):
        assert line.startswith(model["id"])
        assert line[column:].startswith(model["provider"])


def test_models_filters_and_json(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("models", "--provider", "anthropic", "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {m["provider"] for m in data} == {"anthropic"}
    assert "claude-sonnet-4-6" in [m["id"] for m in data]
    assert data[0]["input_cost_per_1k"] is not None
    assert gateway.last_request.query == {"provider": "anthropic"}

    proc = run("models", "--type", "coding", server=server)
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == ["qwen/coder-32b"]

    proc = run("models", "--provider", "nobody", server=server)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "No models match."


# -- providers (BYOK) --------------------------------------------------------------------


def test_providers_set_reads_the_key_from_stdin_never_argv(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("providers", "set", "openai", server=server, stdin=PROVIDER_KEY + "\n")
    assert proc.returncode == 0, proc.stderr
    assert PROVIDER_KEY not in " ".join(map(str, proc.args))
    assert PROVIDER_KEY not in proc.stdout + proc.stderr
    assert proc.stdout.strip() == "openai: key stored (configured: yes)."
    assert gateway.provider_keys[API_KEY] == {"openai": PROVIDER_KEY}
    assert gateway.last_request.json == {"key": PROVIDER_KEY}


def test_providers_list_rotate_delete(server: EmulatorServer, gateway: FakeGateway) -> None:
    assert run("providers", "list", server=server).stdout.strip() == "No provider keys are configured."
    assert run("providers", "set", "anthropic", server=server, stdin=PROVIDER_KEY).returncode == 0

    proc = run("providers", "list", server=server)
    assert proc.stdout.splitlines() == ["PROVIDER   CONFIGURED", "anthropic  yes"]
    proc = run("providers", "list", "--json", server=server)
    assert json.loads(proc.stdout) == [{"provider": "anthropic", "configured": True}]

    proc = run("--json", "providers", "rotate", "anthropic", server=server, stdin="sk-rotated-key-000011112222")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"provider": "anthropic", "configured": True}
    assert "sk-rotated-key-000011112222" not in proc.stdout + proc.stderr
    assert gateway.provider_keys[API_KEY]["anthropic"] == "sk-rotated-key-000011112222"

    proc = run("providers", "delete", "anthropic", server=server)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "anthropic: key deleted (configured: no)."
    assert gateway.provider_keys[API_KEY] == {}
    assert_one_error_line(run("providers", "delete", "anthropic", server=server), 1, "404")


def test_providers_bad_input(server: EmulatorServer, gateway: FakeGateway) -> None:
    assert_one_error_line(run("providers", "set", "openai", server=server, stdin=""), 2, "no openai API key")
    assert_one_error_line(run("providers", "set", "openai", server=server, stdin="a\nb\n"), 2, "2 lines")
    proc = run("providers", "set", "Bad/Name", server=server, stdin=PROVIDER_KEY)
    assert PROVIDER_KEY not in proc.stdout + proc.stderr
    assert_one_error_line(proc, 2, "provider")
    assert gateway.requests == []
    # The key is never accepted as an argument.
    proc = run("providers", "set", "openai", PROVIDER_KEY, server=server)
    assert proc.returncode == 2
    assert gateway.requests == []
    # ... and argparse's complaint about it does not repeat it.
    assert PROVIDER_KEY not in proc.stdout + proc.stderr
    assert "not shown" in proc.stderr
    odd = "AIzaSyOddShapedKey0000000000"
    proc = run("providers", "rotate", "openai", odd, server=server)
    assert proc.returncode == 2 and odd not in proc.stderr


# -- widget keys -------------------------------------------------------------------------


def test_widget_key_create_and_revoke_from_stdin(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("widget-key", "create", "--agent-id", "agent_abc123", server=server)
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    assert key.startswith("pk_")
    assert gateway.widget_keys[key]["agent_id"] == "agent_abc123"

    proc = run("widget-key", "revoke", server=server, stdin=key + "\n")
    assert proc.returncode == 0, proc.stderr
    assert key not in " ".join(map(str, proc.args))
    assert key not in proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"Widget key {key[:4]}…{key[-4:]} revoked."
    assert key in gateway.revoked_widget_keys

    assert_one_error_line(run("widget-key", "revoke", server=server, stdin=key), 1, "404")


def test_widget_key_json(server: EmulatorServer, gateway: FakeGateway) -> None:
    proc = run("widget-key", "create", "--json", server=server)
    created = json.loads(proc.stdout)
    assert created["key"] in gateway.widget_keys
    assert created["key_preview"] == created["key"][:7]
    proc = run("widget-key", "revoke", "--json", server=server, stdin=created["key"])
    assert json.loads(proc.stdout) == {"key": f"{created['key'][:4]}…{created['key'][-4:]}", "revoked": True}


# -- expected failures: one line, the right exit code, no traceback, no secret --------------


def test_no_api_key(server: EmulatorServer, gateway: FakeGateway) -> None:
    env = cli_env(None, NEUREUS_BASE_URL=server.base_url)
    proc = run("models", env=env)
    assert_one_error_line(proc, 2, "NEUREUS_API_KEY")
    assert gateway.requests == []


def test_wrong_api_key_is_a_401() -> None:
    wrong = "nru_wrong_key_99999999zzzz"
    with EmulatorServer(FakeGateway(valid_keys=["nru_the_right_key_00000000"])) as server:
        proc = run("models", env=cli_env(None, NEUREUS_BASE_URL=server.base_url, NEUREUS_API_KEY=wrong))
    assert_one_error_line(proc, 1, "401", "NEUREUS_API_KEY")
    assert wrong not in proc.stdout + proc.stderr


@pytest.mark.parametrize("retries", ["0", None])
def test_network_down(cli: Callable[..., tuple[int, str, str]], retries: str | None) -> None:
    args = ["chat", "hi"] if retries is None else ["--max-retries", retries, "models"]
    assert_one_error_line(completed(cli("--base-url", f"http://127.0.0.1:{free_port()}", *args)), 1, "Connection error")


def test_timeout_option(sse_server: SSEServer) -> None:
    sse_server.script(Script([token("slow"), threading.Event(), token(" reply"), done()]))  # never sent
    env = cli_env(None, NEUREUS_BASE_URL=sse_server.url, NEUREUS_API_KEY=API_KEY)
    proc = run("chat", "--timeout", "0.1", "hi", env=env)
    assert proc.stdout.startswith("slow")
    assert_one_error_line(proc, 1, "--timeout")


def test_debug_shows_the_traceback(server: EmulatorServer) -> None:
    proc = run("--debug", "chat", "-t", "9", "hi", server=server)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("neureus: error: ")


# -- messages in the command line's words (flags and variables, not Python) ----------------

PYTHON_WORDS = ("allow_insecure_http", "httpx", ".partial_text", "api_key=", "base_url=", "timeout=")


def assert_no_python_words(text: str) -> None:
    for word in PYTHON_WORDS:
        assert word not in text, (word, text)


def test_a_cut_stream_ends_the_line_then_says_what_happened(
    cli: Callable[..., tuple[int, str, str]], server: EmulatorServer, gateway: FakeGateway
) -> None:
    gateway.queue_stream(["partial", " reply"], break_after=1)
    proc = completed(cli("--max-retries", "0", "chat", "hi"))
    assert proc.stdout == "partial\n"  # the error below starts on a line of its own
    line = assert_one_error_line(proc, 1, "the reply stopped before it was complete", "7 characters")
    assert "shown above" in line and f"at {server.base_url} (from NEUREUS_BASE_URL)" in line
    assert_no_python_words(line)
    gateway.queue_stream(["partial"], cut_after=1)
    proc = completed(cli("chat", "hi"))
    assert proc.stdout == "partial\n"
    assert_no_python_words(assert_one_error_line(proc, 1, "the server ended the stream early"))


def test_a_stream_error_starts_on_a_new_line(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_stream(["partial"], error_after=1, error_message="upstream provider failed")
    proc = run("chat", "hi", server=server)
    assert proc.stdout == "partial\n"
    assert_one_error_line(proc, 1, "upstream provider failed")


@pytest.mark.parametrize("via_flag", [False, True], ids=["env", "flag"])
def test_connection_errors_name_the_host_tried_and_where_it_came_from(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, via_flag: bool
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    if via_flag:
        proc = completed(cli("--base-url", url, "--max-retries", "0", "models"))
        source = "--base-url"
    else:
        monkeypatch.setenv("NEUREUS_BASE_URL", url)
        proc = completed(cli("--max-retries", "0", "models"))
        source = "NEUREUS_BASE_URL"
    line = assert_one_error_line(proc, 1, "Connection error", f"at {url} (from {source})", "--base-url")
    assert_no_python_words(line)


def test_a_timeout_names_the_flag(cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # connections wait in its backlog; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("NEUREUS_BASE_URL", url)
        proc = completed(cli("--timeout", "0.05", "--max-retries", "0", "chat", "--no-stream", "hi"))
    line = assert_one_error_line(proc, 1, "Timed out", "--timeout", f"at {url} (from NEUREUS_BASE_URL)")
    assert_no_python_words(line)


def test_an_insecure_url_names_the_variable_or_flag_never_a_python_keyword(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway
) -> None:
    monkeypatch.setenv("NEUREUS_BASE_URL", "http://gateway.example.com")
    line = assert_one_error_line(completed(cli("models")), 2, "NEUREUS_BASE_URL", "https://")
    assert_no_python_words(line)
    proc = completed(cli("--base-url", "http://user:hunter2@10.0.0.1:8080", "models"))
    line = assert_one_error_line(proc, 2, "--base-url", "'http://10.0.0.1:8080'")
    assert "hunter2" not in proc.stderr
    assert_no_python_words(line)
    for bad in ("ftp://files.example.com", "https://", "http://[::1"):
        line = assert_one_error_line(completed(cli("--base-url", bad, "models")), 2, "--base-url")
        assert_no_python_words(line)
    assert gateway.requests == []


def test_bad_timeout_and_retries_name_the_flag() -> None:
    proc = run("--timeout", "-1", "models", env=cli_env(None, NEUREUS_API_KEY=API_KEY))
    assert proc.returncode == 2 and "argument --timeout: must be a number of seconds above 0" in proc.stderr
    assert_no_python_words(proc.stderr)
    proc = run("--max-retries", "-1", "models", env=cli_env(None, NEUREUS_API_KEY=API_KEY))
    assert proc.returncode == 2 and "argument --max-retries: must be 0 or more" in proc.stderr


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "soon", ""])
def test_the_timeout_must_be_seconds_above_0(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
        _main._seconds(value)
    assert _main._seconds("0.5") == 0.5


# -- terminal escapes from the model or the server ------------------------------------------

HOSTILE = "Sure\x1b]52;c;cm0gLXJmIH4=\x07 thing\x1b[2J\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\r\x9b31m!"
SAFE = "Sure thinglink!"  # what is left once every sequence and control is gone


def run_in_a_terminal(*args: str, server: EmulatorServer) -> tuple[int, bytes]:
    """The CLI with its stdout on a pseudo-terminal, as when a person runs it."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neureus", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=cli_env(server),
        )
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        proc.communicate(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, output


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_escape_sequences_never_reach_a_terminal(server: EmulatorServer, gateway: FakeGateway, stream: bool) -> None:
    tokens = [
        "Sure\x1b]52;c;",
        "cm0gLXJmIH4=\x07 thing\x1b[",
        "2J\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\r\x9b31m!",
    ]
    if stream:
        gateway.queue_stream(tokens)  # a sequence cut between two events is caught too
    else:
        gateway.queue_reply("".join(tokens))
    code, output = run_in_a_terminal("chat", *([] if stream else ["--no-stream"]), "hi", server=server)
    assert code == 0
    assert output.decode().replace("\r\n", "\n") == SAFE + "\n"


def test_piped_output_keeps_the_text_as_sent(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_stream([HOSTILE])
    proc = subprocess.run(
        [sys.executable, "-m", "neureus", "chat", "hi"], capture_output=True, env=cli_env(server), timeout=60
    )
    assert proc.stdout.decode() == HOSTILE + "\n"  # a pipe or a file gets exactly what the model said


def test_json_output_carries_no_raw_control_character(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_stream(["a\x1b[2J", "\x9b31m\x7fb é"])
    proc = subprocess.run(
        [sys.executable, "-m", "neureus", "--json", "chat", "hi"], capture_output=True, env=cli_env(server), timeout=60
    )
    text = proc.stdout.decode()
    assert proc.returncode == 0 and not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    assert json.loads(text)["text"] == "a\x1b[2J\x9b31m\x7fb é"  # the same value, escaped


def test_server_text_in_an_error_line_loses_its_escapes(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_error(400, {"error": "bad \x1b]52;c;cm0gLXJmIH4=\x07request\x1b[2J"})
    proc = run("models", server=server)
    line = assert_one_error_line(proc, 1, "400")
    assert not re.search("[\x00-\x1f\x7f-\x9f]", line)  # the SDK escapes it; the CLI strips what is left


def test_every_error_line_is_stripped_whatever_raised_it() -> None:
    # Defence in depth: whatever text an exception carries, the error line has no sequence.
    args = argparse.Namespace(debug=False)
    line = _main._describe(RuntimeError("bad \x1b]52;c;cm0gLXJmIH4=\x07thing\x9b2J\r!"), args)
    assert line == "bad thing!"


def test_tables_on_a_terminal_lose_escapes_too(server: EmulatorServer, gateway: FakeGateway) -> None:
    gateway.queue_error(200, {"models": [{"id": "m\x1b]52;c;eA==\x07x", "name": "\x1b[31mRed"}]}, path="/ai/models")
    code, output = run_in_a_terminal("models", server=server)
    assert code == 0
    text = output.decode()
    assert "\x1b" not in text and "\x07" not in text and "mx" in text and "Red" in text
    # Cells are cleaned before the columns are measured, piped or not: the table stays aligned.
    gateway.queue_error(200, {"models": [{"id": "m\x1b]52;c;eA==\x07x", "name": "\x1b[31mRed"}]}, path="/ai/models")
    header, row = run("models", server=server).stdout.splitlines()
    assert header.index("NAME") == row.index("Red") and row.startswith("mx ")


# -- preprocess (local, no key) ----------------------------------------------------------

MESSAGES = [
    {"role": "user", "content": "  Hello!\r\n\r\n\r\nCan you help?  "},
    {"role": "system", "content": "Answer in one sentence."},
]


def test_preprocess_file(tmp_path: Path) -> None:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(MESSAGES), encoding="utf-8")
    proc = run("preprocess", str(path), "--system-prompt", "You are helpful.", env=cli_env(None))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split(None, 1) == ["system:", "You are helpful."]
    assert lines[1].split(None, 1) == ["system:", "Answer in one sentence."]
    assert lines[2].split(None, 1) == ["user:", "Hello!"]
    assert "2 → 3 messages" in lines[-1]
    assert "passes: normalize, structure, trim" in lines[-1]


def test_preprocess_stdin_json() -> None:
    many = [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 50} for i in range(10)]
    args = ["preprocess", "-", "--json", "--max-context-tokens", "100", "--keep-turns", "2"]
    proc = run(*args, stdin=json.dumps(many), env=cli_env(None))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["messages"]) == 2
    stats = data["stats"]
    assert stats["original_messages"] == 10
    assert stats["final_messages"] == 2
    assert stats["trimmed"] is True
    assert stats["passes"] == ["normalize", "structure", "trim"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"role": "user", "content": "hi"}', "JSON list of messages, not an object"),
        ("[1, 2]", "message 0 must be an object"),
        ('[{"role": "robot", "content": "hi"}]', "robot"),
        ('[{"role": "user"}]', "content"),
    ],
    ids=["not-json", "not-a-list", "not-objects", "bad-role", "no-content"],
)
def test_preprocess_bad_input(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert_one_error_line(run("preprocess", str(path), env=cli_env(None)), 2, fragment)


def test_preprocess_missing_file_and_bad_numbers(tmp_path: Path) -> None:
    assert_one_error_line(run("preprocess", str(tmp_path / "nope.json"), env=cli_env(None)), 2, "cannot read")
    proc = run("preprocess", "-", "--keep-turns", "-1", stdin="[]", env=cli_env(None))
    assert proc.returncode == 2
    assert "--keep-turns" in proc.stderr


# -- emulator ----------------------------------------------------------------------------

URL_LINE = re.compile(r"serving at (http://127\.0\.0\.1:\d+) ")


def start_emulator(running: list[Running], *args: str) -> Running:
    emulator = Running("emulator", *args, env=cli_env(None))
    running.append(emulator)
    return emulator


def test_emulator_serves_until_ctrl_c(running: list[Running]) -> None:
    emulator = start_emulator(running, "--port", str(free_port()))
    match = URL_LINE.search(emulator.readline())
    assert match, "no URL line"
    base_url = match.group(1)
    export = emulator.readline()
    assert export.startswith(f"export NEUREUS_BASE_URL={base_url} NEUREUS_API_KEY=")
    api_key = export.strip().rsplit("=", 1)[1]

    with Neureus(base_url=base_url, api_key=api_key) as client:
        assert client.ai.chat([{"role": "user", "content": "ping"}]).text.endswith("You said: ping")
        assert "".join(client.ai.stream([{"role": "user", "content": "ping"}])).endswith("ping")

    code, _, err = emulator.interrupt()
    assert code == 0, err
    assert "Traceback" not in err
    assert "Emulator stopped." in err


def test_emulator_json_and_port_0(running: list[Running]) -> None:
    emulator = start_emulator(running, "--port", "0", "--json", "--verbose")
    info: dict[str, Any] = json.loads(emulator.readline())
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", info["base_url"])
    with Neureus(base_url=info["base_url"], api_key=info["api_key"]) as client:
        assert len(client.ai.list_models()) > 0
    code, _, err = emulator.interrupt(signal.SIGTERM)  # `kill` stops it as cleanly as Ctrl-C
    assert code == 0
    assert "Traceback" not in err
    assert '"GET /ai/models HTTP/1.1" 200' in err  # --verbose logs each request


def test_emulator_explicit_public_host_warns_without_listening_everywhere() -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the warning comes first, then
    # the bind fails, so the test opens no port on any interface. (The wildcard's export
    # line is checked in process, with a loopback socket standing in for 0.0.0.0.)
    proc = run("emulator", "--host", "192.0.2.1", "--port", "0", env=cli_env(None))
    assert proc.returncode == 1
    warning, error = proc.stderr.strip().splitlines()
    assert warning.startswith("neureus: warning: serving the emulator on 192.0.2.1, reachable from other machines")
    assert error.startswith("neureus: error: cannot serve on 192.0.2.1:0")


def test_ctrl_c_works_even_when_the_test_runner_ignores_sigint(running: list[Running]) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup or a background job
    try:
        emulator = start_emulator(running, "--port", "0", "--json")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert json.loads(emulator.readline())["base_url"].startswith("http://127.0.0.1:")
    code, _, err = emulator.interrupt()
    assert code == 0 and "Emulator stopped." in err


def test_emulator_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run("emulator", "--port", str(taken.getsockname()[1]), env=cli_env(None))
    assert_one_error_line(proc, 1, "cannot serve on 127.0.0.1")


# -- in process: the same commands through main(), for branch coverage and the odd paths ---


class FakeStdin(io.StringIO):
    def __init__(self, text: str = "", *, tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def cli(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    for name in [name for name in os.environ if name.startswith("NEUREUS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NEUREUS_BASE_URL", server.base_url)
    monkeypatch.setenv("NEUREUS_API_KEY", API_KEY)

    def invoke(*args: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", FakeStdin(stdin, tty=tty))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_in_process_gateway_commands(cli: Callable[..., tuple[int, str, str]], gateway: FakeGateway) -> None:
    assert cli("chat", "Hi") == (0, "Hello from the Neureus emulator! You said: Hi\n", "")
    code, out, _ = cli("chat", "--no-stream", "--json", stdin="From stdin")
    assert json.loads(out)["text"].endswith("You said: From stdin")
    assert cli("chat", "--no-stream", "Hi")[1] == "Hello from the Neureus emulator! You said: Hi\n"
    assert json.loads(cli("--json", "chat", "Hi")[1])["output_tokens"] > 0
    assert cli("models", "--type", "embedding")[1].splitlines()[1].startswith("bge-base-en")
    assert json.loads(cli("models", "--provider", "openai", "--json")[1])[0]["id"] == "gpt-4o"
    assert cli("models", "--type", "nothing") == (0, "No models match.\n", "")

    assert cli("providers", "list") == (0, "No provider keys are configured.\n", "")
    assert cli("providers", "set", "openai", stdin=PROVIDER_KEY)[0] == 0
    assert cli("providers", "rotate", "openai", stdin="sk-rotated-000011112222") == (
        0,
        "openai: key rotated (configured: yes).\n",
        "",
    )
    assert json.loads(cli("providers", "list", "--json")[1]) == [{"provider": "openai", "configured": True}]
    assert cli("providers", "list")[1] == "PROVIDER  CONFIGURED\nopenai    yes\n"
    assert json.loads(cli("providers", "delete", "openai", "--json")[1]) == {"provider": "openai", "configured": False}

    code, out, err = cli("widget-key", "create")
    key = out.strip()
    assert code == 0 and key in gateway.widget_keys and "revoke" in err
    assert cli("widget-key", "revoke", stdin=key)[1] == f"Widget key {key[:4]}…{key[-4:]} revoked.\n"
    created = json.loads(cli("widget-key", "create", "--json")[1])
    assert json.loads(cli("widget-key", "revoke", "--json", stdin=created["key"])[1])["revoked"] is True


def test_in_process_secrets_from_a_hidden_prompt(
    cli: Callable[..., tuple[int, str, str]], gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PROVIDER_KEY

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    code, out, err = cli("providers", "set", "anthropic", tty=True)
    assert code == 0
    assert prompts == ["anthropic API key (input hidden): "]
    assert gateway.provider_keys[API_KEY] == {"anthropic": PROVIDER_KEY}
    assert PROVIDER_KEY not in out + err

    def no_input(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", no_input)
    code, _, err = cli("widget-key", "revoke", tty=True)
    assert code == 2
    assert err.startswith("neureus: error: no widget key given")


def test_in_process_failures(cli: Callable[..., tuple[int, str, str]], gateway: FakeGateway, tmp_path: Path) -> None:
    code, _, err = cli("chat", tty=True)
    assert code == 2 and "no prompt" in err
    code, _, err = cli("chat", stdin="   ")
    assert code == 2 and "stdin was empty" in err
    code, _, err = cli("providers", "set", "openai", stdin="")
    assert code == 2 and "no openai API key given" in err

    # A revocation the gateway answers with revoked=false is a failure too.
    gateway.queue_error(200, {"revoked": False}, path="/ai/widget/key")
    code, out, _ = cli("widget-key", "revoke", stdin="pk_some_key_00000000")
    assert code == 1 and "NOT revoked" in out

    # The provider key is redacted from any error line, even one that would quote it.
    gateway.queue_error(400, {"error": f"bad key {PROVIDER_KEY}"})
    code, out, err = cli("providers", "set", "openai", stdin=PROVIDER_KEY)
    assert code == 1 and "400" in err and PROVIDER_KEY not in out + err

    # What the CLI adds to the SDK's message: the cause of a cut stream, the wait a 429 asks for.
    with SSEServer() as stalled:
        stalled.script(Script([token("slow"), threading.Event(), token(" reply"), done()]))  # never sent
        code, out, err = cli("--base-url", stalled.url, "chat", "--timeout", "0.1", "hi")
    assert (code, out) == (1, "slow\n")  # the partial line is ended before the error
    assert "no data arrived within the read timeout (raise it with --timeout)" in err
    gateway.queue_error(429, headers={"retry-after": "120"})
    code, _, err = cli("models")
    assert code == 1
    assert "429" in err and "retry after 120 s" in err

    (tmp_path / "latin1.json").write_bytes(b'[{"role": "user", "content": "caf\xe9"}]')
    code, _, err = cli("preprocess", str(tmp_path / "latin1.json"))
    assert code == 2 and "not UTF-8" in err


def test_in_process_preprocess(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("preprocess", "-", stdin=json.dumps(MESSAGES))
    assert code == 0
    assert out.splitlines()[:3] == ["system:    Answer in one sentence.", "user:      Hello!", ""]
    code, out, _ = cli("preprocess", "-", "--json", "--keep-turns", "2", stdin=json.dumps(MESSAGES))
    assert json.loads(out)["stats"]["final_messages"] == 2
    code, _, err = cli("preprocess", "-", stdin="null")
    assert code == 2 and "not null" in err


def test_in_process_unexpected_errors(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import neureus.preprocessing

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(neureus.preprocessing, "preprocess", broken)
    monkeypatch.setenv("NEUREUS_LOG", "")
    code, _, err = cli("preprocess", "-", stdin="[]")
    assert code == 1
    assert err == "neureus: error: unexpected RuntimeError: boom (run with --debug for the traceback)\n"
    code, _, err = cli("preprocess", "-", "--debug", stdin="[]")
    assert code == 1
    assert "Traceback" in err
    assert err.splitlines()[-1] == "neureus: error: unexpected RuntimeError: boom"


def test_in_process_broken_pipe_and_ctrl_c(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class ClosedPipe(io.StringIO):
        def __init__(self, fd: int) -> None:
            super().__init__()
            self.fd = fd

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self.fd

    with open(tmp_path / "out", "w") as target:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(target.fileno()))
        assert cli("models")[0] == 1
    monkeypatch.undo()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(neureus.preprocessing, "preprocess", interrupted)
    assert cli("preprocess", "-", stdin="[]") == (130, "", "\n")


def test_in_process_emulator(cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[tuple[int, Callable[[int, object], object]]] = []
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append((signum, handler)))

    def serve_until_ctrl_c(self: EmulatorServer) -> None:
        raise KeyboardInterrupt  # the real serving is tested in a subprocess above

    monkeypatch.setattr(EmulatorServer, "serve_forever", serve_until_ctrl_c)
    code, out, err = cli("emulator", "--port", "0")
    assert code == 0
    assert out.startswith("Neureus emulator serving at http://127.0.0.1:")
    assert err == "Emulator stopped.\n"
    ((signum, handler),) = installed
    assert signum == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt):  # SIGTERM stops it like Ctrl-C
        handler(signum, None)
    # The wildcard, without listening on every interface: the socket binds loopback and
    # reports the address it was asked for, which is all the command looks at.
    from neureus.testing import _server

    def bind_loopback_instead(self: Any) -> None:
        asked = self.server_address
        self.socket.bind(("127.0.0.1", 0))
        self.server_address = (asked[0], self.socket.getsockname()[1])

    with monkeypatch.context() as patched:
        patched.setattr(_server._Server, "server_bind", bind_loopback_instead)
        code, out, err = cli("emulator", "--port", "0", "--host", "0.0.0.0", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["listening"].startswith("http://0.0.0.0:")
    assert info["base_url"] == info["listening"].replace("0.0.0.0", "127.0.0.1")
    assert err.startswith("neureus: warning:")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = cli("emulator", "--port", str(taken.getsockname()[1]))
    assert code == 1 and "cannot serve on" in err


def test_in_process_usage_errors(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad_inputs = {
        "{": "not valid JSON",
        '[{"role": "robot", "content": "x"}]': "robot",
        "[[]]": "not a list",
    }
    for text, fragment in bad_inputs.items():
        code, _, err = cli("preprocess", "-", stdin=text)
        assert code == 2 and fragment in err, err
    code, _, err = cli("preprocess", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    code, out, _ = cli("preprocess", "-", stdin=json.dumps([{"role": "user", "content": "one\ntwo"}]))
    assert out.splitlines()[:2] == ["user:      one", "           two"]
    code, _, err = cli("providers", "set", "openai", stdin="one\ntwo\n")
    assert code == 2 and "got 2 lines" in err
    for bad in ("x", "-1"):
        with pytest.raises(SystemExit) as exited:
            cli("preprocess", "-", "--keep-turns", bad)
        assert exited.value.code == 2
    monkeypatch.delenv("NEUREUS_API_KEY")
    code, _, err = cli("models")
    assert code == 2 and "no API key: set NEUREUS_API_KEY" in err


def test_exit_codes() -> None:
    from neureus._cli._main import _exit_code

    assert _exit_code(ValueError("bad")) == 2
    assert _exit_code(neureus.InvalidRequestError("bad")) == 2
    assert _exit_code(neureus.WidgetKeyScopeError("bad")) == 2
    assert _exit_code(neureus.APIConnectionError()) == 1
    assert _exit_code(OSError("port")) == 1
    assert _exit_code(RuntimeError("bug")) is None


def test_in_process_emulator_off_the_main_thread(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop(self: EmulatorServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(EmulatorServer, "serve_forever", stop)
    results: list[tuple[int, str, str]] = []
    thread = threading.Thread(target=lambda: results.append(cli("emulator", "--port", "0")))
    thread.start()
    thread.join(30)
    assert results[0][0] == 0  # no signal handler can be installed there, and none is tried


def test_python_dash_m_neureus_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runpy

    monkeypatch.setattr(sys, "argv", ["neureus", "--help"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("neureus", run_name="__main__")
    assert info.value.code in (0, None)
    assert "emulator" in capsys.readouterr().out
