"""The commands that need no gateway and no key: ``preprocess`` and ``emulator``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from .._config import is_loopback_host
from ._io import Commands, UsageError, count, print_json, write_text

__all__ = ["EMULATOR_API_KEY", "add_commands"]

EMULATOR_API_KEY = "nru_local_emulator_key"
"""A key to export for the emulator (it accepts any non-empty key; this one is no secret)."""


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Register the local commands."""
    p = commands.add_parser(
        "preprocess",
        parents=[common],
        help="run the gateway's prompt pipeline locally on a JSON list of messages",
        description="Normalize, structure and trim a conversation as the gateway would, and show the stats. "
        'FILE holds a JSON list of {"role", "content"} messages; - reads stdin. No key needed.',
    )
    p.add_argument("file", metavar="FILE", help="a JSON file, or - for stdin")
    p.add_argument("--system-prompt", metavar="TEXT", help="put this system message first")
    p.add_argument("--max-context-tokens", type=count, default=6000, metavar="N", help="trim above this (6000)")
    p.add_argument("--keep-turns", type=count, default=4, metavar="N", help="non-system messages kept by a trim (4)")
    p.set_defaults(handler=preprocess)

    p = commands.add_parser(
        "emulator",
        parents=[common],
        help="serve the offline gateway emulator on this machine",
        description="Serve neureus.testing.FakeGateway over HTTP in the foreground, until Ctrl-C. "
        "It listens on loopback unless --host names another address explicitly.",
    )
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port to bind (default 8787; 0 picks a free one)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each request on stderr")
    p.set_defaults(handler=emulator)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _load_messages(file: str) -> tuple[str, list[Any]]:
    name = "stdin" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, list):
        raise UsageError(f"{name} must hold a JSON list of messages, not {_kind(data)}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise UsageError(f'{name}: message {index} must be an object with "role" and "content", not {_kind(item)}')
    return name, data


def preprocess(args: argparse.Namespace) -> int:
    from ..preprocessing import preprocess as run_pipeline

    name, messages = _load_messages(args.file)
    try:
        result = run_pipeline(
            messages,
            system_prompt=args.system_prompt,
            max_context_tokens=args.max_context_tokens,
            keep_turns=args.keep_turns,
        )
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from exc
    if args.json:
        print_json({"messages": result.messages, "stats": result.stats.model_dump(mode="json")})
        return 0
    shown: list[str] = []
    for message in result.messages:
        role = str(message.get("role"))
        lines = str(message.get("content", "")).split("\n")
        shown.append(f"{role + ':':<11}{lines[0]}")
        shown.extend(f"{'':<11}{line}".rstrip() for line in lines[1:])
    write_text("\n".join([*shown, "", str(result.stats), ""]))
    return 0


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def emulator(args: argparse.Namespace) -> int:
    from ..testing import EmulatorServer, FakeGateway

    host = args.host or "127.0.0.1"
    public = not is_loopback_host(host)
    if public:
        # Only an explicit --host gets here: the default is loopback.
        print(
            f"neureus: warning: serving the emulator on {host}, reachable from other machines; "
            "it accepts any key and keeps no real data.",
            file=sys.stderr,
        )
    try:
        server = EmulatorServer(FakeGateway(), host=host, port=args.port, allow_public=public, verbose=args.verbose)
    except OSError as exc:
        raise OSError(f"cannot serve on {host}:{args.port}: {exc.strerror or exc}") from exc
    # Bound to every interface, it is reached locally over loopback (which the SDK accepts over http://).
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(server.host)
    local_url = server.base_url if wildcard is None else f"http://{wildcard}:{server.port}"
    try:  # from here on, Ctrl-C (or SIGTERM) is the normal way to stop
        if args.json:
            info = {"base_url": local_url, "listening": server.base_url, "api_key": EMULATOR_API_KEY}
            print(json.dumps(info), flush=True)
        else:
            print(f"Neureus emulator serving at {server.base_url} (Ctrl-C to stop)")
            print(f"export NEUREUS_BASE_URL={local_url} NEUREUS_API_KEY={EMULATOR_API_KEY}", flush=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("Emulator stopped.", file=sys.stderr)
    return 0
