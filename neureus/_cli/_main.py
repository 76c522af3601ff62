"""The parser, and the one place where errors become an exit code and one line on stderr.

Exit codes: 0 success; 1 the gateway or the network failed (or the emulator could not
bind); 2 bad usage or input (argparse errors, a missing key or prompt, invalid messages,
a local refusal such as a bad temperature); 130 interrupted with Ctrl-C. An expected
failure prints one line, ``neureus: error: ...``, with secrets redacted; ``--debug`` adds
the traceback and turns on the ``neureus`` logger.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn, cast

from .._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    IncompleteStreamError,
    InvalidRequestError,
    NeureusError,
    RateLimitError,
    WidgetKeyScopeError,
)
from .._redact import redact_text
from .._version import __version__
from . import _gateway, _local
from ._io import SECRETS, Commands, UsageError, count
from ._terminal import strip_escapes

__all__ = ["build_parser", "main"]

_EPILOG = """\
The API key comes from NEUREUS_API_KEY (and the gateway from NEUREUS_BASE_URL); secrets
are never read from arguments. Try it offline: `neureus emulator`, then the export line it prints.

exit codes: 0 ok, 1 gateway or network error, 2 bad usage or input, 130 interrupted
"""


def _add_global_options(parser: argparse.ArgumentParser, *, subcommand: bool) -> None:
    # On subcommands the defaults are SUPPRESS, so `neureus models --json` and
    # `neureus --json models` both work and neither overwrites the other.
    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    group = parser.add_argument_group("global options")
    group.add_argument("--json", action="store_true", default=default(False), help="machine-readable JSON output")
    group.add_argument("--debug", action="store_true", default=default(False), help="tracebacks and debug logs")
    group.add_argument("--base-url", metavar="URL", default=default(None), help="gateway URL (NEUREUS_BASE_URL)")
    group.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=default(None), help="per-request timeout")
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=count,
        default=default(None),
        help="retries on network errors, timeouts, 408, 409, 429 and 5xx",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0: {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, minus the habit of echoing stray arguments: one may be a key typed by mistake."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message = (
                "unrecognized arguments (not shown, in case one is a secret: keys are read from "
                "stdin or a hidden prompt, never from the command line)"
            )
        super().error(redact_text(message, SECRETS))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, subcommands included."""
    parser = _Parser(
        prog="neureus",
        description="The Neureus AI Gateway from the terminal.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neureus {__version__}")
    _add_global_options(parser, subcommand=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, subcommand=True)
    # Subcommands are _Parser too (argparse makes them of the parent's class).
    commands = cast("Commands", parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    _gateway.add_commands(commands, common)
    _local.add_commands(commands, common)
    return parser


def _exit_code(exc: BaseException) -> int | None:
    """2 for usage and local refusals, 1 for the gateway and the network, None if unexpected."""
    if isinstance(exc, (UsageError, ConfigurationError, InvalidRequestError, WidgetKeyScopeError)):
        return 2
    if isinstance(exc, (NeureusError, OSError)):
        return 1
    if isinstance(exc, ValueError):
        return 2
    return None


def _tried(args: argparse.Namespace) -> str:
    url = getattr(args, "tried_url", None)
    return "" if url is None else f" at {url} (from {args.tried_source})"


def _describe(exc: BaseException, args: argparse.Namespace) -> str:
    """The error in the command line's words: flags and variables, never Python keywords."""
    cause = exc.__cause__
    if isinstance(exc, IncompleteStreamError):
        # The SDK's text points to .partial_text; here the partial text is already on screen.
        if isinstance(cause, APITimeoutError):
            why = f"no data arrived within the read timeout (raise it with --timeout){_tried(args)}"
        elif isinstance(cause, APIConnectionError):
            why = f"the connection broke ({cause}){_tried(args)}"
        else:
            why = "the server ended the stream early"
        message = (
            f"the reply stopped before it was complete: {why}; the {len(exc.partial_text)} characters "
            "that arrived are shown above."
        )
    else:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, APITimeoutError):
            message = f"{message.rstrip('.')}{_tried(args)}; a slow gateway may need a longer --timeout."
        elif isinstance(exc, APIConnectionError):
            message = f"{message.rstrip('.')}{_tried(args)}; set the gateway with --base-url or NEUREUS_BASE_URL."
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        message += f" (the gateway asks to retry after {exc.retry_after:g} s)"
    # Server text may hold escape sequences; an error line is for people, on a terminal.
    return " ".join(strip_escapes(redact_text(message, SECRETS)).split())


def _report(exc: BaseException, args: argparse.Namespace) -> int:
    debug = bool(args.debug)
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    code = _exit_code(exc)
    message = _describe(exc, args)
    if code is None:
        code = 1
        message = f"unexpected {type(exc).__name__}: {message}"
        if not debug:
            message += " (run with --debug for the traceback)"
    print(f"neureus: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ.setdefault("NEUREUS_LOG", "debug")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        # Ctrl-C (during a stream, a prompt, the emulator): end the line, no traceback.
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`neureus models | head -1`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        return _report(exc, args)
