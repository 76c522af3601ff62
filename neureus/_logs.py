"""The ``neureus`` logger: off unless ``NEUREUS_LOG`` says otherwise, and always redacting.

Only the ``neureus`` logger is touched (never httpx's). Records carry method, path,
status, retries, waits, timings and request ids; never a body and never a key. A filter
on the logger runs every record through the one redaction function all the same, as a
second line of defence: by shape, and by value for every secret the process was given
(a server may echo the caller's key in ``x-request-id``). It also escapes control
characters and cuts the line, because arguments such as request ids and error texts come
from the server (no forged log lines, no terminal escapes). The filter runs only for
records that are emitted, so a disabled logger costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ._redact import MAX_SERVER_TEXT, clean_server_text, redact_text

__all__ = ["RedactingFilter", "configure_from_env", "logger"]

logger = logging.getLogger("neureus")


class RedactingFilter(logging.Filter):
    """Render each record's message once and redact every secret the process noted and
    anything shaped like a secret (``redact_text`` searches the noted ones itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = clean_server_text(redact_text(message), MAX_SERVER_TEXT + 500)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return True


logger.addFilter(RedactingFilter())

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_configured = False


def configure_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Honour ``NEUREUS_LOG=info|debug``: set the level and log to stderr (once)."""
    global _configured
    if _configured:
        return
    _configured = True
    env = os.environ if environ is None else environ
    level = _LEVELS.get(env.get("NEUREUS_LOG", "").strip().lower())
    if level is None:
        return
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
