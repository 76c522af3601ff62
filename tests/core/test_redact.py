from __future__ import annotations

import os

import pytest

from neureus._redact import redact_key, redact_text


def test_key_shows_first_four_and_last_four() -> None:
    assert redact_key("nru_live_0123456789abcdef9f3a") == "nru_…9f3a"


@pytest.mark.parametrize(
    ("key", "shown"), [(None, "<none>"), ("", "<none>"), ("short", "…"), ("pk_abc123xyz", "pk_a…")]
)
def test_short_keys_reveal_less(key: str | None, shown: str) -> None:
    assert redact_key(key) == shown


def test_text_redaction_of_known_and_shaped_secrets() -> None:
    secret = "custom-secret-value-1234"
    text = f"got {secret} and Bearer abcdefghijkl and sk-proj-0123456789 and pk_live_abcdefgh1234"
    out = redact_text(text, [secret, None])
    for raw in (secret, "abcdefghijkl", "sk-proj-0123456789", "pk_live_abcdefgh1234"):
        assert raw not in out
    assert "cust…1234" in out


def test_ordinary_text_is_left_alone() -> None:
    text = "a normal sentence with snake_case and dash-words"
    assert redact_text(text) == text


# --- Secrets: opaque to crash reporters, usable as a tuple by the core -----------------

from collections.abc import Sequence, Set  # noqa: E402

from neureus._redact import (  # noqa: E402
    Secrets,
    clean_server_text,
    escape_controls,
    known_secrets,
    remember_secrets,
)

SECRET = "ZZq7SECRETplainApiKey0123456789abcdef"


def test_secrets_never_show_a_value() -> None:
    secrets = Secrets([SECRET, None, ""])
    assert len(secrets) == 1 and list(secrets) == [SECRET]
    for text in (repr(secrets), str(secrets), f"{secrets}", f"{secrets!r}"):
        assert SECRET not in text and "1 redacted" in text


def test_secrets_are_not_a_sequence_or_a_set() -> None:
    # Sentry's serializer and rich's pretty printer expand Sequences and Sets item by item.
    secrets = Secrets([SECRET])
    assert not isinstance(secrets, (Sequence, Set, tuple, list))


def test_secrets_add_like_tuples() -> None:
    a, b = Secrets(["a1234567890"]), Secrets(["b1234567890"])
    assert isinstance(a + b, Secrets) and list(a + b) == ["a1234567890", "b1234567890"]
    assert list(a + ("c1234567890",)) == ["a1234567890", "c1234567890"]  # noqa: RUF005 - the operator is the point
    assert list(("c1234567890",) + a) == ["c1234567890", "a1234567890"]  # noqa: RUF005
    assert a == ("a1234567890",) and a == Secrets(["a1234567890"]) and hash(a) == hash(("a1234567890",))
    assert a != b and not Secrets()
    assert redact_text(f"x {SECRET} y", Secrets([SECRET])) == "x ZZq7…cdef y"


def test_remembered_secrets_are_bounded_and_newest_last() -> None:
    # Fresh values: the memory is process-wide, and a run that repeats the test (mutmut's
    # does) would otherwise find them remembered already.
    run = os.urandom(4).hex()
    values = [f"remembered-{i:04d}-{run}-0123456789" for i in range(100)]
    remember_secrets(values)
    known = list(known_secrets())
    # The bound is on values noted without an owner (the keys of live clients come on top).
    assert [v for v in known if v.startswith("remembered-")] == values[-64:] and known[-1] == values[-1]
    assert "remembered" not in repr(known_secrets())
    remember_secrets(["e", "abc1234"])  # too short to redact by value without mangling logs
    assert "e" not in list(known_secrets()) and "abc1234" not in list(known_secrets())


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x1b[2J", "\\x1b[2J"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
        ("\u2028\u202e", "\\u2028\\u202e"),
        ("plain é ü ✓", "plain é ü ✓"),
    ],
)
def test_control_characters_are_escaped(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_server_text_is_cut_at_the_limit() -> None:
    assert clean_server_text("short") == "short"
    cut = clean_server_text("A" * 5000)
    assert cut.startswith("A" * 2000) and "A" * 2001 not in cut and "cut at 2000 of 5000 characters" in cut
    escaped = clean_server_text("\n" * 1500)  # escaping doubles it: still cut at the limit
    assert escaped.count("\\n") == 1000 and "cut at 2000" in escaped


def test_secrets_refuse_what_is_not_a_sequence_of_strings() -> None:
    import copy
    import pickle

    a = Secrets(["a1234567890"])
    assert a.__add__({"b1234567890"}) is NotImplemented and a.__radd__("b1234567890") is NotImplemented
    assert a.__eq__(["a1234567890"]) is NotImplemented and a != ["a1234567890"]
    with pytest.raises(TypeError):
        a + {"b1234567890"}  # type: ignore[operator]
    assert a + () is a  # noqa: RUF005 - nothing to add: the same object
    assert list(a.__rich_repr__()) == ["<1 redacted>"]
    for clone in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        assert clone == a and redact_text("x a1234567890", clone) != "x a1234567890"


# --- the exact edges: what is shown of a key, and when a text is cut ------------------


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("12345678", "…"),  # 8 characters: nothing of it shown
        ("123456789", "1234…"),  # 9 to 12: the first 4 only
        ("123456789abc", "1234…"),
        ("123456789abcd", "1234…abcd"),  # 13 and more: the first 4 and the last 4
    ],
)
def test_key_lengths_at_each_edge(key: str, shown: str) -> None:
    assert redact_key(key) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # Each shape alone in its text: no other "_", "-" or "Bearer" to help it be noticed.
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer abcd…mnop"),
        ("key pk_live12345678 used", "key pk_l…5678 used"),
        ("key sk-proj12345678 used", "key sk-p…5678 used"),
        ("key nru_live12345678", "key nru_…5678"),
    ],
)
def test_each_secret_shape_is_redacted_on_its_own(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_server_text_exactly_at_the_limit_is_not_cut() -> None:
    assert clean_server_text("A" * 2000) == "A" * 2000
    assert clean_server_text("A" * 10, limit=10) == "A" * 10
    # Escaping makes it exactly the limit: still whole, with no "cut" note.
    assert clean_server_text("A" * 1998 + "\n") == "A" * 1998 + "\\n"
    assert clean_server_text("A" * 1999 + "\n") == "A" * 1999 + "\\… [cut at 2000 of 2000 characters]"


def test_a_huge_server_text_costs_only_the_limit_to_clean() -> None:
    import tracemalloc

    text = "\x1b" * 2_000_000  # a hostile error body: every character needs escaping
    tracemalloc.start()
    try:
        cleaned = clean_server_text(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cleaned.startswith("\\x1b" * 500) and cleaned.endswith("[cut at 2000 of 2000000 characters]")
    assert peak < 256 * 1024  # escaping all of it would build megabytes


def test_secrets_found_in_bytes_only_when_there() -> None:
    import pickle

    secrets = Secrets(["first-secret-123", "second-secret-456"])
    assert secrets.appear_in(b'{"echo": "second-secret-456"}')
    assert secrets.appear_in(b"first-secret-123")
    assert not secrets.appear_in(b'{"echo": "first-secret-12"}')
    assert not Secrets().appear_in(b"anything")
    clone = pickle.loads(pickle.dumps(secrets))  # a worker process's copy finds them too
    assert clone.appear_in(b"x second-secret-456 y") and not clone.appear_in(b"x y")


def test_remembering_more_keeps_what_was_remembered_before() -> None:
    first, second = os.urandom(4).hex(), os.urandom(4).hex()  # 8 characters: just long enough
    remember_secrets([first])
    remember_secrets([second])
    known = list(known_secrets())
    assert known[-2:] == [first, second]
    assert redact_text(f"id {first}", known_secrets()) == "id …"


def test_a_sealed_value_shows_nothing_of_itself_and_does_not_pickle() -> None:
    import pickle

    from neureus._redact import Sealed

    sealed = Sealed(SECRET)
    assert sealed.value == SECRET
    assert repr(sealed) == str(sealed) == "Sealed(<redacted>)"
    assert list(sealed.__rich_repr__()) == ["<redacted>"]
    with pytest.raises(TypeError, match=r"^a sealed secret is not pickled$"):
        pickle.dumps(sealed)
