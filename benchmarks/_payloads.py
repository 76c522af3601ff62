"""Pre-rendered wire bodies shared by the benchmarks and the loopback server.

The same token stream in three dialects: the Neureus gateway's own SSE format, OpenAI's
``chat.completion.chunk`` stream and Anthropic's Messages stream, plus one small
non-streaming chat answer per dialect. Rendered once; nothing here is timed.
"""

from __future__ import annotations

import json

TOKEN = "tok "


def _sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def neureus_events(n: int) -> list[bytes]:
    events = [_sse({"delta": {"content": TOKEN}, "done": False}) for _ in range(n)]
    events.append(_sse({"done": True, "logId": "log_bench", "inputTokens": 12, "outputTokens": n}))
    return events


def openai_events(n: int) -> list[bytes]:
    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": TOKEN}) for _ in range(n)]
    events.append(chunk({}, "stop"))
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_events(n: int) -> list[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    }
    events = [
        _sse(start, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
    ]
    delta = _sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": TOKEN}},
        "content_block_delta",
    )
    events += [delta] * n
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
            "message_delta",
        )
    )
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


STREAMS = {"neureus": neureus_events, "openai": openai_events, "anthropic": anthropic_events}

CHAT_JSON = {
    "neureus": json.dumps(
        {
            "text": "Hello! How can I help?",
            "choices": [
                {"message": {"role": "assistant", "content": "Hello! How can I help?"}, "finish_reason": "stop"}
            ],
            "logId": "log_bench",
            "inputTokens": 12,
            "outputTokens": 7,
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            "cached": False,
        }
    ).encode(),
    "openai": json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help?"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        }
    ).encode(),
    "anthropic": json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello! How can I help?"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 7},
        }
    ).encode(),
}

MESSAGES = [{"role": "user", "content": "Hello"}]


def stream_body(dialect: str, n: int) -> bytes:
    return b"".join(STREAMS[dialect](n))
