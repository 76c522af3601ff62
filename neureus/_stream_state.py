"""The state of one chat stream: decoded SSE event in, token out. No I/O.

The gateway's stream (spec, "POST /ai/chat", streaming) sends
``{"delta": {"content": "..."}, "done": false}`` per token, then a final
``{"done": true, "logId": ..., "inputTokens": ..., "outputTokens": ...}``. An
``event: error``, or a ``data`` object with an ``error`` member, is a
:class:`~neureus.StreamError`. :meth:`StreamState.finish` raises
:class:`~neureus.IncompleteStreamError` if the ``done`` event never came.
``ChatStream`` and ``AsyncChatStream`` only pull events and hand them here.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._exceptions import APIResponseValidationError, APITimeoutError, IncompleteStreamError, StreamError
from ._redact import redact_text

if TYPE_CHECKING:
    from httpx_sse import ServerSentEvent

    from .types import StreamFinal

__all__ = ["StreamState"]

# The C scanner behind ``json.loads``, called directly: a token event is one JSON object
# with no surrounding whitespace, so this skips loads' two whitespace regex matches and
# two Python frames per event (about half its cost on a small object). Anything else
# (whitespace around the value, trailing bytes, an error) falls back to ``json.loads``,
# so what is accepted and what is refused are exactly ``json.loads``'s.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed types the context oddly


def _loads(data: str) -> Any:
    try:
        value, end = _scan_once(data, 0)
    except (StopIteration, ValueError):
        return json.loads(data)
    if end != len(data):
        return json.loads(data)
    return value


def _stream_final(payload: dict[str, Any] | None, secrets: tuple[str, ...]) -> StreamFinal:
    # Imported here: the models module is not needed until a stream's last event.
    from pydantic import ValidationError

    from .types import StreamFinal

    if payload is None:
        return StreamFinal()
    try:
        return StreamFinal.model_validate(payload)
    except ValidationError as exc:
        excerpt = redact_text(json.dumps(payload)[:200], secrets)
        raise APIResponseValidationError(
            f"The stream's final event does not match StreamFinal ({exc.errors()[0]['msg']}): {excerpt!r}",
            body=excerpt,
        ) from None


def _bad_event(what: str, data: str, secrets: tuple[str, ...]) -> APIResponseValidationError:
    excerpt = redact_text(data[:200], secrets)
    return APIResponseValidationError(f"The stream sent an event {what}: {excerpt!r}", body=excerpt)


def _stream_error(payload: Any, fallback: str, secrets: tuple[str, ...]) -> StreamError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if error is None:
        error = payload
    error_type: str | None = None
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or error.get("error") or fallback
        kind = error.get("type") or error.get("code")
        error_type = None if kind is None else str(kind)
    elif isinstance(error, str) and error:
        message = error
    else:
        message = fallback
    text = f"The gateway reported an error mid-stream: {message}"
    if error_type:
        text += f" ({error_type})"
    return StreamError(redact_text(text, secrets), error_type=error_type)


class StreamState:
    """Accumulates a stream: the tokens' text, and the final event's fields."""

    __slots__ = ("_parts", "events", "final", "secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(secrets)
        """Values never to show in an error (the call's keys), besides key-shaped text."""
        self._parts: list[str] = []
        self.events = 0
        """Events received so far."""
        self.final: StreamFinal | None = None
        """The final ``done`` event, once it has arrived."""

    @property
    def text(self) -> str:
        """Every token delivered so far, joined."""
        return "".join(self._parts)

    @property
    def done(self) -> bool:
        """Whether the final event has arrived."""
        return self.final is not None

    def on_event(self, event: ServerSentEvent) -> str | None:
        """Take one event; return its token, or ``None`` when it carries no text."""
        self.events += 1
        data = event.data
        if event.event == "error":
            try:
                payload: Any = json.loads(data)
            except ValueError:
                payload = data
            raise _stream_error(payload, data or "unknown error", self.secrets)
        if not data:
            return None
        try:
            payload = _loads(data)
        except ValueError:
            if data.strip() == "[DONE]":
                # An OpenAI-style terminator; our own done event carries the counts.
                if self.final is None:
                    self.final = _stream_final(None, self.secrets)
                return None
            raise _bad_event("whose data is not valid JSON", data, self.secrets) from None
        if type(payload) is not dict:
            raise _bad_event("that is not a JSON object", data, self.secrets)
        if payload.get("error"):
            raise _stream_error(payload, "unknown error", self.secrets)
        token: str | None = None
        delta = payload.get("delta")
        if type(delta) is dict:
            content = delta.get("content")
            if content and type(content) is str:
                token = content
        elif "choices" in payload:
            token = _openai_delta(payload)
        if payload.get("done"):
            self.final = _stream_final(payload, self.secrets)
        if token:
            self._parts.append(token)
        return token

    def finish(self, cause: BaseException | None = None) -> None:
        """The body ended (or broke, with ``cause``): raise if ``done`` never came."""
        if self.final is not None:
            return
        partial = self.text
        if cause is None:
            reason = "the server closed it"
        elif isinstance(cause, APITimeoutError):
            reason = "no data arrived within the read timeout"
        else:
            reason = "the connection broke"
        error = IncompleteStreamError(
            f"The stream stopped before its final event ({reason}) after {self.events} event(s) "
            f"and {len(partial)} characters; the text so far is in .partial_text.",
            partial_text=partial,
        )
        raise error from cause


def _openai_delta(payload: dict[str, Any]) -> str | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if isinstance(content, str) and content:
                return content
    return None
