from __future__ import annotations

import pytest

from neureus import ChatMessage, InvalidRequestError, WidgetKeyScopeError
from neureus._validation import (
    check_embeddings_input,
    check_max_tokens,
    check_provider,
    check_secret_value,
    check_temperature,
    check_widget_scope,
    messages_to_wire,
)


def test_dicts_and_models_become_plain_dicts() -> None:
    wire = messages_to_wire([{"role": "user", "content": "a", "name": "x"}, ChatMessage(role="assistant", content="b")])
    assert wire == [{"role": "user", "content": "a", "name": "x"}, {"role": "assistant", "content": "b"}]


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "empty"),
        ("hello", "list of messages"),
        ({"role": "user"}, "list of messages"),
        (None, "list of messages"),
        ([{"content": "x"}], r"messages\[0\] has no 'role'"),
        ([{"role": "user", "content": "ok"}, {"role": "user"}], r"messages\[1\] has no 'content'"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\] has role 'robot'"),
        ([{"role": "user", "content": ["a"]}], r"messages\[0\] content is list"),
        ([{"role": "user", "content": None}], "not a string"),
        ([42], r"messages\[0\] is int"),
    ],
)
def test_bad_messages_say_which_and_why(messages: object, needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle) as info:
        messages_to_wire(messages)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [None, 0, 0.7, 2, 2.0])
def test_temperature_in_range(value: float | None) -> None:
    check_temperature(value)


@pytest.mark.parametrize("value", [-0.1, 2.01, float("nan"), "1", True])
def test_temperature_out_of_range(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="temperature"):
        check_temperature(value)  # type: ignore[arg-type]


def test_max_tokens() -> None:
    check_max_tokens(None)
    check_max_tokens(1)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InvalidRequestError, match="max_tokens"):
            check_max_tokens(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["openai", "anthropic", "my-provider_2", "0x"])
def test_good_provider_names(name: str) -> None:
    assert check_provider(name) == name


@pytest.mark.parametrize("name", ["", "../widget", "OpenAI/x", "openai/", "a b", "%2e%2e", "-x", "x" * 65, None, 3])
def test_bad_provider_names(name: object) -> None:
    with pytest.raises(InvalidRequestError, match="provider"):
        check_provider(name)


def test_secret_values() -> None:
    assert check_secret_value("sk-abc", "key") == "sk-abc"
    for bad in ("", "  ", None, " sk-abc", "sk-abc\n"):
        with pytest.raises(InvalidRequestError, match="key"):
            check_secret_value(bad, "key")


def test_embeddings_input() -> None:
    assert check_embeddings_input("a") == "a"
    assert check_embeddings_input(("a", "b")) == ["a", "b"]
    for bad, needle in (("", "empty string"), ([], "empty list"), (["a", 1], r"input\[1\] is int"), (b"x", "string")):
        with pytest.raises(InvalidRequestError, match=needle):
            check_embeddings_input(bad)


def test_widget_scope() -> None:
    check_widget_scope(False, "embeddings")
    with pytest.raises(WidgetKeyScopeError, match=r"embeddings\(\) is not allowed with a widget key"):
        check_widget_scope(True, "embeddings")
