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
    assert len(known) == 64 and known[-1] == values[-1] and values[0] not in known
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
