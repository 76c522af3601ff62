"""One redaction function for every repr, log line and exception text, and the opaque
:class:`Secrets` that carries secret values through the request flow.

Keys are shown as their first 4 characters, an ellipsis and their last 4 (``nru_…9f3a``),
as API.md ("Details fixed") requires. This module must never import anything heavy: it is
used on error paths and by the logging filter.

Why an opaque type: crash reporters (Sentry with its defaults, rich's ``show_locals``,
``pytest -l``) render every local of every frame of a failed call. A plain ``tuple`` or
``str`` holding a key in any frame is uploaded in full; an object whose ``repr`` is
redacted and which is not a ``Sequence`` is rendered through that ``repr`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

from ._known import remember_secrets
from ._known import values as _known_values

__all__ = [
    "MAX_SERVER_TEXT",
    "NO_SECRETS",
    "SECRET_PATTERN",
    "Sealed",
    "Secrets",
    "clean_server_text",
    "escape_controls",
    "known_secrets",
    "redact_key",
    "redact_text",
    "remember_secrets",
]

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
    """Replace ``secrets``, every secret the process noted (:func:`remember_secrets`), and
    anything shaped like a secret, in ``text``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, redact_key(secret))
    for secret in _known_values():  # (error paths and emitted log lines only: a few dozen searches)
        if secret in text:
            text = text.replace(secret, redact_key(secret))
    if "_" in text or "-" in text or "Bearer" in text:
        text = SECRET_PATTERN.sub(lambda m: redact_key(m.group(0)), text)
    return text


class Secrets:
    """Secret values (an API key, a BYOK or widget key) that must never be shown in full.

    Iterable and addable (``config.secrets + spec.secrets``) like a tuple, but not a
    ``Sequence``: crash reporters render it through its ``repr``, which names no value.

    >>> Secrets(["nru_live_0123456789abcdef"])
    Secrets(<1 redacted>)
    """

    __slots__ = ("__weakref__", "_encoded", "_values")  # (weakref: an owner for remember_secrets)

    _values: tuple[str, ...]
    _encoded: tuple[bytes, ...] | None

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values = tuple(value for value in values if value)
        self._encoded = None

    def appear_in(self, content: bytes) -> bool:
        """Whether any of the values occurs in ``content`` as UTF-8 (a byte search per value)."""
        encoded = self._encoded
        if encoded is None:
            encoded = self._encoded = tuple(value.encode() for value in self._values)
        for value in encoded:  # noqa: SIM110 - a loop, not any(<genexpr>): this runs on every answer
            if value in content:
                return True
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __add__(self, other: Iterable[str | None]) -> Secrets:
        if not isinstance(other, (Secrets, tuple, list)):
            return NotImplemented
        if not other:  # the common case (a call with no key in its body): no new object
            return self
        return Secrets((*self._values, *other))

    def __radd__(self, other: Iterable[str | None]) -> Secrets:
        if not isinstance(other, (tuple, list)):
            return NotImplemented
        return Secrets((*other, *self._values))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secrets):
            return self._values == other._values
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Secrets(<{len(self._values)} redacted>)"

    __str__ = __repr__

    def __rich_repr__(self) -> Iterator[object]:
        # rich's pretty printer would otherwise look for attributes to show.
        yield f"<{len(self._values)} redacted>"

    def __getstate__(self) -> tuple[str, ...]:
        return self._values

    def __setstate__(self, state: tuple[str, ...]) -> None:
        self._values = state
        self._encoded = None


class Sealed:
    """One secret value (an ``api_key`` argument) held in a frame a crash reporter may
    render: its ``repr`` names no value and it is not a container, so Sentry, rich's
    ``show_locals`` and ``capture_locals`` tracebacks show ``Sealed(<redacted>)``.

    >>> Sealed("nru_live_0123456789abcdef")
    Sealed(<redacted>)
    """

    __slots__ = ("value",)

    value: object
    """The value itself (read it where it is used; never keep it in a local)."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Sealed(<redacted>)"

    __str__ = __repr__

    def __rich_repr__(self) -> Iterator[object]:
        yield "<redacted>"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a sealed secret is not pickled")


NO_SECRETS: Final = Secrets()
"""The secrets of a call that carries none beyond the client's."""


def known_secrets() -> Secrets:
    """The secrets noted by :func:`remember_secrets`: owned ones first, then the newest last."""
    return Secrets(_known_values())


MAX_SERVER_TEXT: Final = 2000
"""Server text in an exception message or a log line is cut at this many characters."""

# C0 and C1 controls, DEL, and the Unicode characters that move or hide text in a terminal
# or a log viewer (line/paragraph separators, bidirectional overrides and isolates).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


def clean_server_text(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """Text from the server made safe for a message or a log line.

    Control characters are escaped (no forged log lines, no terminal escape sequences)
    and the result is cut at ``limit`` characters, saying how long it was.
    """
    cut = len(text) > limit
    escaped = escape_controls(text[:limit] if cut else text)
    if len(escaped) > limit:
        escaped, cut = escaped[:limit], True
    if cut:
        escaped += f"… [cut at {limit} of {len(text)} characters]"
    return escaped
