"""The commands that talk to the gateway: ``chat``, ``models``, ``providers``, ``widget-key``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx

from .._client import Neureus
from .._config import DEFAULT_BASE_URL, NOT_GIVEN, is_loopback_host
from .._exceptions import ConfigurationError
from .._redact import redact_key
from .._streaming import ChatStream
from ._io import Commands, UsageError, print_json, read_prompt, read_secret, table, write_text
from ._terminal import EscapeFilter, is_terminal

__all__ = ["SURFACE", "add_commands", "make_client"]

SURFACE = "cli"
"""The ``x-neureus-surface`` this command line tags its requests with."""


def gateway_url(args: argparse.Namespace) -> tuple[str, str]:
    """The gateway URL this command will use, and where it came from (a flag, a variable)."""
    if args.base_url:
        return args.base_url, "--base-url"
    from_env = os.environ.get("NEUREUS_BASE_URL", "").strip()
    if from_env:
        return from_env, "NEUREUS_BASE_URL"
    return DEFAULT_BASE_URL, "the default"


def make_client(args: argparse.Namespace) -> Neureus:
    """A client from the environment (NEUREUS_API_KEY, NEUREUS_BASE_URL) and the global options."""
    if not os.environ.get("NEUREUS_API_KEY", "").strip():
        raise ConfigurationError(
            "no API key: set NEUREUS_API_KEY (to try things offline, run `neureus emulator` "
            "and use the export line it prints)"
        )
    url, source = gateway_url(args)
    # Said here in the command line's words (the SDK's own refusals name Python keywords);
    # the SDK still enforces both.
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UsageError(f"{source} is not a valid URL ({exc})") from None
    shown = str(parsed.copy_with(userinfo=b""))  # never a password from user:pass@
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"{source} is {shown!r}: it must be an absolute URL such as {DEFAULT_BASE_URL}")
    if parsed.scheme == "http" and not is_loopback_host(parsed.host):
        raise UsageError(
            f"{source} is {shown!r}: plain http:// is allowed only to this machine (localhost, 127.0.0.1, ::1), "
            "since the API key would travel in clear text; use an https:// URL"
        )
    args.tried_url = shown  # named by connection errors (_main._describe)
    args.tried_source = source
    return Neureus(
        base_url=args.base_url,
        timeout=NOT_GIVEN if args.timeout is None else args.timeout,
        max_retries=2 if args.max_retries is None else args.max_retries,
        surface=SURFACE,
    )


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Register the gateway commands."""
    p = commands.add_parser(
        "chat",
        parents=[common],
        help="chat with a model (the reply streams as it arrives)",
        description="Send one prompt; the reply streams to the terminal token by token. "
        "The prompt is the arguments, or stdin when there are none.",
    )
    p.add_argument("prompt", nargs="*", metavar="PROMPT", help="the prompt (words joined with spaces)")
    p.add_argument("-m", "--model", help="a model id (default: the gateway's, meta-llm; 'auto' routes by task)")
    p.add_argument("-s", "--system", metavar="TEXT", help="a system prompt")
    p.add_argument("-t", "--temperature", type=float, help="0 to 2")
    p.add_argument("--max-tokens", type=int, metavar="N", help="cap on the reply's tokens")
    p.add_argument("--no-stream", dest="stream", action="store_false", help="wait for the whole reply")
    p.set_defaults(handler=chat)

    p = commands.add_parser("models", parents=[common], help="list models and prices", description="List models.")
    p.add_argument("--provider", help="openai, anthropic, workers-ai, ...")
    p.add_argument("--type", help="chat, reasoning, coding, embedding, ...")
    p.set_defaults(handler=models)

    p = commands.add_parser(
        "providers",
        parents=[common],
        help="manage BYOK provider keys",
        description="Bring your own provider key. The key for set and rotate is read from stdin "
        "when piped, else from a hidden prompt; never from the command line.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="the providers with a key").set_defaults(handler=providers_list)
    for name, text in (
        ("set", "store a provider key"),
        ("rotate", "replace a stored key"),
        ("delete", "remove a stored key"),
    ):
        q = actions.add_parser(name, parents=[common], help=text, description=p.description)
        q.add_argument("provider", metavar="PROVIDER", help="openai or anthropic")
        q.set_defaults(handler=providers_change)

    p = commands.add_parser(
        "widget-key",
        parents=[common],
        help="create or revoke a chat-only publishable key (pk_)",
        description="Widget keys are chat-only and safe to embed in a web page. The key to revoke is read "
        "from stdin when piped, else from a hidden prompt; never from the command line.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = actions.add_parser("create", parents=[common], help="create one; prints the key on stdout")
    q.add_argument("--agent-id", metavar="ID", help="bind the key to this agent")
    q.set_defaults(handler=widget_key_create)
    actions.add_parser("revoke", parents=[common], help="revoke one").set_defaults(handler=widget_key_revoke)


def chat(args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt).strip() or read_prompt()
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    options: dict[str, Any] = {
        "model": args.model,
        "system_prompt": args.system,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
    }
    with make_client(args) as client:
        if not args.stream:
            reply = client.ai.chat(messages, **options)
            if args.json:
                print_json(reply.model_dump(mode="json", exclude_none=True))
            else:
                write_text(reply.text + "\n")
            return 0
        with client.ai.stream(messages, **options) as stream:
            if args.json:
                stream.until_done()
                print_json(_stream_summary(stream))
                return 0
            _write_stream(stream)
    return 0


def _write_stream(stream: ChatStream) -> None:
    """The tokens as they arrive (escape sequences stripped on a terminal), then a newline.

    If the stream fails midway, the partial line is ended first, so that the error (on
    stderr) starts on a line of its own rather than after the last token.
    """
    out = sys.stdout
    escapes = EscapeFilter() if is_terminal(out) else None
    line_open = False
    try:
        for token in stream:
            text = token if escapes is None else escapes.feed(token)
            if text:
                out.write(text)
                out.flush()
                line_open = not text.endswith("\n")
        if escapes is not None:
            out.write(escapes.flush())
        out.write("\n")
        out.flush()
    except Exception:
        if line_open:
            out.write("\n")
            out.flush()
        raise


def _stream_summary(stream: ChatStream) -> dict[str, Any]:
    return {
        "text": stream.text,
        "log_id": stream.log_id,
        "input_tokens": stream.input_tokens,
        "output_tokens": stream.output_tokens,
    }


def _price(value: float | None) -> str:
    return "-" if value is None else f"${value:g}"


def models(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        found = client.ai.list_models(provider=args.provider, type=args.type)
    if args.json:
        print_json([model.model_dump(mode="json") for model in found])
    elif not len(found):
        write_text("No models match.\n")
    else:
        rows = [
            (
                m.id,
                m.name or "",
                m.provider or "",
                m.type or "",
                "-" if m.context_window is None else f"{m.context_window:,}",
                _price(m.input_cost_per_1k),
                _price(m.output_cost_per_1k),
            )
            for m in found
        ]
        write_text(
            table(("ID", "NAME", "PROVIDER", "TYPE", "CONTEXT", "IN/1K", "OUT/1K"), rows, right={4, 5, 6}) + "\n"
        )
    return 0


def providers_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        found = client.ai.list_providers()
    if args.json:
        print_json([status.model_dump(mode="json") for status in found])
    elif not len(found):
        write_text("No provider keys are configured.\n")
    else:
        rows = [(s.provider, "yes" if s.configured else "no") for s in found]
        write_text(table(("PROVIDER", "CONFIGURED"), rows) + "\n")
    return 0


def providers_change(args: argparse.Namespace) -> int:
    # The client first: a missing NEUREUS_API_KEY fails before the user types a secret.
    with make_client(args) as client:
        if args.action == "delete":
            status = client.ai.delete_provider_key(args.provider)
        else:
            key = read_secret(f"{args.provider} API key")
            change = client.ai.rotate_provider_key if args.action == "rotate" else client.ai.set_provider_key
            status = change(args.provider, key)
    if args.json:
        print_json(status.model_dump(mode="json"))
    else:
        done = {"set": "stored", "rotate": "rotated", "delete": "deleted"}[args.action]
        write_text(f"{status.provider}: key {done} (configured: {'yes' if status.configured else 'no'}).\n")
    return 0


def widget_key_create(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        widget = client.ai.create_widget_key(args.agent_id)
    if args.json:
        print_json({"key": widget.key, "key_preview": widget.key_preview})
    else:
        # The key alone on stdout (KEY=$(neureus widget-key create)); the note on stderr.
        write_text(widget.key + "\n")
        print("Created a chat-only widget key; revoke it with `neureus widget-key revoke`.", file=sys.stderr)
    return 0


def widget_key_revoke(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        key = read_secret("widget key")
        result = client.ai.revoke_widget_key(key)
    if args.json:
        print_json({"key": redact_key(key), "revoked": result.revoked})
    else:
        print(f"Widget key {redact_key(key)} {'revoked' if result.revoked else 'NOT revoked'}.")
    return 0 if result.revoked else 1
