"""SSE encoding for the emulator's streamed replies, one event at a time.

Written independently of the SDK's decoder (the other side of the contract). Each
:class:`StreamScript` option produces a wire variant a real server or proxy may send.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal

__all__ = ["Pause", "StreamScript", "encode_stream"]

LineEnding = Literal["lf", "crlf", "cr"]


@dataclasses.dataclass(frozen=True)
class Pause:
    """Wait this many seconds before the next chunk (real time, on both transports)."""

    seconds: float


@dataclasses.dataclass(frozen=True)
class StreamScript:
    """How a streamed reply is put on the wire.

    Attributes:
        tokens: the token texts, one event each.
        line_ending: ``"lf"``, ``"crlf"`` or ``"cr"``.
        comments: send a ``: keep-alive`` comment before every event.
        no_space: write ``data:{...}`` without the space.
        multiline: split each event's JSON over two ``data:`` lines.
        fields: add ``event: message``, ``id:`` and ``retry:`` fields.
        empty_deltas: send an event with an empty delta between tokens.
        chunk_size: re-cut the byte stream into chunks of this many bytes (``None``: one
            chunk per event), to put boundaries inside lines and UTF-8 characters.
        delay: seconds to pause before each event after the first.
        cut_after: end the body after this many token events, without the done event.
        break_after: break the connection after this many token events.
        error_after: send an error after this many token events.
        error_message: the error's message.
        error_style: ``"event"`` (``event: error``) or ``"data"`` (``{"error": {...}}``).
        malformed_after: send a line of invalid JSON after this many token events.
        final: extra fields for the done event.
    """

    tokens: Sequence[str]
    line_ending: LineEnding = "lf"
    comments: bool = False
    no_space: bool = False
    multiline: bool = False
    fields: bool = False
    empty_deltas: bool = False
    chunk_size: int | None = None
    delay: float = 0.0
    cut_after: int | None = None
    break_after: int | None = None
    error_after: int | None = None
    error_message: str = "upstream provider failed"
    error_style: Literal["event", "data"] = "event"
    malformed_after: int | None = None
    final: dict[str, Any] = dataclasses.field(default_factory=dict)


class BreakConnection(Exception):
    """Placed in a chunk sequence: the connection breaks here."""


_EOL = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def _event(script: StreamScript, payload: str, number: int, event: str | None = None) -> str:
    eol = _EOL[script.line_ending]
    sep = ":" if script.no_space else ": "
    lines = []
    if script.comments:
        lines.append(": keep-alive")
    if event is not None:
        lines.append(f"event{sep}{event}")
    elif script.fields:
        lines.append(f"event{sep}message")
    if script.fields:
        lines.append(f"id{sep}{number}")
        lines.append(f"retry{sep}3000")
    if script.multiline:
        # Data lines are joined with "\n", which JSON allows between tokens: splitting
        # right after the opening brace keeps the object valid.
        lines.append(f"data{sep}{payload[:1]}")
        lines.append(f"data{sep}{payload[1:]}")
    else:
        lines.append(f"data{sep}{payload}")
    return eol.join(lines) + eol + eol


def encode_stream(script: StreamScript, *, log_id: str, input_tokens: int) -> Iterator[bytes | Pause | BreakConnection]:
    """The stream as wire chunks, with pauses and faults in between."""
    pieces: list[bytes | Pause | BreakConnection] = []
    number = 0
    for index, token in enumerate(script.tokens):
        if script.cut_after is not None and index >= script.cut_after:
            yield from _rechunk(pieces, script.chunk_size)
            return
        if script.break_after is not None and index >= script.break_after:
            pieces.append(BreakConnection("connection reset by the emulator"))
            yield from _rechunk(pieces, script.chunk_size)
            return
        if script.error_after is not None and index >= script.error_after:
            break
        if script.malformed_after is not None and index >= script.malformed_after:
            pieces.append(_event(script, '{"delta": {"content": "oops"', number).encode())
            yield from _rechunk(pieces, script.chunk_size)
            return
        if index and script.delay:
            pieces.append(Pause(script.delay))
        number += 1
        payload = json.dumps({"delta": {"content": token}, "done": False}, ensure_ascii=False)
        pieces.append(_event(script, payload, number).encode())
        if script.empty_deltas:
            number += 1
            pieces.append(_event(script, json.dumps({"delta": {"content": ""}, "done": False}), number).encode())
    if script.cut_after is not None and script.cut_after <= len(script.tokens):
        yield from _rechunk(pieces, script.chunk_size)
        return
    if script.break_after is not None and script.break_after <= len(script.tokens):
        pieces.append(BreakConnection("connection reset by the emulator"))
        yield from _rechunk(pieces, script.chunk_size)
        return
    if script.error_after is not None:
        number += 1
        body = {"error": {"message": script.error_message, "type": "provider_error"}}
        if script.error_style == "event":
            pieces.append(_event(script, json.dumps(body), number, event="error").encode())
        else:
            pieces.append(_event(script, json.dumps(body), number).encode())
        yield from _rechunk(pieces, script.chunk_size)
        return
    number += 1
    output_tokens = len(script.tokens)
    final = {"done": True, "logId": log_id, "inputTokens": input_tokens, "outputTokens": output_tokens}
    final.update(script.final)
    pieces.append(_event(script, json.dumps(final), number).encode())
    yield from _rechunk(pieces, script.chunk_size)


def _rechunk(
    pieces: list[bytes | Pause | BreakConnection], chunk_size: int | None
) -> Iterator[bytes | Pause | BreakConnection]:
    if chunk_size is None:
        yield from pieces
        return
    buffer = b""
    for piece in pieces:
        if isinstance(piece, bytes):
            buffer += piece
            while len(buffer) >= chunk_size:
                yield buffer[:chunk_size]
                buffer = buffer[chunk_size:]
        else:
            if buffer:
                yield buffer
                buffer = b""
            yield piece
    if buffer:
        yield buffer
