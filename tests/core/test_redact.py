from __future__ import annotations

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
