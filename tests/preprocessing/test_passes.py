"""The four passes, one rule at a time, plus properties checked by hypothesis."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import itertools
import re
from collections import Counter
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import neureus.preprocessing as pp
from neureus import _exceptions
from neureus.preprocessing import compress, normalize, structure, trim
from neureus.preprocessing._passes import normalize_text
from neureus.types import ChatMessage, MessageParam

from .strategies import conversation, messy_text

InvalidRequestError = _exceptions.InvalidRequestError


def m(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def contents(messages: list[Any]) -> list[str]:
    return [x["content"] if isinstance(x, dict) else x.content for x in messages]


def roles(messages: list[Any]) -> list[str]:
    return [x["role"] if isinstance(x, dict) else x.role for x in messages]


def _upper(text: str) -> str:
    return text.upper()


# Every pass with arguments that make it do real work on the SAMPLE conversation below.
PASSES = {
    "normalize": lambda ms: normalize(ms),
    "structure": lambda ms: structure(ms, system_prompt="Prompt"),
    "trim": lambda ms: trim(ms, max_context_tokens=1, keep_turns=1),
    "compress": lambda ms: compress(ms, _upper),
}
SAMPLE = [
    m("user", "  first\r\n\r\n\r\nquestion  ", id=1, meta={"tags": ["a"]}),
    m("system", " Be brief. ", id=2),
    m("assistant", "an answer", id=3),
    m("user", "second\n \n\t\nquestion", id=4),
]


# ---- normalize -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hello  ", "hello"),
        ("\n\t hello \n", "hello"),
        ("a\r\nb", "a\nb"),
        ("a\rb", "a\nb"),  # a lone CR (old Mac line end) is a line break too
        ("a\r\n\rb", "a\n\nb"),
        ("a\r\n\r\n\r\n\r\nb", "a\n\nb"),  # CRLF blank run
        ("a\n\nb", "a\n\nb"),  # one blank line stays one
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("a\n \n\t\n\nb", "a\n\nb"),  # whitespace-only lines inside a run
        ("a\n   \nb", "a\n\nb"),  # a single whitespace-only line becomes an empty one
        ("a\n\u00a0\x0b\nb", "a\n\nb"),  # Unicode whitespace counts as blank
        ("a\nb", "a\nb"),  # single line breaks are kept
        ("a  \n\n\n  b", "a  \n\n  b"),  # text lines keep their own spaces
        ("def f():\n\n\n    return 1", "def f():\n\n    return 1"),  # indentation kept
        ("  \r\n \n\t ", ""),  # all blank
        ("", ""),
    ],
)
def test_normalize_rules(raw: str, expected: str) -> None:
    assert normalize([m("user", raw)]) == [m("user", expected)]
    assert normalize_text(raw) == expected


def test_normalize_never_drops_a_message() -> None:
    given_messages = [m("user", "   "), m("assistant", ""), m("system", "\r\n\r\n"), m("user", "x")]
    out = normalize(given_messages)
    assert roles(out) == ["user", "assistant", "system", "user"]
    assert contents(out) == ["", "", "", "x"]


def test_normalize_normalizes_system_messages_too() -> None:
    assert normalize([m("system", "  rules\r\n\r\n\r\nhere ")]) == [m("system", "rules\n\nhere")]


@given(messy_text)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@given(messy_text)
def test_normalize_output_shape(text: str) -> None:
    out = normalize_text(text)
    assert out == out.strip()
    assert "\r" not in out
    lines = out.split("\n")
    # No two blank lines in a row, and every blank line is empty.
    for line, following in itertools.pairwise(lines):
        assert not (line.strip() == "" and following.strip() == "")
    assert all(line == "" or line.strip() for line in lines)
    # Only whitespace is touched: the visible characters are the same, in the same order.
    assert re.sub(r"\s", "", out) == re.sub(r"\s", "", text)


# ---- structure -------------------------------------------------------------------------


def test_structure_moves_system_messages_to_the_front_in_order() -> None:
    given_messages = [m("user", "u1"), m("system", "s1"), m("assistant", "a1"), m("system", "s2"), m("user", "u2")]
    assert contents(structure(given_messages)) == ["s1", "s2", "u1", "a1", "u2"]


def test_structure_without_system_messages_keeps_the_order() -> None:
    given_messages = [m("user", "u1"), m("assistant", "a1"), m("user", "u2")]
    assert structure(given_messages) == given_messages


def test_structure_with_only_system_messages_keeps_the_order() -> None:
    given_messages = [m("system", "s1"), m("system", "s2")]
    assert structure(given_messages) == given_messages


def test_system_prompt_without_system_messages_comes_first() -> None:
    out = structure([m("user", "u1"), m("assistant", "a1")], system_prompt="P")
    assert out == [m("system", "P"), m("user", "u1"), m("assistant", "a1")]


def test_system_prompt_goes_before_existing_system_messages() -> None:
    out = structure([m("user", "u1"), m("system", "s1")], system_prompt="P")
    assert out == [m("system", "P"), m("system", "s1"), m("user", "u1")]


def test_system_prompt_is_prepended_even_when_the_first_system_message_says_the_same() -> None:
    # The gateway's rule ("prepended as system message") has no exception for a repeat.
    out = structure([m("user", "u1"), m("system", "P")], system_prompt="P")
    assert out == [m("system", "P"), m("system", "P"), m("user", "u1")]


def test_system_prompt_equal_to_a_later_system_message_is_still_added() -> None:
    out = structure([m("system", "s1"), m("system", "P")], system_prompt="P")
    assert contents(out) == ["P", "s1", "P"]


@pytest.mark.parametrize("prompt", [None, ""])
def test_no_or_empty_system_prompt_adds_nothing(prompt: str | None) -> None:
    assert structure([m("user", "u1")], system_prompt=prompt) == [m("user", "u1")]


def test_system_prompt_is_not_normalized_by_structure_alone() -> None:
    assert structure([], system_prompt="  P  ") == [m("system", "  P  ")]


def test_system_prompt_takes_the_kind_of_the_first_message() -> None:
    out = structure([ChatMessage(role="user", content="u")], system_prompt="P")
    assert out == [ChatMessage(role="system", content="P"), ChatMessage(role="user", content="u")]
    assert type(out[0]) is ChatMessage
    assert type(structure([], system_prompt="P")[0]) is dict


@pytest.mark.parametrize("prompt", [1, b"P", ["P"]])
def test_system_prompt_must_be_a_string(prompt: object) -> None:
    with pytest.raises(InvalidRequestError, match="system_prompt must be a string"):
        structure([m("user", "u")], system_prompt=prompt)  # type: ignore[arg-type]


@given(conversation)
def test_structure_keeps_every_message_and_each_groups_order(given_messages: list[dict[str, Any]]) -> None:
    out = structure(given_messages)
    key = [repr(sorted(x.items())) for x in given_messages]
    assert Counter(repr(sorted(x.items())) for x in out) == Counter(key)
    n_system = sum(x["role"] == "system" for x in given_messages)
    assert all(x["role"] == "system" for x in out[:n_system])
    assert all(x["role"] != "system" for x in out[n_system:])
    assert out[:n_system] == [x for x in given_messages if x["role"] == "system"]
    assert out[n_system:] == [x for x in given_messages if x["role"] != "system"]


@given(conversation, st.text(min_size=1, max_size=10))
def test_structure_puts_a_system_prompt_first(given_messages: list[dict[str, Any]], prompt: str) -> None:
    out = structure(given_messages, system_prompt=prompt)
    assert (out[0]["role"], out[0]["content"]) == ("system", prompt)
    assert len(out) == len(given_messages) + 1
    assert out[1:] == structure(given_messages)
    # Not idempotent, as the gateway is not: a second run prepends it once more.
    assert structure(out, system_prompt=prompt) == [out[0], *out]


# ---- trim ------------------------------------------------------------------------------

# "xxxx" is exactly one estimated token.
TEN = [m("user" if n % 2 == 0 else "assistant", "xxxx", n=n) for n in range(10)]


def test_trim_at_the_limit_changes_nothing() -> None:
    assert trim(TEN, max_context_tokens=10) == TEN


def test_trim_one_over_the_limit_keeps_the_last_turns() -> None:
    out = trim(TEN, max_context_tokens=9)
    assert [x["n"] for x in out] == [6, 7, 8, 9]


def test_trim_under_the_limit_changes_nothing() -> None:
    assert trim(TEN, max_context_tokens=6000, keep_turns=1) == TEN


def test_trim_keeps_every_system_message_where_it_is() -> None:
    given_messages = [m("system", "s1"), *TEN[:5], m("system", "s2"), *TEN[5:]]
    out = trim(given_messages, max_context_tokens=0, keep_turns=2)
    assert contents(out) == ["s1", "s2", "xxxx", "xxxx"]
    assert [x.get("n") for x in out] == [None, None, 8, 9]

    mixed = [*TEN[:8], m("system", "late"), *TEN[8:]]
    assert [x.get("n", "S") for x in trim(mixed, max_context_tokens=0, keep_turns=3)] == [7, "S", 8, 9]


def test_trim_with_fewer_messages_than_keep_turns_changes_nothing() -> None:
    given_messages = [m("system", "s" * 400), m("user", "u" * 400), m("assistant", "a" * 400)]
    assert trim(given_messages, max_context_tokens=10, keep_turns=4) == given_messages
    assert trim(given_messages, max_context_tokens=10, keep_turns=2) == given_messages


def test_trim_with_keep_turns_zero_keeps_only_system_messages() -> None:
    given_messages = [m("user", "u" * 40), m("system", "s"), m("assistant", "a" * 40)]
    assert trim(given_messages, max_context_tokens=5, keep_turns=0) == [m("system", "s")]


def test_trim_with_only_system_messages_changes_nothing() -> None:
    given_messages = [m("system", "s" * 400), m("system", "t" * 400)]
    assert trim(given_messages, max_context_tokens=1, keep_turns=0) == given_messages


def test_trim_can_leave_a_conversation_over_the_limit() -> None:
    given_messages = [m("user", "u" * 400), m("user", "v" * 400)]
    assert trim(given_messages, max_context_tokens=10, keep_turns=1) == [m("user", "v" * 400)]


def test_trim_uses_count_tokens() -> None:
    seen: list[str] = []

    def hundred(text: str) -> int:
        seen.append(text)
        return 100

    given_messages = [m("user", "a"), m("assistant", "b"), m("user", "c")]
    assert contents(trim(given_messages, max_context_tokens=250, keep_turns=1, count_tokens=hundred)) == ["c"]
    assert seen == ["a", "b", "c"]
    assert trim(TEN, max_context_tokens=0, keep_turns=1, count_tokens=lambda text: 0) == TEN


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None, True])
@pytest.mark.parametrize("name", ["max_context_tokens", "keep_turns"])
def test_trim_refuses_bad_numbers(name: str, bad: object) -> None:
    with pytest.raises(InvalidRequestError, match=f"{name} must be a whole number >= 0"):
        trim(TEN, **{name: bad})  # type: ignore[arg-type]


def test_trim_refuses_a_counter_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match="count_tokens must be a callable"):
        trim(TEN, count_tokens=4)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, -1, "3", None, True])
def test_trim_refuses_a_counter_that_returns_a_bad_count(bad: object) -> None:
    with pytest.raises(TypeError, match=r"count_tokens must return a whole number >= 0.*'xxxx'"):
        trim(TEN, count_tokens=lambda text: bad)  # type: ignore[arg-type,return-value]


@given(conversation, st.integers(0, 60), st.integers(0, 6))
def test_trim_properties(given_messages: list[dict[str, Any]], limit: int, keep: int) -> None:
    out = trim(given_messages, max_context_tokens=limit, keep_turns=keep)
    systems = [x for x in given_messages if x["role"] == "system"]
    assert [x for x in out if x["role"] == "system"] == systems  # never drops a system message
    total = sum(pp.estimate_tokens(x["content"]) for x in given_messages)
    if total <= limit:
        assert out == given_messages  # a conversation within the limit is untouched
    else:
        others = [x for x in given_messages if x["role"] != "system"]
        assert [x for x in out if x["role"] != "system"] == others[max(len(others) - keep, 0) :]
    # The result is a subsequence of the input (relative order preserved).
    remaining = iter(given_messages)
    assert all(any(x == y for y in remaining) for x in out)


# ---- compress --------------------------------------------------------------------------


def test_compress_applies_to_each_non_system_message() -> None:
    seen: list[str] = []

    def shorten(text: str) -> str:
        seen.append(text)
        return text[:3]

    given_messages = [m("system", "system rules"), m("user", "hello there"), m("assistant", "general kenobi")]
    out = compress(given_messages, shorten)
    assert out == [m("system", "system rules"), m("user", "hel"), m("assistant", "gen")]
    assert seen == ["hello there", "general kenobi"]


def test_compress_skips_empty_contents_and_keeps_the_result_as_returned() -> None:
    seen: list[str] = []

    def pad(text: str) -> str:
        seen.append(text)
        return f"  {text}  "

    out = compress([m("user", ""), m("user", "x")], pad)
    assert contents(out) == ["", "  x  "]
    assert seen == ["x"]


def test_compress_refuses_an_async_compressor() -> None:
    async def shorten(text: str) -> str:
        return text

    with pytest.raises(TypeError, match="apreprocess"):
        compress([m("user", "x")], shorten)  # type: ignore[arg-type]


def test_compress_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="compressor must be a callable"):
        compress([m("user", "x")], "shorter")  # type: ignore[arg-type]


def test_compress_names_the_message_whose_result_is_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"returned NoneType for messages\[2\]"):
        compress([m("user", "a"), m("system", "s"), m("user", "b")], lambda text: None if text == "b" else text)  # type: ignore[arg-type,return-value]


def test_a_compressor_error_propagates() -> None:
    def broken(text: str) -> str:
        raise RuntimeError("model down")

    with pytest.raises(RuntimeError, match="model down"):
        compress([m("user", "a")], broken)


# ---- every pass: kinds of messages, copies, validation ---------------------------------


@pytest.mark.parametrize("name", list(PASSES))
def test_pass_keeps_extra_keys_of_dicts(name: str) -> None:
    out = PASSES[name](SAMPLE)
    assert all(type(x) is dict for x in out)
    by_id = {x["id"]: x for x in out if "id" in x}
    assert by_id, "the pass must keep some of the sample messages"
    for original in SAMPLE:
        if original["id"] in by_id:
            assert set(by_id[original["id"]]) == set(original)
    if 1 in by_id:
        assert by_id[1]["meta"] == {"tags": ["a"]}


@pytest.mark.parametrize("name", list(PASSES))
def test_pass_never_mutates_its_input(name: str) -> None:
    given_messages = copy.deepcopy(SAMPLE)
    as_objects = [ChatMessage(**x) for x in SAMPLE]
    objects_before = copy.deepcopy(as_objects)
    before = copy.deepcopy(given_messages)
    out = PASSES[name](given_messages)
    out_objects = PASSES[name](as_objects)
    assert given_messages == before
    assert as_objects == objects_before
    assert all(x is not y for x in out for y in given_messages)
    assert all(x is not y for x in out_objects for y in as_objects)
    assert out is not given_messages
    for x in out:  # the caller may change the result without touching the input
        x["content"] = "changed"
    assert given_messages == before


@pytest.mark.parametrize("name", list(PASSES))
def test_pass_returns_chat_messages_for_chat_messages(name: str) -> None:
    given_messages = [ChatMessage(**x) for x in SAMPLE]
    out = PASSES[name](given_messages)
    as_dicts = PASSES[name](SAMPLE)
    assert all(type(x) is ChatMessage for x in out)
    assert [x.model_dump() for x in out] == as_dicts  # same work, same extras
    assert [x.model_extra for x in out if x.model_extra] != []


@pytest.mark.parametrize("name", list(PASSES))
def test_pass_of_an_empty_conversation_is_empty(name: str) -> None:
    expected = [m("system", "Prompt")] if name == "structure" else []
    assert PASSES[name]([]) == expected


def test_a_mixed_list_keeps_each_messages_kind() -> None:
    given_messages: list[MessageParam] = [m("user", " a "), ChatMessage(role="assistant", content=" b ")]
    out = normalize(given_messages)
    assert out == [m("user", "a"), ChatMessage(role="assistant", content="b")]


def test_any_mapping_comes_back_as_a_dict() -> None:
    out: list[Any] = normalize([MappingProxyType({"role": "user", "content": " a ", "x": 1})])
    assert out == [{"role": "user", "content": "a", "x": 1}]
    assert type(out[0]) is dict


@dataclasses.dataclass(frozen=True)
class FrozenMessage:
    role: str
    content: str


class PlainMessage:
    def __init__(self, role: str, content: str) -> None:
        self.role = role
        self.content = content


def test_dataclass_and_plain_object_messages_are_copied() -> None:
    frozen = FrozenMessage("user", " a ")
    plain = PlainMessage("user", " b ")
    out = normalize([frozen, plain])  # type: ignore[type-var]
    assert out[0] == FrozenMessage("user", "a")
    assert type(out[1]) is PlainMessage
    assert out[1].content == "b"
    assert plain.content == " b "


class Subscriptable:
    """Answers ``x["role"]`` but is neither a mapping nor an object with attributes."""

    def __getitem__(self, key: str) -> str:
        return {"role": "user", "content": "x"}[key]


@pytest.mark.parametrize("name", list(PASSES))
def test_only_mappings_and_message_objects_are_messages(name: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[1\] is Subscriptable; pass a dict"):
        PASSES[name]([m("user", "ok"), Subscriptable()])


def test_passes_accept_any_iterable_and_return_a_list() -> None:
    assert normalize(m("user", f" {n} ") for n in range(3)) == [m("user", str(n)) for n in range(3)]
    assert normalize((m("user", "x"),)) == [m("user", "x")]


@pytest.mark.parametrize("name", list(PASSES))
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"content": "x"}, "has no 'role'"),
        ({"role": "user"}, "has no 'content'"),
        ({"role": "user", "content": 3}, "content is int, not a string"),
        ({"role": "user", "content": None}, "content is NoneType, not a string"),
        ({"role": "bot", "content": "x"}, "has role 'bot'"),
        ({"role": ["user"], "content": "x"}, "has role ['user']"),
        ({"role": None, "content": "x"}, "has role None"),
        (42, "is int; pass a dict"),
    ],
)
def test_bad_messages_are_refused_naming_the_index(name: str, bad: object, why: str) -> None:
    given_messages = [m("user", "ok"), m("assistant", "ok"), bad]
    with pytest.raises(InvalidRequestError, match=re.escape(f"messages[2] {why}")):
        PASSES[name](given_messages)


@pytest.mark.parametrize("name", list(PASSES))
@pytest.mark.parametrize("bad", ["hello", {"role": "user", "content": "x"}, None, 3])
def test_messages_must_be_a_list(name: str, bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="messages must be a list of messages"):
        PASSES[name](bad)


@pytest.mark.parametrize("name", ["compress", "normalize", "structure", "trim"])
def test_docstring_examples(name: str) -> None:
    finder = doctest.DocTestFinder()
    (test,) = finder.find(getattr(pp, name), name, module=False, globs=dict(vars(pp)))
    assert test.examples, f"{name} should show an example"
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0


# ---- what the refusals say, and when they come ----------------------------------------


def test_refusals_name_the_type_they_were_given() -> None:
    with pytest.raises(TypeError, match=r"^count_tokens must be a callable that takes a text .*; got int\.$"):
        trim(TEN, count_tokens=4)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"system_prompt must be a string or None; got bytes\.$"):
        structure([m("user", "u")], system_prompt=b"P")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"; got str\.$"):
        normalize("hello")  # type: ignore[type-var]


async def _async_shorten(text: str) -> str:
    return text


@pytest.mark.parametrize(
    "given_messages",
    [[m("system", "only system messages: nothing to compress")], [m("user", "")], "not even messages"],
    ids=["system-only", "empty-content", "not-a-list"],
)
def test_an_async_compressor_is_refused_before_any_work(given_messages: Any) -> None:
    with pytest.raises(TypeError, match=r"^compress\(\) got an async compressor; .*apreprocess"):
        compress(given_messages, _async_shorten)  # type: ignore[arg-type]


def test_a_compressor_that_returns_an_awaitable_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^compress\(\) got an async compressor; .*apreprocess"):
        compress([m("user", "x")], lambda text: _async_shorten(text))  # type: ignore[arg-type,return-value]


def test_a_result_that_is_not_a_string_is_explained() -> None:
    with pytest.raises(TypeError) as caught:
        compress([m("user", "a"), m("user", "b")], lambda text: 3 if text == "b" else text)  # type: ignore[arg-type,return-value]
    assert str(caught.value) == (
        "the compressor returned int for messages[1]; it must return the compressed text as a str."
    )


def test_roles_of_dicts_mixed_with_message_objects_are_read() -> None:
    # A list that is not all dicts takes the per-message path: its dicts' roles still count.
    given_messages: list[MessageParam] = [ChatMessage(role="user", content="u"), m("system", "s"), m("user", "v")]
    assert roles(structure(given_messages)) == ["system", "user", "user"]
    assert contents(trim(given_messages, max_context_tokens=0, keep_turns=1)) == ["s", "v"]
    assert contents(compress(given_messages, _upper)) == ["U", "s", "V"]
