"""The four passes of the gateway's pipeline (spec 001, "Prompt pre-processing"), as pure functions.

1. ``normalize``: strip each content, make every line break ``\\n``, collapse each run of
   blank lines into one blank line.
2. ``structure``: put an optional ``system_prompt`` first, then every system message, then
   the rest, each group in its original order.
3. ``trim``: when the conversation is over ``max_context_tokens``, keep the system
   messages and the last ``keep_turns`` others.
4. ``compress``: pass each non-system content through a compressor (opt-in).

No I/O and no clock: the passes read their arguments and build new values. The caller's
list and messages are never mutated; each pass returns a new list of messages of the kind
it was given (a mapping comes back as a new ``dict`` with its extra keys, a ``ChatMessage``
as a copy made with ``model_copy``).

Inside, a call loads the messages once into a private ``_Conversation`` (parallel lists of
roles and contents, plus an ``order`` of indices), runs the passes on that, and builds the
output messages only at the end, and only for the messages that survive ``trim``: that is
what keeps a 100,000-message history cheap.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Generator, Iterable, Mapping
from typing import Any, cast

from pydantic import BaseModel

from .._exceptions import InvalidRequestError
from .._validation import ROLES, message_to_wire
from ..types import ChatMessage
from ._drive import check_compressor, drive_sync
from ._tokens import count_each
from ._types import Compressor, MessageT, TokenCounter

__all__ = [
    "DEFAULT_KEEP_TURNS",
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "check_count",
    "check_counter",
    "check_system_prompt",
    "compress",
    "compress_flow",
    "load",
    "materialize",
    "normalize",
    "normalize_conversation",
    "normalize_text",
    "structure",
    "structure_conversation",
    "trim",
    "trim_conversation",
]

DEFAULT_MAX_CONTEXT_TOKENS = 6000
"""The gateway trims above 6K tokens (spec 001: "Trim — when >6K tokens")."""
DEFAULT_KEEP_TURNS = 4
"""The gateway keeps the last 4 turns (spec 001: "keep system + last 4 turns")."""

_SYSTEM = "system"
# A line break followed by one or more blank lines (empty, or only whitespace other than
# "\n"), each ending in "\n". It runs after strip(), so a match is always inside the text.
_BLANK_RUNS = re.compile(r"\n(?:[^\S\n]*\n)+")
# ``dict`` with its item types spelled out, so that ``type(x) is _DICT`` narrows precisely.
_DICT: type[dict[str, Any]] = dict
_JUST_DICT = frozenset({dict})
_JUST_STR = frozenset({str})
_ROLE_SET = frozenset(ROLES)


class _Conversation:
    """The private working state of one call; never shared, never returned.

    ``items[i]``, ``roles[i]`` and ``contents[i]`` describe message ``i`` as the caller gave
    it (``items[i]`` is ``None`` for a message added from ``system_prompt``); ``order`` is
    the current conversation, as indices into those lists.
    """

    __slots__ = ("contents", "items", "order", "roles")

    def __init__(self, items: list[Any], roles: list[str], contents: list[str]) -> None:
        self.items = items
        self.roles = roles
        self.contents = contents
        self.order = list(range(len(items)))


# ---- loading and building messages -------------------------------------------------------


def load(messages: object) -> _Conversation:
    """Check every message (``message_to_wire`` rules) and load them into a ``_Conversation``.

    Plain dicts are checked inline, as this runs once per message; anything else, and any
    dict that fails the quick check, goes through ``message_to_wire``, which raises the
    ``InvalidRequestError`` naming the index and the fault.
    """
    kind = type(messages).__name__
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise InvalidRequestError(
            f"messages must be a list of messages, e.g. [{{'role': 'user', 'content': 'Hello'}}]; got {kind}."
        )
    items: list[Any] = list(messages)  # pyright: ignore[reportUnknownArgumentType]
    if set(map(type, items)) <= _JUST_DICT:
        # The common case, all plain dicts, checked with a few C-level sweeps; any doubt
        # (a missing key, an unhashable role) falls through to the exact check below.
        try:
            roles: list[Any] = [message["role"] for message in items]
            contents: list[Any] = [message["content"] for message in items]
            if set(map(type, contents)) <= _JUST_STR and set(roles) <= _ROLE_SET:
                return _Conversation(items, roles, contents)
        except (KeyError, TypeError):
            pass
    roles = []
    contents = []
    add_role = roles.append
    add_content = contents.append
    for index, message in enumerate(items):
        if type(message) is _DICT:
            role: Any = message.get("role")
            content: Any = message.get("content")
            if type(content) is str and role in ROLES:
                add_role(role)
                add_content(content)
                continue
        wire = message_to_wire(message, index)
        add_role(wire["role"])
        add_content(wire["content"])
    return _Conversation(items, roles, contents)


def _with_content(message: Any, content: str) -> Any:
    """A copy of ``message`` of the same kind, with ``content`` replaced."""
    if isinstance(message, Mapping):
        new = dict(cast("Mapping[str, Any]", message))
        new["content"] = content
        return new
    if isinstance(message, BaseModel):
        return message.model_copy(update={"content": content})
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        return dataclasses.replace(message, content=content)
    duplicate: Any = copy.copy(message)
    duplicate.content = content
    return duplicate


def materialize(conversation: _Conversation) -> list[Any]:
    """Build the output messages, in ``order``: new objects, of the kinds the caller gave.

    A message added from ``system_prompt`` is a ``ChatMessage`` when the caller's first
    message is a pydantic model, else a ``{"role": "system", "content": ...}`` dict.
    """
    items = conversation.items
    contents = conversation.contents
    out: list[Any] = []
    add = out.append
    for i in conversation.order:
        item = items[i]
        if type(item) is dict:
            add({**item, "content": contents[i]})
        elif item is None:
            if items and isinstance(items[0], BaseModel):
                add(ChatMessage(role=_SYSTEM, content=contents[i]))
            else:
                add({"role": _SYSTEM, "content": contents[i]})
        else:
            add(_with_content(item, contents[i]))
    return out


# ---- argument checks ---------------------------------------------------------------------


def check_count(name: str, value: object) -> int:
    """``max_context_tokens`` and ``keep_turns`` must be whole numbers >= 0 (not bools)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{name} must be a whole number >= 0; got {value!r}.")
    return value


def check_system_prompt(system_prompt: object) -> str | None:
    """``system_prompt`` must be a string or ``None``."""
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InvalidRequestError(f"system_prompt must be a string or None; got {type(system_prompt).__name__}.")
    return system_prompt


def check_counter(count_tokens: object) -> TokenCounter | None:
    """``count_tokens`` must be ``None`` or a callable (``str -> int``)."""
    if count_tokens is None:
        return None
    if not callable(count_tokens):
        raise TypeError(
            "count_tokens must be a callable that takes a text and returns its token count "
            f"(e.g. lambda text: len(encoding.encode(text))); got {type(count_tokens).__name__}."
        )
    return cast(TokenCounter, count_tokens)


# ---- pass 1: normalize -------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Normalize one content: strip it, make ``\\r\\n`` and a lone ``\\r`` into ``\\n``, and
    collapse each run of blank lines (empty or whitespace-only) into one empty line.

    >>> normalize_text("  Hi\\r\\n\\r\\n   \\n\\tthere  ")
    'Hi\\n\\n\\tthere'
    """
    text = text.strip()
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text


def normalize_conversation(conversation: _Conversation) -> None:
    """Normalize every content of ``conversation`` (the working state; not the caller's)."""
    # normalize_text, inlined: this loop is the pipeline's hot path.
    sub = _BLANK_RUNS.sub
    out: list[str] = []
    add = out.append
    for text in conversation.contents:
        text = text.strip()
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        add(sub("\n\n", text) if "\n" in text else text)
    conversation.contents = out


def normalize(messages: Iterable[MessageT]) -> list[MessageT]:
    """Pass 1: tidy the whitespace of every message; no message is dropped.

    Each content is stripped; ``\\r\\n`` and a lone ``\\r`` (old Mac line ends) become
    ``\\n``; a run of blank lines, empty or holding only whitespace, becomes one empty
    line. Lines are split on ``\\n`` only: other Unicode separators count as whitespace
    inside a line. Indentation and text inside a line are left alone.

    >>> normalize([{"role": "user", "content": "  Hello\\r\\n\\r\\n \\r\\n\\r\\nworld  ", "id": 7}])
    [{'role': 'user', 'content': 'Hello\\n\\nworld', 'id': 7}]
    """
    conversation = load(messages)
    normalize_conversation(conversation)
    return materialize(conversation)


# ---- pass 2: structure -------------------------------------------------------------------


def structure_conversation(conversation: _Conversation, system_prompt: str | None) -> None:
    """Move the system messages to the front of ``order``, after ``system_prompt`` if given."""
    roles = conversation.roles
    order = conversation.order
    systems = [i for i in order if roles[i] == _SYSTEM]
    others = [i for i in order if roles[i] != _SYSTEM]
    # The gateway prepends ``systemPrompt`` as a system message with no exception (its spec:
    # "prepended as system message"), even when the first system message says the same; an
    # empty prompt adds nothing. So the pipeline is not idempotent, by design: it shows
    # exactly what the gateway will do.
    if system_prompt:
        added = len(conversation.items)
        conversation.items.append(None)
        roles.append(_SYSTEM)
        conversation.contents.append(system_prompt)
        systems.insert(0, added)
    conversation.order = systems + others


def structure(messages: Iterable[MessageT], *, system_prompt: str | None = None) -> list[MessageT]:
    """Pass 2: system messages first, in their order; then the others, in theirs.

    ``system_prompt``, when given, is prepended as the first system message, always, as the
    gateway does (even when the first system message already says the same); ``None`` and
    ``""`` add nothing. The new message is a ``ChatMessage`` when the first message given
    is one, else a dict.

    >>> structure(
    ...     [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}],
    ...     system_prompt="You are Ada.",
    ... )  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'You are Ada.'}, {'role': 'system', 'content': 'Be brief.'},
     {'role': 'user', 'content': 'Hi'}]
    """
    system_prompt = check_system_prompt(system_prompt)
    conversation = load(messages)
    structure_conversation(conversation, system_prompt)
    return materialize(conversation)


# ---- pass 3: trim ------------------------------------------------------------------------


def trim_conversation(conversation: _Conversation, tokens: list[int], max_context_tokens: int, keep_turns: int) -> bool:
    """Drop old non-system messages from ``order`` if the total is over the limit.

    ``tokens[i]`` is the token count of ``contents[i]``. Returns whether a message was
    dropped.
    """
    order = conversation.order
    if sum(map(tokens.__getitem__, order)) <= max_context_tokens:
        return False
    roles = conversation.roles
    others = [position for position, i in enumerate(order) if roles[i] != _SYSTEM]
    dropped = len(others) - keep_turns
    if dropped <= 0:
        return False
    # Every non-system message before this position is dropped; system messages stay.
    first_kept = others[dropped] if keep_turns else len(order)
    conversation.order = [i for position, i in enumerate(order) if position >= first_kept or roles[i] == _SYSTEM]
    return True


def trim(
    messages: Iterable[MessageT],
    *,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    keep_turns: int = DEFAULT_KEEP_TURNS,
    count_tokens: TokenCounter | None = None,
) -> list[MessageT]:
    """Pass 3: if the conversation is over ``max_context_tokens``, keep every system message
    and the last ``keep_turns`` others (a turn is one non-system message), in their order.

    The size is the sum of ``count_tokens`` (default :func:`estimate_tokens`) over the
    contents. At or under the limit nothing changes. Trimming can leave a conversation over
    the limit (when the kept messages alone exceed it); nothing is cut mid-message.

    >>> history = [{"role": "system", "content": "S"}] + [
    ...     {"role": "user", "content": f"message {n}"} for n in range(10)
    ... ]
    >>> [m["content"] for m in trim(history, max_context_tokens=10, keep_turns=2)]
    ['S', 'message 8', 'message 9']
    """
    max_context_tokens = check_count("max_context_tokens", max_context_tokens)
    keep_turns = check_count("keep_turns", keep_turns)
    counter = check_counter(count_tokens)
    conversation = load(messages)
    tokens = count_each(conversation.contents, counter)
    trim_conversation(conversation, tokens, max_context_tokens, keep_turns)
    return materialize(conversation)


# ---- pass 4: compress --------------------------------------------------------------------


def compress_flow(conversation: _Conversation, *, where: str = "") -> Generator[str, object, list[int]]:
    """Yield each non-system, non-empty content in ``order``; take back its compressed text.

    The driver sends the compressor's result back (``sent = yield text``); anything but a
    ``str`` is a ``TypeError`` naming the message's index in the output. Returns the indices
    (into ``contents``) that were replaced. Empty contents are skipped: there is nothing to
    shorten, and with the gateway as compressor each call costs a request.
    """
    roles = conversation.roles
    contents = list(conversation.contents)
    changed: list[int] = []
    for position, i in enumerate(conversation.order):
        text = contents[i]
        if roles[i] == _SYSTEM or not text:
            continue
        sent = yield text
        if not isinstance(sent, str):
            raise TypeError(
                f"the compressor returned {type(sent).__name__} for messages[{position}]{where}; "
                "it must return the compressed text as a str."
            )
        contents[i] = sent
        changed.append(i)
    conversation.contents = contents
    return changed


def compress(messages: Iterable[MessageT], compressor: Compressor) -> list[MessageT]:
    """Pass 4: replace each non-system content with ``compressor(content)``.

    System messages and empty contents are left as they are; the compressor's text is used
    as returned. ``compressor`` must be sync: for an async one (such as a call to the
    gateway) use ``await apreprocess(messages, compress=True, compressor=...)``.

    >>> compress(
    ...     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Well, hello there"}],
    ...     lambda text: text.split(",")[-1].strip(),
    ... )
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'hello there'}]
    """
    check_compressor(compressor, caller="compress", sync=True)
    conversation = load(messages)
    drive_sync(compress_flow(conversation), compressor, caller="compress")
    return materialize(conversation)
