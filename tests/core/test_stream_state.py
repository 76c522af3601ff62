"""The pure stream step: outcome and time in, "deliver", "keep pulling" or "finished" out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from httpx_sse import ServerSentEvent

from neureus import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    IncompleteStreamError,
    StreamError,
)
from neureus._stream_state import END, FINISHED, PULL, StreamState, deadline_passed


def ev(data: str, event: str = "message") -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data)


def at(now: float) -> Callable[[], float]:
    return lambda: now


def step(state: StreamState, data: str, event: str = "message", now: float = 0.0) -> object:
    return state.consume(ev(data, event), at(now))


DONE = '{"done": true, "logId": "l1", "inputTokens": 3, "outputTokens": 2, "x": 1}'


def test_tokens_text_and_final() -> None:
    state = StreamState()
    assert step(state, '{"delta": {"content": "Hel"}, "done": false}') == "Hel"
    assert step(state, '{"delta": {"content": ""}, "done": false}') is PULL
    assert step(state, '{"delta": {"content": "lo"}}') == "lo"
    assert not state.finished
    assert step(state, DONE) is FINISHED
    assert state.finished and state.text == "Hello" and state.done and state.events == 4
    assert state.final is not None
    assert (state.final.log_id, state.final.input_tokens, state.final.output_tokens) == ("l1", 3, 2)
    assert state.final.model_extra == {"x": 1}


def test_nothing_after_done_changes_anything() -> None:
    state = StreamState()
    step(state, '{"delta": {"content": "a"}}')
    assert step(state, DONE) is FINISHED
    final = state.final
    after = [
        ev('{"delta": {"content": "more"}}'),
        ev('{"done": true, "logId": "second", "outputTokens": 99}'),
        ev("<html>502 Bad Gateway</html>"),
        ev('{"error": "late"}', "error"),
    ]
    for outcome in after:
        assert state.consume(outcome, at(1e9)) is FINISHED
    assert state.consume(END, at(1e9)) is FINISHED
    assert state.consume(APIConnectionError("reset"), at(1e9)) is FINISHED
    assert state.text == "a" and state.final is final and state.events == 2


def test_a_done_event_carrying_a_token_delivers_it_and_finishes() -> None:
    state = StreamState()
    assert step(state, '{"delta": {"content": "end"}, "done": true}') == "end"
    assert state.finished and state.text == "end"
    assert state.consume(END, at(0.0)) is FINISHED


def test_data_done_marker_ends_the_stream() -> None:
    state = StreamState()
    assert step(state, '{"choices": [{"delta": {"content": "hi"}}]}') == "hi"
    assert step(state, '{"choices": []}') is PULL
    assert step(state, "[DONE]") is FINISHED
    assert state.done and state.final is not None and state.final.log_id is None


def test_empty_data_and_non_text_deltas_are_skipped() -> None:
    state = StreamState()
    assert step(state, "") is PULL
    assert step(state, '{"delta": {"content": 5}}') is PULL
    assert step(state, '{"delta": "x"}') is PULL
    assert not state.finished


@pytest.mark.parametrize("kind", ["heartbeat", "ping", "Message", "ERROR", "done"])
def test_unknown_event_types_are_skipped_whatever_their_data(kind: str) -> None:
    state = StreamState()
    for data in ["not json", '{"delta": {"content": "x"}}', '{"done": true}', '{"error": "x"}', ""]:
        assert step(state, data, kind) is PULL
    assert state.text == "" and not state.finished and state.events == 5


def test_error_event() -> None:
    with pytest.raises(StreamError, match="overloaded") as info:
        step(StreamState(), '{"error": {"message": "overloaded", "type": "provider_error"}}', "error")
    assert info.value.error_type == "provider_error"
    with pytest.raises(StreamError, match="plain text"):
        step(StreamState(), "plain text", "error")
    with pytest.raises(StreamError, match="unknown error"):
        step(StreamState(), "", "error")


def test_an_error_finishes_the_stream() -> None:
    state = StreamState()
    with pytest.raises(StreamError):
        step(state, '{"error": "quota"}')
    assert state.finished and state.consume(ev('{"delta": {"content": "x"}}'), at(0.0)) is FINISHED


def test_error_member_in_data() -> None:
    with pytest.raises(StreamError, match="quota"):
        step(StreamState(), '{"error": "quota exceeded"}')
    with pytest.raises(StreamError, match="boom") as info:
        step(StreamState(), '{"error": {"detail": "boom", "code": 42}}')
    assert info.value.error_type == "42"
    with pytest.raises(StreamError, match="unknown error"):
        step(StreamState(), '{"error": [1]}')


@pytest.mark.parametrize("data", ['{"delta": ', "[1, 2]", "nope"])
def test_malformed_events_quote_the_data(data: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        step(StreamState(), data)
    assert repr(data)[1:-1][:10] in str(info.value)


def test_end_of_body_without_done_is_incomplete() -> None:
    state = StreamState()
    step(state, '{"delta": {"content": "par"}}')
    with pytest.raises(IncompleteStreamError, match="server closed it") as info:
        state.consume(END, at(0.0))
    assert info.value.partial_text == "par" and info.value.__cause__ is None


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (APIConnectionError("reset"), "the connection broke"),
        (APITimeoutError("read"), "no data arrived within the read timeout"),
        # The cause's own text also says "deadline ran out": the whole reason is compared,
        # so the test fails if the deadline were reported through that fallback.
        (deadline_passed(), "the deadline ran out"),
        (
            APIResponseValidationError("One SSE event is larger than max_response_bytes (10 bytes)"),
            "One SSE event is larger than max_response_bytes (10 bytes)",
        ),
    ],
)
def test_an_error_outcome_is_incomplete_with_that_cause(cause: Exception, reason: str) -> None:
    state = StreamState()
    step(state, '{"delta": {"content": "par"}}')
    with pytest.raises(IncompleteStreamError) as info:
        state.consume(cause, at(0.0))  # type: ignore[arg-type]
    assert str(info.value) == (
        f"The stream stopped before its final event ({reason}) after 1 event(s) "
        "and 3 characters; the text so far is in .partial_text."
    )
    assert info.value.__cause__ is cause and info.value.partial_text == "par"


def test_deadline_is_checked_on_every_event_but_done() -> None:
    state = StreamState(read_by=10.0)
    assert step(state, '{"delta": {"content": "a"}}', now=9.9) == "a"
    assert step(state, "", now=10.0) is PULL  # exactly at the deadline is still in time
    with pytest.raises(IncompleteStreamError, match=r"\(the deadline ran out\)") as info:
        step(state, '{"delta": {"content": "b"}}', now=10.1)
    assert isinstance(info.value.__cause__, APITimeoutError) and info.value.partial_text == "a"

    late_done = StreamState(read_by=10.0)
    assert step(late_done, DONE, now=11.0) is FINISHED  # done is what was waited for

    for kind, data in (("heartbeat", "x"), ("message", "")):
        with pytest.raises(IncompleteStreamError, match=r"\(the deadline ran out\)"):
            step(StreamState(read_by=1.0), data, kind, now=2.0)


def test_no_deadline_means_no_clock_limit() -> None:
    state = StreamState()
    assert step(state, '{"delta": {"content": "a"}}', now=1e12) == "a"


def test_finished_shows_its_name() -> None:
    assert repr(FINISHED) == "FINISHED" and str(FINISHED) == "FINISHED"


SECRET = "tenant-secret-value-0123"  # not key-shaped: only redaction by value hides it


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ('{"delta": {"content": "hi"}} trailing', "whose data is not valid JSON"),
        ('x{"delta": {"content": "hi"}}', "whose data is not valid JSON"),
        ("[1, 2]", "that is not a JSON object"),
    ],
)
def test_a_bad_event_is_quoted_whole_with_secrets_hidden(data: str, what: str) -> None:
    data = data + " " + SECRET if what.endswith("JSON") else data
    with pytest.raises(APIResponseValidationError) as info:
        step(StreamState(secrets=[SECRET]), data)
    excerpt = data.replace(SECRET, "tena…0123")
    assert str(info.value) == f"The stream sent an event {what}: {excerpt!r}"
    assert info.value.body == excerpt and SECRET not in str(info.value)


def test_a_bad_event_is_cut_to_200_characters() -> None:
    data = "n" * 300
    with pytest.raises(APIResponseValidationError) as info:
        step(StreamState(), data)
    assert info.value.body == "n" * 200


def test_a_final_event_that_does_not_match_is_refused_quoting_it() -> None:
    payload = '{"done": true, "inputTokens": "many", "note": "' + SECRET + '"}'
    with pytest.raises(APIResponseValidationError) as info:
        step(StreamState(secrets=[SECRET]), payload)
    excerpt = '{"done": true, "inputTokens": "many", "note": "tena…0123"}'
    assert str(info.value) == (
        "The stream's final event does not match StreamFinal "
        f"(Input should be a valid integer, unable to parse string as an integer): {excerpt!r}"
    )
    assert info.value.body == excerpt
    long = '{"done": true, "inputTokens": "many", "note": "' + "z" * 300 + '"}'
    with pytest.raises(APIResponseValidationError) as cut:
        step(StreamState(), long)
    assert cut.value.body == long[:200]


def test_an_openai_delta_must_be_text() -> None:
    assert step(StreamState(), '{"choices": [{"delta": {"content": 5}}]}') is PULL
    assert step(StreamState(), '{"choices": [{"delta": {"content": ""}}]}') is PULL


@pytest.mark.parametrize(
    ("data", "kind", "message", "error_type"),
    [
        ('{"error": {"message": "m", "detail": "d", "error": "e"}}', "message", "m", None),
        ('{"error": {"detail": "d", "error": "e"}}', "message", "d", None),
        ('{"error": {"error": "e", "type": "t"}}', "message", "e (t)", "t"),
        ('{"error": {"code": 7}}', "message", "unknown error (7)", "7"),
        ('{"error": "quota"}', "message", "quota", None),
        ('{"message": "boom"}', "error", "boom", None),
        ("", "error", "unknown error", None),
        ("not json", "error", "not json", None),
    ],
)
def test_a_stream_error_says_what_the_gateway_said(data: str, kind: str, message: str, error_type: str | None) -> None:
    with pytest.raises(StreamError) as info:
        step(StreamState(), data, kind)
    assert str(info.value) == f"The gateway reported an error mid-stream: {message}"
    assert info.value.error_type == error_type


def test_a_stream_error_hides_the_calls_secrets() -> None:
    with pytest.raises(StreamError) as info:
        step(StreamState(secrets=[SECRET]), '{"error": "bad key ' + SECRET + '"}')
    assert SECRET not in str(info.value)


def test_a_new_state_has_nothing_and_is_not_finished() -> None:
    state = StreamState()
    assert state.finished is False and state.done is False and state.final is None
    assert step(state, '{"delta": {"content": "a"}}') == "a"
    assert state.finished is False and state.done is False


def test_the_end_of_the_body_says_the_server_closed_it() -> None:
    with pytest.raises(IncompleteStreamError) as info:
        StreamState().consume(END, at(0.0))
    assert str(info.value) == (
        "The stream stopped before its final event (the server closed it) after 0 event(s) "
        "and 0 characters; the text so far is in .partial_text."
    )


def test_an_event_with_a_stray_character_before_its_json_is_refused() -> None:
    with pytest.raises(APIResponseValidationError, match="not valid JSON"):
        step(StreamState(), 'x{"delta": {"content": "hi"}}')


def test_an_openai_chunk_without_a_delta_object_delivers_nothing() -> None:
    for data in ('{"choices": [{"delta": "x"}]}', '{"choices": ["x"]}', '{"choices": {}}'):
        assert step(StreamState(), data) is PULL
