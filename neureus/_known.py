"""The process's memory of the secrets it was given, for by-value redaction (``_redact``).

Kept apart from ``_redact`` (pure functions, in the core) because it is process-wide state
behind a lock, as the usage ledger is. No I/O.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable
from typing import Final

__all__ = ["remember_secrets", "values"]

# Secrets this process has been given (API keys of clients, keys sent in bodies), so that
# redaction can find them by value in text that came from the server (an echoed
# x-request-id, a provider's error quoting the BYOK key the gateway used). Two parts:
#
# - owned: a client's API key, kept while a configuration holding it lives (counted per
#   owner, released by a weakref finalizer). No churn of other keys can push it out, and it
#   costs nothing beyond what the live clients hold anyway.
# - recent: every other value (BYOK keys, widget keys), least recently noted first out,
#   at most _KNOWN_MAX: noting a value again makes it the newest, so a key in use stays.
#   An owned key whose owners are all gone joins it as the newest.
#
# So memory stays flat: live clients' keys plus _KNOWN_MAX values. Writers take a lock and
# publish a fresh tuple; readers (the log filter, error texts) read that tuple with no lock.
# The lock is replaced in a forked child (another thread may have held it at fork()).
_KNOWN: tuple[str, ...] = ()
_KNOWN_MAX: Final = 64
_KNOWN_MIN_LENGTH: Final = 8
_owned: dict[str, int] = {}  # value -> how many live owners hold it
_recent: dict[str, None] = {}  # insertion-ordered: oldest first
_released: list[tuple[str, ...]] = []  # owners gone, not yet applied (see _release)
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _publish() -> None:
    # (Under the lock.) Owned first, then the recent ones, newest last.
    global _KNOWN
    _KNOWN = (*_owned, *(value for value in _recent if value not in _owned))


def _release(values: tuple[str, ...]) -> None:
    # An owner is gone (a weakref finalizer: it may run inside a garbage collection that
    # started while this very thread holds the lock, in the middle of _publish). So it only
    # queues the release (list.append is atomic), and applies it when the lock is free now,
    # else at the next noting: a key stays owned a little longer, never a little shorter.
    _released.append(values)
    if _lock.acquire(blocking=False):
        try:
            _apply_releases()
            _publish()
        finally:
            _lock.release()


def _apply_releases() -> None:
    # (Under the lock.) Released values are no longer pinned: they become the newest recent ones.
    while _released:
        for value in _released.pop():
            left = _owned.pop(value) - 1  # (counted when its owner noted it: one release each)
            if left:
                _owned[value] = left
            else:
                _note_recent(value)


def _note_recent(value: str) -> None:
    # (Under the lock.) Make ``value`` the newest recent value, dropping the oldest past the bound.
    _recent.pop(value, None)
    _recent[value] = None
    while len(_recent) > _KNOWN_MAX:
        del _recent[next(iter(_recent))]


def remember_secrets(values: Iterable[str | None], *, owner: object = None) -> None:
    """Note secret values for by-value redaction (the log filter, error texts).

    With ``owner`` (a client's configuration), the values are kept for as long as the
    owner lives, whatever else is noted; otherwise the most recently noted 64 are kept.
    Values under 8 characters are not noted: replacing every "e" or "abc" in every log
    line would mangle the logs without protecting anything real.
    """
    wanted = tuple(dict.fromkeys(v for v in values if v and len(v) >= _KNOWN_MIN_LENGTH))
    if not wanted:
        return
    if owner is None and _KNOWN[-len(wanted) :] == wanted:
        return  # already the newest (a call that sends the same key again): nothing to move
    with _lock:
        _apply_releases()
        for value in wanted:
            if owner is None:
                _note_recent(value)
            else:
                _owned[value] = _owned.get(value, 0) + 1
        _publish()
    if owner is not None:
        weakref.finalize(owner, _release, wanted)


def values() -> tuple[str, ...]:
    """The noted values: owned ones first, then the others, newest last (a snapshot)."""
    return _KNOWN
