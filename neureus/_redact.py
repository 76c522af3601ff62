"""One redaction function for every repr, log line and exception text.

Keys are shown as their first 4 characters, an ellipsis and their last 4 (``nru_…9f3a``),
as API.md ("Details fixed") requires. This module must never import anything heavy: it is
used on error paths and by the logging filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SECRET_PATTERN", "redact_key", "redact_text"]

# Shapes of secrets we may meet in free text even when we were not told the exact value:
# Neureus API keys (nru_), widget keys (pk_), provider keys (sk-..., sk-ant-...), and bearer
# tokens in echoed headers. Short runs are left alone so ordinary words are not mangled.
SECRET_PATTERN = re.compile(
    r"(?:(?<=Bearer )[A-Za-z0-9._~+/=-]{8,})"
    r"|(?:\b(?:nru|pk|sk)[_-][A-Za-z0-9._-]{8,})"
)


def redact_key(key: str | None) -> str:
    """Show a secret as its first 4 characters, ``…`` and its last 4.

    >>> redact_key("nru_live_0123456789abcdef9f3a")
    'nru_…9f3a'

    Keys of 12 characters or fewer would be mostly revealed that way, so they are shown
    as their first 4 characters only (or ``…`` alone when even shorter).
    """
    if not key:
        return "<none>"
    if len(key) <= 8:
        return "…"
    if len(key) <= 12:
        return key[:4] + "…"
    return f"{key[:4]}…{key[-4:]}"


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace every known secret, and anything shaped like one, in ``text``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, redact_key(secret))
    if "_" in text or "-" in text or "Bearer" in text:
        text = SECRET_PATTERN.sub(lambda m: redact_key(m.group(0)), text)
    return text
