"""The default token estimate and the per-message counting helper."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import neureus.preprocessing as pp
from neureus.preprocessing import estimate_tokens
from neureus.preprocessing._tokens import count_each


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000), ("x" * 4001, 1001), ("日本語", 1)],
)
def test_estimate_tokens_is_a_quarter_of_the_length_rounded_up(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


@given(st.text(max_size=300))
def test_estimate_tokens_matches_ceil_of_len_over_4(text: str) -> None:
    assert estimate_tokens(text) == math.ceil(len(text) / 4)


def test_estimate_tokens_is_exact_for_huge_lengths() -> None:
    # A float division would round here; the integer ceiling stays exact.
    class Huge(str):
        def __len__(self) -> int:
            return 4 * 10**17 + 1

    assert estimate_tokens(Huge("x")) == 10**17 + 1


@pytest.mark.parametrize("bad", [None, b"bytes", ["a", "b"], 12])
def test_estimate_tokens_takes_only_text(bad: object) -> None:
    with pytest.raises(TypeError, match="estimate_tokens\\(\\) takes a str"):
        estimate_tokens(bad)  # type: ignore[arg-type]


@given(st.lists(st.text(max_size=50), max_size=20))
def test_count_each_defaults_to_estimate_tokens(texts: list[str]) -> None:
    assert count_each(texts, None) == [estimate_tokens(text) for text in texts]


def test_count_each_uses_the_given_counter() -> None:
    assert count_each(["a b c", "d"], lambda text: len(text.split())) == [3, 1]


@pytest.mark.parametrize("bad", [1.5, -2, "3", None, False])
def test_count_each_refuses_a_bad_count(bad: object) -> None:
    with pytest.raises(TypeError, match="count_tokens must return a whole number >= 0"):
        count_each(["text"], lambda text: bad)  # type: ignore[arg-type,return-value]


def test_count_each_names_a_long_text_briefly() -> None:
    with pytest.raises(TypeError, match=r"for 'x{37}'\.\.\.\.$"):
        count_each(["x" * 100], lambda text: -1)


def test_docstring_examples() -> None:
    (test,) = doctest.DocTestFinder().find(estimate_tokens, "estimate_tokens", module=False, globs=dict(vars(pp)))
    assert len(test.examples) == 3
    assert doctest.DocTestRunner().run(test).failed == 0
