from __future__ import annotations

from neureus.types import ChatResponse, ModelList


def test_chat_response_markdown() -> None:
    reply = ChatResponse.model_validate(
        {"text": "**Hi**", "inputTokens": 3, "outputTokens": 4, "costUsd": 0.000123, "logId": "log_1", "cached": True}
    )
    markdown = reply._repr_markdown_()
    assert markdown.startswith("**Hi**")
    assert (
        "3 in / 4 out tokens" in markdown and "$0.000123" in markdown and "log_1" in markdown and "cached" in markdown
    )
    assert ChatResponse()._repr_markdown_() == "*(empty reply)*"


def test_model_list_html_table_escapes() -> None:
    models = ModelList.model_validate(
        {
            "models": [
                {"id": "a<b>", "name": "A", "provider": "p", "type": "chat", "contextWindow": 200000,
                 "inputCostPer1k": 0.003, "outputCostPer1k": 0.015, "supportedFeatures": ["streaming"]},
                {"id": "free"},
            ]
        }
    )  # fmt: skip
    html = models._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 3
    assert "a&lt;b&gt;" in html and "<b>" not in html
    assert "200,000" in html and "$0.003" in html and "—" in html


def test_costs_read_as_dollars_and_a_free_call_as_zero() -> None:
    from neureus._display import format_usd

    assert [format_usd(v) for v in (0.0, 0.5, 0.000123, 1.23456789, 12)] == [
        "$0",
        "$0.50",
        "$0.000123",
        "$1.234568",
        "$12.00",
    ]
    assert format_usd(1e-9) == "<$0.000001"  # never "free" when it is not
    free = ChatResponse.model_validate({"text": "x", "inputTokens": 1, "outputTokens": 1, "costUsd": 0})
    assert free._repr_markdown_().endswith("*1 in / 1 out tokens · $0*")
