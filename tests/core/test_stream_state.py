from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from neureus import APIConnectionError, APIResponseValidationError, IncompleteStreamError, StreamError
from neureus._stream_state import StreamState


def ev(data: str, event: str = "message") -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data)


def test_tokens_text_and_final() -> None:
    state = StreamState()
    assert state.on_event(ev('{"delta": {"content": "Hel"}, "done": false}')) == "Hel"
    assert state.on_event(ev('{"delta": {"content": ""}, "done": false}')) is None
    assert state.on_event(ev('{"delta": {"content": "lo"}}')) == "lo"
    assert state.on_event(ev('{"done": true, "logId": "l1", "inputTokens": 3, "outputTokens": 2, "x": 1}')) is None
    state.finish()
    assert state.text == "Hello" and state.done and state.events == 4
    assert state.final is not None
    assert (state.final.log_id, state.final.input_tokens, state.final.output_tokens) == ("l1", 3, 2)
    assert state.final.model_extra == {"x": 1}


def test_empty_data_and_non_text_deltas_are_skipped() -> None:
    state = StreamState()
    assert state.on_event(ev("")) is None
    assert state.on_event(ev('{"delta": {"content": 5}}')) is None
    assert state.on_event(ev('{"delta": "x"}')) is None


def test_openai_shaped_deltas_and_done_marker() -> None:
    state = StreamState()
    assert state.on_event(ev('{"choices": [{"delta": {"content": "hi"}}]}')) == "hi"
    assert state.on_event(ev('{"choices": []}')) is None
    assert state.on_event(ev("[DONE]")) is None
    state.finish()
    assert state.done


def test_error_event() -> None:
    with pytest.raises(StreamError, match="overloaded") as info:
        StreamState().on_event(ev('{"error": {"message": "overloaded", "type": "provider_error"}}', "error"))
    assert info.value.error_type == "provider_error"
    with pytest.raises(StreamError, match="plain text"):
        StreamState().on_event(ev("plain text", "error"))
    with pytest.raises(StreamError, match="unknown error"):
        StreamState().on_event(ev("", "error"))


def test_error_member_in_data() -> None:
    with pytest.raises(StreamError, match="quota"):
        StreamState().on_event(ev('{"error": "quota exceeded"}'))
    with pytest.raises(StreamError, match="boom") as info:
        StreamState().on_event(ev('{"error": {"detail": "boom", "code": 42}}'))
    assert info.value.error_type == "42"
    with pytest.raises(StreamError, match="unknown error"):
        StreamState().on_event(ev('{"error": [1]}'))


@pytest.mark.parametrize("data", ['{"delta": ', "[1, 2]", "nope"])
def test_malformed_events_quote_the_data(data: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        StreamState().on_event(ev(data))
    assert repr(data)[1:-1][:10] in str(info.value)


def test_finish_without_done_is_incomplete() -> None:
    state = StreamState()
    state.on_event(ev('{"delta": {"content": "par"}}'))
    with pytest.raises(IncompleteStreamError, match="server closed it") as info:
        state.finish()
    assert info.value.partial_text == "par"
    cause = APIConnectionError("reset")
    with pytest.raises(IncompleteStreamError, match="connection broke") as info:
        state.finish(cause)
    assert info.value.__cause__ is cause
