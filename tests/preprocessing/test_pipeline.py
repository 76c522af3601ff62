"""The whole pipeline: order of passes, stats, compression (sync and async), the result."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import functools
import gc
import html
import inspect
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neureus.preprocessing as pp
from neureus import _exceptions
from neureus.preprocessing import (
    PreprocessResult,
    PreprocessStats,
    apreprocess,
    estimate_tokens,
    normalize,
    preprocess,
    structure,
    trim,
)
from neureus.preprocessing._passes import normalize_text
from neureus.types import ChatMessage, MessageParam

from .strategies import conversation

InvalidRequestError = _exceptions.InvalidRequestError


def m(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def contents(messages: list[Any]) -> list[str]:
    return [x["content"] if isinstance(x, dict) else x.content for x in messages]


# A long, messy history: CRLF, blank runs, a system message in the middle, ~8,000 tokens.
HISTORY = [
    m("user", "  Hello!\r\n\r\n\r\nI need help with my order.  ", id="u0"),
    *[m("assistant" if n % 2 else "user", f"turn {n} " + "x" * 2000, id=f"t{n}") for n in range(1, 17)],
    m("system", "\tYou are a support agent.\n \n\n Be brief.  ", id="s"),
    m("user", "Where is it?\n\n\n\nThanks ", id="last"),
]


# ---- the passes, in order ---------------------------------------------------------------


def test_preprocess_runs_normalize_structure_trim() -> None:
    result = preprocess(HISTORY)
    assert contents(result.messages) == [
        "You are a support agent.\n\n Be brief.",
        "turn 14 " + "x" * 2000,
        "turn 15 " + "x" * 2000,
        "turn 16 " + "x" * 2000,
        "Where is it?\n\nThanks",
    ]
    assert [x["id"] for x in result.messages] == ["s", "t14", "t15", "t16", "last"]


def test_preprocess_matches_the_passes_composed() -> None:
    expected = trim(structure(normalize(HISTORY), system_prompt="P"), max_context_tokens=3000, keep_turns=2)
    assert preprocess(HISTORY, system_prompt="P", max_context_tokens=3000, keep_turns=2).messages == expected


@given(conversation, st.integers(0, 60), st.integers(0, 5), st.one_of(st.none(), st.text(max_size=8)))
def test_preprocess_is_the_passes_composed(
    given_messages: list[dict[str, Any]], limit: int, keep: int, prompt: str | None
) -> None:
    result = preprocess(given_messages, system_prompt=prompt, max_context_tokens=limit, keep_turns=keep)
    prompt_text = None if prompt is None else normalize_text(prompt)
    expected = trim(
        structure(normalize(given_messages), system_prompt=prompt_text), max_context_tokens=limit, keep_turns=keep
    )
    assert result.messages == expected


@given(conversation, st.integers(0, 60), st.integers(0, 5))
def test_preprocess_without_a_system_prompt_is_idempotent(
    given_messages: list[dict[str, Any]], limit: int, keep: int
) -> None:
    options: dict[str, Any] = {"max_context_tokens": limit, "keep_turns": keep}
    once = preprocess(given_messages, **options).messages
    assert preprocess(once, **options).messages == once


def test_system_prompt_is_normalized_and_prepended_on_every_run_as_the_gateway_does() -> None:
    once = preprocess([m("user", "hi")], system_prompt="  Be brief.\r\n\r\n\r\nAlways.  ")
    assert once.messages == [m("system", "Be brief.\n\nAlways."), m("user", "hi")]
    twice = preprocess(once.messages, system_prompt="  Be brief.\r\n\r\n\r\nAlways.  ")
    assert twice.messages == [m("system", "Be brief.\n\nAlways."), *once.messages]
    assert (twice.stats.original_messages, twice.stats.final_messages) == (2, 3)


def test_whitespace_only_system_prompt_adds_nothing() -> None:
    assert preprocess([m("user", "hi")], system_prompt=" \r\n ").messages == [m("user", "hi")]


def test_preprocess_never_mutates_its_input() -> None:
    given_messages = copy.deepcopy(HISTORY)
    preprocess(given_messages, system_prompt="P", compress=True, compressor=str.upper)
    assert given_messages == HISTORY


def test_preprocess_keeps_chat_messages_as_chat_messages() -> None:
    given_messages = [ChatMessage(role="user", content=" hi ", tag=1), ChatMessage(role="system", content="S")]
    result = preprocess(given_messages, system_prompt="P")
    assert result.messages == [
        ChatMessage(role="system", content="P"),
        ChatMessage(role="system", content="S"),
        ChatMessage(role="user", content="hi", tag=1),
    ]
    assert all(type(x) is ChatMessage for x in result.messages)


def test_preprocess_of_an_empty_conversation() -> None:
    result = preprocess(list[dict[str, Any]]())
    assert result.messages == []
    assert result.stats.model_dump() == {
        "original_tokens": 0,
        "final_tokens": 0,
        "original_messages": 0,
        "final_messages": 0,
        "trimmed": False,
        "compressed": False,
        "passes": ["normalize", "structure", "trim"],
    }


# ---- stats -------------------------------------------------------------------------------


def test_stats_of_a_trimmed_conversation() -> None:
    stats = preprocess(HISTORY).stats
    assert stats.original_messages == 19
    assert stats.final_messages == 5
    assert stats.original_tokens == sum(estimate_tokens(x["content"]) for x in HISTORY)
    kept = preprocess(HISTORY).messages
    assert stats.final_tokens == sum(estimate_tokens(x["content"]) for x in kept)
    assert stats.trimmed is True
    assert stats.compressed is False
    assert stats.passes == ["normalize", "structure", "trim"]


def test_original_tokens_are_counted_before_normalize() -> None:
    stats = preprocess([m("user", " " * 40 + "abcd")]).stats
    assert (stats.original_tokens, stats.final_tokens) == (11, 1)


def test_trimmed_is_false_when_over_the_limit_but_nothing_is_dropped() -> None:
    stats = preprocess([m("user", "x" * 400)], max_context_tokens=10).stats
    assert stats.final_tokens > 10
    assert stats.trimmed is False
    # Exactly keep_turns turns (none to drop), and none at all with keep_turns=0.
    two_turns = [m("system", "s"), m("user", "x" * 400), m("assistant", "y" * 400)]
    assert preprocess(two_turns, max_context_tokens=10, keep_turns=2).stats.trimmed is False
    assert preprocess([m("system", "s" * 400)], max_context_tokens=10, keep_turns=0).stats.trimmed is False


def test_stats_count_an_added_system_prompt() -> None:
    stats = preprocess([m("user", "abcd")], system_prompt="abcdefgh").stats
    assert (stats.original_messages, stats.final_messages) == (1, 2)
    assert (stats.original_tokens, stats.final_tokens) == (1, 3)


def test_count_tokens_is_used_for_trim_and_stats() -> None:
    calls: list[str] = []

    def words(text: str) -> int:
        calls.append(text)
        return len(text.split())

    given_messages = [m("user", "one two three"), m("assistant", "four five"), m("user", " six ")]
    result = preprocess(given_messages, max_context_tokens=5, keep_turns=2, count_tokens=words)
    assert contents(result.messages) == ["four five", "six"]
    assert (result.stats.original_tokens, result.stats.final_tokens) == (6, 3)
    assert " six " in calls and "six" in calls  # counted before and after normalize
    assert preprocess(given_messages, max_context_tokens=6, count_tokens=words).stats.trimmed is False


@given(conversation)
def test_count_tokens_hook_decides_the_stats(given_messages: list[dict[str, Any]]) -> None:
    def chars(text: str) -> int:
        return len(text)

    stats = preprocess(given_messages, count_tokens=chars).stats
    assert stats.original_tokens == sum(len(x["content"]) for x in given_messages)
    result = preprocess(given_messages, count_tokens=chars)
    assert stats.final_tokens == sum(len(x["content"]) for x in result.messages)


def test_stats_read_well() -> None:
    stats = preprocess(HISTORY).stats
    assert str(stats) == (
        f"19 → 5 messages, {stats.original_tokens:,} → {stats.final_tokens:,} tokens (trimmed); "
        "passes: normalize, structure, trim"
    )
    assert repr(stats).startswith("PreprocessStats(original_tokens=")
    assert "passes=['normalize', 'structure', 'trim']" in repr(stats)
    assert "1 → 1 message, 1 → 1 token;" in str(preprocess([m("user", "a")]).stats)


def test_stats_keep_unknown_fields_and_read_camel_case() -> None:
    stats = PreprocessStats.model_validate(
        {
            "originalTokens": 3,
            "finalTokens": 2,
            "originalMessages": 1,
            "finalMessages": 1,
            "trimmed": False,
            "compressed": True,
            "passes": ["normalize", "structure", "trim", "compress"],
            "compressionRatio": 0.66,
        }
    )
    assert stats.original_tokens == 3
    assert stats.model_extra == {"compressionRatio": 0.66}
    assert "(compressed)" in str(stats)


# ---- argument checks ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_context_tokens", "keep_turns"])
@pytest.mark.parametrize("bad", [-1, 2.0, "4", None, False])
def test_preprocess_refuses_bad_numbers(name: str, bad: object) -> None:
    with pytest.raises(InvalidRequestError, match=f"{name} must be a whole number >= 0"):
        options: dict[str, Any] = {name: bad}
        preprocess([m("user", "x")], **options)


def test_preprocess_names_the_bad_message() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[1\] has role 'bot'"):
        preprocess([m("user", "x"), m("bot", "y")])
    with pytest.raises(InvalidRequestError, match=r"messages\[0\] content is list"):
        preprocess([m("user", ["x"])])  # type: ignore[arg-type]


def test_preprocess_refuses_a_bad_system_prompt_or_counter() -> None:
    with pytest.raises(InvalidRequestError, match="system_prompt must be a string"):
        preprocess([m("user", "x")], system_prompt=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="count_tokens must be a callable"):
        preprocess([m("user", "x")], count_tokens="tiktoken")  # type: ignore[arg-type]


# ---- compression (sync) -------------------------------------------------------------------


def test_compress_without_a_compressor_says_what_to_do() -> None:
    with pytest.raises(InvalidRequestError) as info:
        preprocess([m("user", "x")], compress=True)
    assert "compressor=" in str(info.value)
    assert "client.ai.preprocess(messages, compress=True)" in str(info.value)


def test_a_compressor_without_compress_is_not_used() -> None:
    def fail(text: str) -> str:
        raise AssertionError("must not be called")

    result = preprocess([m("user", "x")], compressor=fail)
    assert "compress" not in result.stats.passes
    assert result.stats.compressed is False


def test_sync_compressor_runs_after_trim_on_non_system_messages_only() -> None:
    seen: list[str] = []

    def first_word(text: str) -> str:
        seen.append(text)
        return text.split()[0]

    result = preprocess(HISTORY, compress=True, compressor=first_word)
    assert contents(result.messages) == [
        "You are a support agent.\n\n Be brief.",
        "turn",
        "turn",
        "turn",
        "Where",
    ]
    # Only the kept messages, already normalized, and never the system message.
    assert seen == [*["turn " + str(n) + " " + "x" * 2000 for n in (14, 15, 16)], "Where is it?\n\nThanks"]
    assert result.stats.passes == ["normalize", "structure", "trim", "compress"]
    assert result.stats.compressed is True
    assert result.stats.final_tokens == sum(estimate_tokens(c) for c in contents(result.messages))


def test_compressed_tokens_use_count_tokens() -> None:
    result = preprocess(
        [m("system", "a b c"), m("user", "d e f g")],
        compress=True,
        compressor=lambda text: "d",
        count_tokens=lambda text: len(text.split()),
    )
    assert (result.stats.original_tokens, result.stats.final_tokens) == (7, 4)


def test_preprocess_names_the_message_a_compressor_got_wrong() -> None:
    with pytest.raises(TypeError, match=r"returned bytes for messages\[1\] \(its index in the result\)"):
        preprocess(
            [m("user", "a"), m("user", "b")],
            compress=True,
            compressor=lambda text: text if text == "a" else text.encode(),  # type: ignore[arg-type,return-value]
        )


async def _async_upper(text: str) -> str:
    return text.upper()


class _AsyncCallable:
    async def __call__(self, text: str) -> str:
        return text


def _returns_a_coroutine(text: str) -> Awaitable[str]:
    return _async_upper(text)


@pytest.mark.parametrize(
    "compressor",
    [_async_upper, functools.partial(_async_upper), _AsyncCallable(), _returns_a_coroutine],
    ids=["async-def", "partial", "async-call", "returns-coroutine"],
)
def test_an_async_compressor_in_preprocess_points_to_apreprocess(compressor: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError, match=r"apreprocess"):
            preprocess([m("user", "x")], compress=True, compressor=compressor)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_an_async_compressor_is_refused_before_any_work() -> None:
    # Even with nothing to compress, and without calling it once.
    calls: list[str] = []

    async def counting(text: str) -> str:
        calls.append(text)
        return text

    for given_messages in ([], [m("system", "only system")]):
        with pytest.raises(TypeError, match="apreprocess"):
            preprocess(given_messages, compress=True, compressor=counting)  # type: ignore[arg-type]
    assert calls == []


def test_the_no_warning_check_can_see_a_leaked_coroutine() -> None:
    # Guards the test above: an unawaited coroutine that is not closed IS reported.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        leaked = _async_upper("x")
        del leaked
        gc.collect()
    assert any("never awaited" in str(w.message) for w in caught)


def test_a_non_awaitable_compressor_result_is_not_closed() -> None:
    class Pending:
        def __await__(self) -> Any:
            yield from ()
            return "x"

    with pytest.raises(TypeError, match="apreprocess"):
        preprocess([m("user", "x")], compress=True, compressor=lambda text: Pending())  # type: ignore[arg-type,return-value]


# ---- compression (async), under asyncio and trio -----------------------------------------


@pytest.mark.anyio
async def test_apreprocess_with_an_async_compressor() -> None:
    seen: list[str] = []

    async def shorten(text: str) -> str:
        await anyio.lowlevel.checkpoint()  # a real suspension, under whichever loop runs the test
        seen.append(text)
        return text[:4]

    result = await apreprocess(HISTORY, compress=True, compressor=shorten)
    assert contents(result.messages) == ["You are a support agent.\n\n Be brief.", "turn", "turn", "turn", "Wher"]
    assert len(seen) == 4
    assert result.stats.passes == ["normalize", "structure", "trim", "compress"]
    assert result.stats.compressed is True


@pytest.mark.anyio
async def test_apreprocess_with_a_sync_compressor() -> None:
    result = await apreprocess([m("system", "s"), m("user", " hi ")], compress=True, compressor=str.upper)
    assert result.messages == [m("system", "s"), m("user", "HI")]


@pytest.mark.anyio
async def test_apreprocess_with_an_async_callable_object_and_a_partial() -> None:
    for compressor in (_AsyncCallable(), functools.partial(_async_upper), _returns_a_coroutine):
        result = await apreprocess([m("user", "hi")], compress=True, compressor=compressor)
        assert result.stats.compressed is True


@pytest.mark.anyio
async def test_apreprocess_without_compression_equals_preprocess() -> None:
    result = await apreprocess(HISTORY, system_prompt="P", keep_turns=2)
    assert result.messages == preprocess(HISTORY, system_prompt="P", keep_turns=2).messages
    assert result.stats == preprocess(HISTORY, system_prompt="P", keep_turns=2).stats
    assert "compress" not in result.stats.passes


@pytest.mark.anyio
async def test_apreprocess_checks_like_preprocess() -> None:
    with pytest.raises(InvalidRequestError, match="compressor="):
        await apreprocess([m("user", "x")], compress=True)
    with pytest.raises(TypeError, match="compressor must be a callable"):
        await apreprocess([m("user", "x")], compress=True, compressor=42)  # type: ignore[arg-type]

    async def to_number(text: str) -> int:
        return 1

    with pytest.raises(TypeError, match=r"returned int for messages\[0\]"):
        await apreprocess([m("user", "x")], compress=True, compressor=to_number)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_an_async_compressor_error_propagates() -> None:
    async def broken(text: str) -> str:
        raise RuntimeError("gateway down")

    with pytest.raises(RuntimeError, match="gateway down"):
        await apreprocess([m("user", "x")], compress=True, compressor=broken)


def test_preprocess_and_apreprocess_have_the_same_signature() -> None:
    sync_parameters = inspect.signature(preprocess).parameters
    async_parameters = inspect.signature(apreprocess).parameters
    assert list(sync_parameters) == list(async_parameters)
    assert [p.default for p in sync_parameters.values()] == [p.default for p in async_parameters.values()]
    assert [p.kind for p in sync_parameters.values()] == [p.kind for p in async_parameters.values()]
    assert inspect.iscoroutinefunction(apreprocess)


# ---- the result -----------------------------------------------------------------------------


def test_result_repr_is_short() -> None:
    result = preprocess(HISTORY)
    assert repr(result) == f"PreprocessResult(messages=<5 messages>, stats={result.stats!r})"
    assert repr(preprocess([m("user", "a")])).startswith("PreprocessResult(messages=<1 message>, ")


def test_result_is_frozen() -> None:
    result = preprocess([m("user", "a")])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.messages = []  # type: ignore[misc]


def test_result_renders_as_an_escaped_html_table() -> None:
    given_messages: list[MessageParam] = [
        m("user", "<script>alert(1)</script> & more"),
        ChatMessage(role="assistant", content="ok"),
    ]
    result = preprocess(given_messages)
    page = result._repr_html_()
    assert "<script>" not in page
    assert html.escape("<script>alert(1)</script> & more") in page
    assert "2 → 2 messages" in page
    assert page.count("<tr>") == 3  # header + two messages
    assert "<td>assistant</td>" in page


def test_result_html_shows_at_most_50_messages_and_cuts_long_texts() -> None:
    result = preprocess([m("user", str(n) + "y" * 2000) for n in range(60)], max_context_tokens=10**9)
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + 50 + 1
    assert "… 10 more" in page
    assert "0" + "y" * 999 + "…" in page
    assert "y" * 1000 not in page


# ---- the public face ----------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    assert pp.__all__ == sorted(pp.__all__)
    promised = {
        "preprocess",
        "apreprocess",
        "normalize",
        "structure",
        "trim",
        "compress",
        "estimate_tokens",
        "PreprocessResult",
        "PreprocessStats",
    }
    assert promised <= set(pp.__all__)
    assert all(hasattr(pp, name) for name in pp.__all__)
    assert PreprocessResult.__module__ == PreprocessStats.__module__ == preprocess.__module__ == "neureus.preprocessing"


def test_preprocessing_does_no_io() -> None:
    # The core must not reach for the network, the clock or an event loop (DESIGN.md, habit 2).
    import neureus.preprocessing._drive as drive
    import neureus.preprocessing._passes as passes
    import neureus.preprocessing._pipeline as pipeline
    import neureus.preprocessing._result as result
    import neureus.preprocessing._tokens as tokens
    import neureus.preprocessing._types as types_

    for module in (drive, passes, pipeline, result, tokens, types_, pp):
        source = inspect.getsource(module)
        assert not re.search(r"^\s*(from|import)\s+(httpx|socket|time|anyio|asyncio|trio)\b", source, re.M)
        assert module.__doc__ and "I/O" in module.__doc__


@pytest.mark.parametrize("name", ["PreprocessResult", "PreprocessStats", "apreprocess", "preprocess"])
def test_docstring_examples(name: str) -> None:
    tests = doctest.DocTestFinder().find(getattr(pp, name), name, module=False, globs=dict(vars(pp)))
    assert sum(len(test.examples) for test in tests) >= 2
    runner = doctest.DocTestRunner()
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_module_docstring_example() -> None:
    (test, *_) = doctest.DocTestFinder(recurse=False).find(pp, "neureus.preprocessing", globs={})
    assert len(test.examples) >= 3
    assert doctest.DocTestRunner().run(test).failed == 0


def test_the_docs_show_the_examples_real_output() -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "preprocessing.py"
    docs = (root / "docs" / "preprocessing.md").read_text(encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "NEUREUS_API_KEY"}
    run = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, encoding="utf-8", env=env, check=True
    )
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) > 20
    missing = [line for line in lines if line not in docs]
    assert missing == [], "docs/preprocessing.md no longer shows what examples/preprocessing.py prints"
