from __future__ import annotations

import pytest
from pydantic import ValidationError

from neureus.types import (
    ChatMessage,
    ChatResponse,
    CostEstimate,
    EmbeddingsResponse,
    Model,
    ModelList,
    ProviderList,
    ProviderStatus,
    StreamFinal,
    WidgetKey,
    WidgetKeyRevocation,
)


def test_chat_response_reads_camel_and_keeps_unknown_fields() -> None:
    reply = ChatResponse.model_validate(
        {
            "text": "hi",
            "toolCalls": [{"name": "f"}],
            "reasoning": "because",
            "logId": "l",
            "inputTokens": 1,
            "outputTokens": 2,
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            "cached": True,
            "costUsd": 0.5,
            "_preprocessing": {"originalTokens": 9, "passes": ["normalize"], "newThing": 1},
            "futureField": {"a": 1},
        }
    )
    assert reply.content == reply.text == "hi"
    assert reply.tool_calls is not None and reply.tool_calls[0].name == "f" and reply.reasoning == "because"
    assert reply.tool_calls[0].raw == {"name": "f"} and reply.tool_calls[0].arguments == {}
    assert (reply.log_id, reply.input_tokens, reply.output_tokens, reply.cached, reply.cost_usd) == (
        "l",
        1,
        2,
        True,
        0.5,
    )
    assert reply.usage is not None and reply.usage.total_tokens == 3
    assert reply.preprocessing is not None and reply.preprocessing.original_tokens == 9
    assert reply.preprocessing.model_extra == {"newThing": 1}
    assert reply.model_extra == {"futureField": {"a": 1}}


def test_snake_case_names_are_accepted_too() -> None:
    assert ChatResponse.model_validate({"text": "x", "log_id": "l"}).log_id == "l"
    assert Model.model_validate({"id": "m", "context_window": 5, "input_cost_per_1k": 0.1}).input_cost_per_1k == 0.1


def test_chat_message_roles() -> None:
    assert ChatMessage(role="user", content="x").role == "user"
    with pytest.raises(ValidationError):
        ChatMessage(role="robot", content="x")  # type: ignore[arg-type]


def test_model_list_behaves_like_a_sequence() -> None:
    models = ModelList.model_validate({"models": [{"id": "a"}, {"id": "b", "inputCostPer1k": 0.002}]})
    assert len(models) == 2 and [m.id for m in models] == ["a", "b"] and models[1].input_cost_per_1k == 0.002
    assert models.get("b") is models[1]


def test_provider_list_normalises_entries() -> None:
    providers = ProviderList.model_validate({"providers": ["openai", {"name": "anthropic", "configured": False}]})
    assert providers.providers == [
        ProviderStatus(provider="openai"),
        ProviderStatus(provider="anthropic", configured=False),
    ]
    assert providers.configured == ["openai"] and len(providers) == 2 and providers[0].provider == "openai"


def test_embeddings_data_objects_sorted_by_index() -> None:
    response = EmbeddingsResponse.model_validate(
        {"data": [{"embedding": [2.0], "index": 1}, {"embedding": [1.0], "index": 0}], "usage": {"total_tokens": 2}}
    )
    assert response.embeddings == [[1.0], [2.0]] and response.usage == {"total_tokens": 2}
    assert EmbeddingsResponse.model_validate({"data": []}).embeddings == []


def test_widget_key_repr_is_redacted_but_value_is_whole() -> None:
    key = WidgetKey.model_validate({"key": "pk_live_0123456789abcdef", "keyPreview": "pk_live"})
    assert key.key == "pk_live_0123456789abcdef"
    assert "0123456789abcdef" not in repr(key) and "0123456789abcdef" not in str(key)
    assert WidgetKeyRevocation().revoked is True


def test_stream_final_and_cost_estimate() -> None:
    final = StreamFinal.model_validate({"done": True, "logId": "l", "inputTokens": 1, "outputTokens": 2, "x": 3})
    assert (final.log_id, final.input_tokens, final.output_tokens, final.model_extra) == ("l", 1, 2, {"x": 3})
    estimate = CostEstimate(
        model="m", input_tokens=1, output_tokens=2, input_cost_usd=0.1, output_cost_usd=0.2, total_usd=0.3
    )
    assert estimate.total_usd == 0.3
