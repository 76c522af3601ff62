"""The pure parts of structured output and tool calls: JSON extraction, the parse flow's
decisions, ``ToolCall`` shapes; and the purity of the new core modules."""

from __future__ import annotations

import ast
import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

import neureus
from neureus import LengthFinishReasonError, OutputValidationError, ToolCall
from neureus._structured import extract_json, parse_flow
from neureus.types import ChatResponse

ROOT = pathlib.Path(neureus.__file__).parent


class Point(BaseModel):
    x: int
    y: int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"x": 1}', '{"x": 1}'),
        ('  {"x": 1}\n', '{"x": 1}'),
        ('Here you go: {"x": 1} Enjoy!', '{"x": 1}'),
        ('```json\n{"x": 1}\n```', '{"x": 1}'),
        ('```\n{"x": 1}\n```', '{"x": 1}'),
        ("Text ```json\n[1, 2]\n``` more ```json\n[3]\n```", "[1, 2]"),
        ("[1, 2] and done", "[1, 2]"),
        ('{"a": [1]}', '{"a": [1]}'),
        ("no json", "no json"),
        ("{ unclosed", "{ unclosed"),
    ],
)
def test_extract_json(text: str, expected: str) -> None:
    assert extract_json(text) == expected


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4), st.text(max_size=20))
def test_extract_json_finds_an_object_in_a_fence_whatever_surrounds_it(value: dict[str, object], prose: str) -> None:
    rendered = json.dumps(value)
    assert json.loads(extract_json(f"{prose.replace('`', '')}\n```json\n{rendered}\n```\n")) == value


def _reply(text: str, finish_reason: str | None = "stop", **extra: object) -> ChatResponse:
    return ChatResponse.model_validate(
        {"text": text, "choices": [{"message": {"content": text}, "finish_reason": finish_reason}], **extra}
    )


def test_the_flow_asks_once_when_the_reply_is_valid() -> None:
    flow = parse_flow([{"role": "user", "content": "p"}], TypeAdapter(Point), 3)
    first = next(flow)
    assert first[0]["role"] == "system" and first[1] == {"role": "user", "content": "p"}
    with pytest.raises(StopIteration) as stop:
        flow.send(_reply('{"x": 1, "y": 2}', inputTokens=3, costUsd=0.5))
    result = stop.value.value
    assert result.parsed == Point(x=1, y=2) and result.attempts == 1
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (3, None, 0.5)


def test_the_flow_re_asks_then_gives_up_with_every_reply() -> None:
    flow = parse_flow([{"role": "user", "content": "p"}], TypeAdapter(Point), 2)
    next(flow)
    second = flow.send(_reply('{"x": 1}'))
    assert second[-2] == {"role": "assistant", "content": '{"x": 1}'}
    assert "y" in second[-1]["content"] and "Field required" in second[-1]["content"]
    with pytest.raises(OutputValidationError) as caught:
        flow.send(_reply("nope"))
    assert caught.value.raw_replies == ['{"x": 1}', "nope"]


def test_length_is_read_from_the_choices_or_the_top_level() -> None:
    for reply in (_reply('{"x": 1', "length"), ChatResponse.model_validate({"text": "{", "finishReason": "length"})):
        flow = parse_flow([{"role": "user", "content": "p"}], TypeAdapter(Point), 3)
        next(flow)
        with pytest.raises(LengthFinishReasonError):
            flow.send(reply)


def test_a_huge_validation_error_is_cut_before_it_is_sent_back() -> None:
    flow = parse_flow([{"role": "user", "content": "p"}], TypeAdapter(list[int]), 2)
    next(flow)
    second = flow.send(_reply(json.dumps(["x"] * 2000)))
    assert len(second[-1]["content"]) < 2300


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            ("call_1", "get_weather", {"city": "Paris"}),
        ),
        (
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ("toolu_1", "get_weather", {"city": "Paris"}),
        ),
        ({"id": "c", "name": "f", "arguments": {"a": 1}}, ("c", "f", {"a": 1})),
        ({"name": "f"}, (None, "f", {})),
        ({"id": "c", "function": {"name": "f", "arguments": "{broken"}}, ("c", "f", {})),
        ({"id": "c", "function": {"name": "f", "arguments": "[1]"}}, ("c", "f", {})),
        ({"id": "c", "function": {"name": "f", "arguments": ""}}, ("c", "f", {})),
    ],
    ids=["openai", "anthropic", "flat", "name-only", "broken-json", "not-an-object", "empty"],
)
def test_tool_calls_are_read_from_each_shape(raw: dict[str, object], expected: tuple[object, ...]) -> None:
    reply = ChatResponse.model_validate({"text": "", "toolCalls": [raw]})
    assert reply.tool_calls is not None
    (call,) = reply.tool_calls
    assert isinstance(call, ToolCall)
    assert (call.id, call.name, call.arguments) == expected
    assert call.raw == raw
    assert ToolCall.model_validate(call.model_dump()) == call  # round-trips


def test_a_tool_call_without_a_name_is_a_validation_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ChatResponse.model_validate({"toolCalls": [{"id": "x"}]})


NEW_CORE = ["_hooks", "_structured", "_tool_call"]
FORBIDDEN = {"anyio", "trio", "asyncio", "socket", "threading"}


@pytest.mark.parametrize("module", NEW_CORE)
def test_the_new_core_modules_do_no_io(module: str) -> None:
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & FORBIDDEN, module
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in FORBIDDEN, module
        elif isinstance(node, ast.Attribute):
            # `send` is allowed in _hooks only: it drives the request flow it wraps.
            assert node.attr not in {"sleep", "aread", "iter_bytes", "aiter_bytes"}, (module, node.attr)
            assert node.attr != "send" or module == "_hooks", module
