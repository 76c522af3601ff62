"""The consumption of one chat stream, as one pure step: outcome in, decision out. No I/O.

The gateway's stream (spec, "POST /ai/chat", streaming) sends
``{"delta": {"content": "..."}, "done": false}`` per token, then a final
``{"done": true, "logId": ..., "inputTokens": ..., "outputTokens": ...}``.

:meth:`StreamState.consume` is to a stream what :func:`neureus._retry.request_flow` is to
a call: the shells (``ChatStream``, ``AsyncChatStream``) pull one *outcome* (a decoded
event, :data:`END` of the body, or an already-translated transport error), hand it here
with the time, and do what the answer says:

- a ``str``: deliver this token;
- ``None`` (:data:`PULL`): nothing to deliver, keep pulling;
- :data:`FINISHED`: the stream is over.

Whenever :attr:`StreamState.finished` turns true (at the first ``{"done": true}`` or
``data: [DONE]``, whose own token, if any, is still delivered), the shell releases the
connection at once and decodes nothing more, so what a server sends after ``done`` (tokens,
a second ``done``, garbage, an error, a connection held open) changes nothing. (Its one
read at ``done`` takes only what has already arrived, to hand a finished body's connection
back to the pool; see :mod:`neureus._event_source`.)

It raises the documented errors: :class:`~neureus.StreamError` for an ``event: error`` or a
``data`` object with an ``error`` member; :class:`~neureus.IncompleteStreamError` (with
``partial_text``) when the body ends, breaks, times out, outlives the deadline or sends an
oversized event before ``done``, the SDK error that stopped it as ``__cause__``. Comments
never reach it (the decoder drops them); events whose type is neither ``message`` nor
``error`` (``event: heartbeat``) are skipped, whatever their data.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from httpx_sse import ServerSentEvent

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    IncompleteStreamError,
    StreamError,
)
from ._redact import redact_text

if TYPE_CHECKING:
    from .types import StreamFinal

__all__ = ["END", "FINISHED", "PULL", "StreamState", "deadline_passed"]

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


class _Finished:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FINISHED"


FINISHED: Final = _Finished()
"""The answer of :meth:`StreamState.consume` once the stream has ended at ``done``."""
PULL: Final = None
"""The answer of :meth:`StreamState.consume` when there is nothing to deliver yet."""
END: Final = None
"""The outcome that means "the body ended"."""

Outcome: TypeAlias = "ServerSentEvent | APIError | None"
Step: TypeAlias = "str | _Finished | None"


class StreamState:
    """One stream's consumption: the tokens' text, the final event, and the deadline."""

    __slots__ = ("_parts", "events", "final", "finished", "read_by", "secrets")

    def __init__(self, secrets: Iterable[str] = (), read_by: float | None = None) -> None:
        self.secrets = tuple(secrets)
        """Values never to show in an error (the call's keys), besides key-shaped text."""
        self.read_by = read_by
        """The ``time.monotonic()`` by which ``done`` must have come (the call's deadline)."""
        self._parts: list[str] = []
        self.events = 0
        """Events received so far."""
        self.final: StreamFinal | None = None
        """The final ``done`` event, once it has arrived."""
        self.finished = False
        """Whether the stream has ended (at ``done``, or with an error)."""

    @property
    def text(self) -> str:
        """Every token delivered so far, joined."""
        return "".join(self._parts)

    @property
    def done(self) -> bool:
        """Whether the final event has arrived."""
        return self.final is not None

    def consume(self, outcome: Outcome, clock: Callable[[], float]) -> Step:
        """Take one outcome; say what to do next. ``clock`` (``time.monotonic``) is read
        only when there is a deadline.

        See the module docstring. Once it has answered :data:`FINISHED` or raised, the
        stream is over and further calls answer :data:`FINISHED` without looking.
        """
        if self.finished:
            return FINISHED
        # Over unless this outcome proves otherwise: whatever raises below leaves it so.
        self.finished = True
        if type(outcome) is not ServerSentEvent:
            raise self._incomplete(outcome if isinstance(outcome, APIError) else None)
        self.events += 1
        kind = outcome.event
        data = outcome.data
        token: str | None = None
        if kind == "message" and data:
            try:
                payload: Any = _loads(data)
            except ValueError:
                if data.strip() == "[DONE]":
                    # An OpenAI-style terminator; our own done event carries the counts.
                    self.final = _stream_final(None, self.secrets)
                    return FINISHED
                raise _bad_event("whose data is not valid JSON", data, self.secrets) from None
            if type(payload) is not dict:
                raise _bad_event("that is not a JSON object", data, self.secrets)
            if payload.get("error"):
                raise _stream_error(payload, "unknown error", self.secrets)
            delta = payload.get("delta")
            if type(delta) is dict:
                content = delta.get("content")
                if content and type(content) is str:
                    token = content
            elif "choices" in payload:
                token = _openai_delta(payload)
            if payload.get("done"):
                # Taken even past the deadline: it is what the deadline waited for. A token
                # it carries is still delivered; the next call answers FINISHED.
                self.final = _stream_final(payload, self.secrets)
                if token:
                    self._parts.append(token)
                    return token
                return FINISHED
        elif kind == "error":
            try:
                payload = json.loads(data)
            except ValueError:
                payload = data
            raise _stream_error(payload, data or "unknown error", self.secrets)
        # Anything else (empty data, no text, heartbeat and other types) is skipped here;
        # .events() shows it. A token read past the deadline is neither delivered nor kept.
        read_by = self.read_by
        if read_by is not None and clock() > read_by:
            raise self._incomplete(deadline_passed())
        self.finished = False
        if token:
            self._parts.append(token)
        return token

    def _incomplete(self, cause: APIError | None) -> IncompleteStreamError:
        partial = self.text
        if cause is None:
            reason = "the server closed it"
        elif isinstance(cause, APITimeoutError):
            deadline = cause.args[:1] == (_DEADLINE,)
            reason = "the deadline ran out" if deadline else "no data arrived within the read timeout"
        elif isinstance(cause, APIConnectionError):
            reason = "the connection broke"
        else:
            reason = str(cause)
        error = IncompleteStreamError(
            f"The stream stopped before its final event ({reason}) after {self.events} event(s) "
            f"and {len(partial)} characters; the text so far is in .partial_text.",
            partial_text=partial,
        )
        error.__cause__ = cause
        return error


_DEADLINE = "The call's deadline ran out before the stream's final event."


def deadline_passed() -> APITimeoutError:
    """The cause of an :class:`~neureus.IncompleteStreamError` when the deadline ran out."""
    return APITimeoutError(_DEADLINE)


def _openai_delta(payload: dict[str, Any]) -> str | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if isinstance(content, str) and content:
                return content
    return None
