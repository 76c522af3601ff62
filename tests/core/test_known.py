"""The process's memory of given secrets (``neureus/_known.py``), as redaction uses it."""

from __future__ import annotations

import os

from neureus._redact import known_secrets, redact_key, redact_text, remember_secrets

# Least recently used goes first; a value with a live owner stays.


def _fresh(label: str, count: int) -> list[str]:
    run = os.urandom(4).hex()  # the memory is process-wide: values no other test noted
    return [f"{label}-{i:04d}-{run}-0123456789" for i in range(count)]


def test_a_secret_noted_again_is_the_most_recent_one() -> None:
    # FIFO would keep the first noting's place and drop the value 64 notings after it,
    # though it was noted again (in use) 30 notings before the end.
    first, *others = _fresh("in-use", 81)
    remember_secrets([first])
    remember_secrets(others[:50])
    remember_secrets([first])
    remember_secrets(others[50:])
    known = list(known_secrets())
    assert first in known and others[0] not in known


def test_a_value_noted_plainly_then_with_an_owner_is_owned() -> None:
    import gc

    class Owner:
        pass

    (value,) = _fresh("then-owned", 1)
    remember_secrets([value])  # the newest value now
    owner = Owner()
    remember_secrets([value], owner=owner)  # must not take the "already the newest" shortcut
    remember_secrets(_fresh("churn", 100))
    assert value in list(known_secrets())
    del owner
    gc.collect()


def test_an_owner_of_several_values_releases_each_of_them() -> None:
    import gc

    from neureus import _known

    class Owner:
        pass

    shared, alone = _fresh("several", 2)
    first, second = Owner(), Owner()
    remember_secrets([shared, alone], owner=first)
    remember_secrets([shared], owner=second)
    del first
    gc.collect()
    remember_secrets(_fresh("next", 1))  # (applies a release the collector may have queued)
    assert shared in _known._owned and alone not in _known._owned
    assert alone in list(known_secrets())  # released: the newest of the bounded ones
    del second
    gc.collect()


def test_an_owned_secret_is_kept_while_its_owner_lives_and_memory_stays_flat() -> None:
    import gc

    class Owner:
        pass

    owner = Owner()
    (pinned,) = _fresh("owned", 1)
    remember_secrets([pinned], owner=owner)
    remember_secrets([pinned], owner=owner)  # twice: one owner still counts once
    churn = _fresh("churn", 1000)
    for value in churn:
        remember_secrets([value])
    known = list(known_secrets())
    assert pinned in known and known[-1] == churn[-1]
    assert len([v for v in known if v.startswith("churn-")]) == 64  # the bound holds
    del owner
    gc.collect()
    known = list(known_secrets())
    assert known[-1] == pinned  # no longer owned: the newest of the bounded ones
    remember_secrets(_fresh("after", 64))
    assert pinned not in list(known_secrets())


def test_a_secret_two_owners_share_is_kept_until_both_are_gone() -> None:
    import gc

    class Owner:
        pass

    first, second = Owner(), Owner()
    (shared,) = _fresh("shared", 1)
    remember_secrets([shared], owner=first)
    remember_secrets([shared], owner=second)
    del first
    gc.collect()
    remember_secrets(_fresh("churn", 100))
    assert shared in list(known_secrets())
    del second
    gc.collect()
    remember_secrets(_fresh("churn", 100))
    assert shared not in list(known_secrets())


def test_noting_from_many_threads_keeps_every_owned_secret_and_the_bound() -> None:
    import threading

    class Owner:
        pass

    owners = [Owner() for _ in range(8)]
    owned = _fresh("thread-owned", 8)

    def note(index: int) -> None:
        remember_secrets([owned[index]], owner=owners[index])
        remember_secrets(_fresh(f"thread-{index}", 200))

    threads = [threading.Thread(target=note, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    known = list(known_secrets())
    assert all(value in known for value in owned)
    assert len([v for v in known if v.startswith("thread-") and "owned" not in v]) == 64


def test_the_at_fork_hook_frees_the_memorys_lock() -> None:
    # What os.fork() runs in the child, run here where mutation testing can see it.
    import threading

    from neureus import _known

    with _known._lock:  # held, as by another thread at the moment of fork()
        _known._after_fork_in_child()
        (value,) = _fresh("forked", 1)
        worker = threading.Thread(target=remember_secrets, args=([value],), daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "noting waited on the lock held before the fork"
    assert value in list(known_secrets())


def test_redacted_text_covers_every_secret_the_process_noted() -> None:
    (noted,) = _fresh("noted", 1)
    remember_secrets([noted])
    assert redact_text(f"the provider said: bad key {noted}") == f"the provider said: bad key {redact_key(noted)}"


def test_an_owner_collected_while_this_thread_notes_a_secret_does_not_deadlock() -> None:
    # A client is freed by the cyclic garbage collector, which may run at any allocation:
    # also inside remember_secrets, with the lock held by this very thread.
    import threading

    from neureus import _known

    (value,) = _fresh("released-under-lock", 1)

    class Owner:
        pass

    holder = [Owner()]
    remember_secrets([value], owner=holder[0])
    finished = threading.Event()

    def free_the_owner_while_holding_the_lock() -> None:
        with _known._lock:
            holder.clear()  # the last reference: its finalizer runs here, under the lock
        finished.set()

    worker = threading.Thread(target=free_the_owner_while_holding_the_lock, daemon=True)
    worker.start()
    assert finished.wait(timeout=20), "releasing an owner's secret deadlocked on the held lock"
    assert value in _known._owned  # queued: still owned until the lock is free
    remember_secrets(_fresh("next", 1))  # the next noting applies the queued release
    assert value in list(known_secrets()) and value not in _known._owned
