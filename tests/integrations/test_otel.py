"""``neureus.otel``: GenAI semantic-convention spans and metrics, checked attribute by
attribute with opentelemetry-sdk's in-memory exporter and reader, sync and async."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import neureus
from neureus.otel import NeureusInstrumentor
from neureus.testing import FakeGateway

from ..conftest import MESSAGES, Api

pytestmark = pytest.mark.anyio


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@contextlib.contextmanager
def _instrument(**options: Any) -> Iterator[Telemetry]:
    telemetry = Telemetry()
    instrumentor = NeureusInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options
    )
    try:
        yield telemetry
    finally:
        instrumentor.uninstrument()
        telemetry.meter_provider.shutdown()
        telemetry.tracer_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    with _instrument() as telemetry:
        yield telemetry


@pytest.fixture
def otel_with_content() -> Iterator[Telemetry]:
    with _instrument(capture_content=True) as telemetry:
        yield telemetry


async def test_a_chat_span_has_the_genai_attributes(api: Api, otel: Telemetry) -> None:
    client = api.client()
    reply = await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini"))
    (span,) = otel.spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "neureus",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.response.id": reply.log_id,
        "gen_ai.usage.input_tokens": reply.input_tokens,
        "gen_ai.usage.output_tokens": reply.output_tokens,
        "server.address": "gateway.neureus.test",
        "server.port": 443,
        "http.response.status_code": 200,
    }
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes


async def test_the_metrics_count_tokens_and_time(api: Api, otel: Telemetry) -> None:
    client = api.client()
    reply = await api.run(client.ai.chat(MESSAGES, model="gpt-4o-mini"))
    usage = {point.attributes["gen_ai.token.type"]: point for point in otel.points("gen_ai.client.token.usage")}
    assert set(usage) == {"input", "output"}
    assert (usage["input"].sum, usage["input"].count) == (reply.input_tokens, 1)
    assert (usage["output"].sum, usage["output"].count) == (reply.output_tokens, 1)
    assert dict(usage["input"].attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "neureus",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "server.address": "gateway.neureus.test",
        "server.port": 443,
        "gen_ai.token.type": "input",
    }
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum > 0
    assert "error.type" not in duration.attributes
    assert duration.explicit_bounds[0] == 0.01  # the semconv's advisory buckets


async def test_an_embeddings_span(api: Api, otel: Telemetry) -> None:
    client = api.client()
    await api.run(client.ai.embeddings(["a"], model="text-embedding-3-small"))
    (span,) = otel.spans()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.request.model"] == "text-embedding-3-small"


async def test_other_calls_are_not_traced_and_the_default_model_names_the_span(api: Api, otel: Telemetry) -> None:
    client = api.client()
    await api.run(client.ai.list_models())
    await api.run(client.ai.chat(MESSAGES))
    (span,) = otel.spans()
    assert span.name == "chat" and "gen_ai.request.model" not in span.attributes


async def test_retries_are_span_events(api: Api, gateway: FakeGateway, otel: Telemetry) -> None:
    client = api.client(max_retries=2)
    gateway.queue_error(503)
    gateway.queue_failure("connect")
    await api.run(client.ai.chat(MESSAGES, model="m"))
    (span,) = otel.spans()
    assert [event.name for event in span.events] == ["gen_ai.client.retry", "gen_ai.client.retry"]
    first, second = (dict(event.attributes or {}) for event in span.events)
    assert first["error.type"] == "InternalServerError" and first["http.response.status_code"] == 503
    assert first["gen_ai.client.retry.attempt"] == 1 and first["gen_ai.client.retry.wait"] > 0
    assert second["error.type"] == "APIConnectionError" and "http.response.status_code" not in second
    assert second["gen_ai.client.retry.attempt"] == 2
    assert span.status.status_code is StatusCode.UNSET


async def test_a_failed_call_has_error_type_everywhere(api: Api, gateway: FakeGateway, otel: Telemetry) -> None:
    client = api.client()
    gateway.queue_error(429, headers={"retry-after": "3600"})
    with pytest.raises(neureus.RateLimitError):
        await api.run(client.ai.chat(MESSAGES, model="m"))
    (span,) = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["http.response.status_code"] == 429
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "RateLimitError"
    assert otel.points("gen_ai.client.token.usage") == []


async def test_a_stream_span_ends_at_done_with_time_to_first_chunk(
    api: Api, gateway: FakeGateway, otel: Telemetry
) -> None:
    client = api.client()
    gateway.queue_stream(["a", "b"])
    stream = await api.run(client.ai.stream(MESSAGES, model="m"))
    first = await (stream.__anext__() if api.is_async else api.run(next(stream)))
    assert first == "a"
    assert otel.spans() == []  # still open: the stream has not reached done
    await api.collect(stream)
    (span,) = otel.spans()
    assert span.name == "chat m"
    assert span.attributes["gen_ai.request.stream"] is True
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert ttfc > 0
    assert span.attributes["gen_ai.usage.output_tokens"] == stream.output_tokens
    assert span.attributes["gen_ai.response.id"] == stream.log_id
    (chunk,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert chunk.sum == ttfc


async def test_a_broken_stream_ends_its_span_with_an_error(api: Api, gateway: FakeGateway, otel: Telemetry) -> None:
    client = api.client()
    gateway.queue_stream(["a", "b", "c"], break_after=1)
    stream = await api.run(client.ai.stream(MESSAGES))
    with pytest.raises(neureus.IncompleteStreamError):
        await api.collect(stream)
    (span,) = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "IncompleteStreamError"


async def test_contents_only_when_asked(api: Api, otel_with_content: Telemetry) -> None:
    client = api.client()
    reply = await api.run(client.ai.chat(MESSAGES, model="m"))
    (span,) = otel_with_content.spans()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello"}]}
    ]
    assert json.loads(span.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": reply.text}]}
    ]


def test_the_environment_can_ask_for_contents(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with _instrument() as telemetry:
        gateway.client().ai.chat(MESSAGES)
        (span,) = telemetry.spans()
        assert "gen_ai.input.messages" in span.attributes


def test_uninstrument_stops_the_spans(gateway: FakeGateway) -> None:
    with _instrument() as telemetry:
        client = gateway.client()
        client.ai.chat(MESSAGES)
    client.ai.chat(MESSAGES)
    assert len(telemetry.spans()) == 1
    assert NeureusInstrumentor().instrumentation_dependencies() == ("neureus >= 0.1",)


def test_a_span_is_a_child_of_the_callers_span(gateway: FakeGateway, otel: Telemetry) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        gateway.client().ai.chat(MESSAGES)
    chat = next(s for s in otel.spans() if s.name == "chat")
    assert chat.parent is not None and chat.parent.span_id == parent.get_span_context().span_id


def test_no_key_reaches_a_span(gateway: FakeGateway, otel_with_content: Telemetry) -> None:
    key = "nru_live_OTELSECRET0123456789abcdef"
    gateway.api_key = key
    client = gateway.client(api_key=key)
    client.ai.chat(MESSAGES)
    gateway.queue_error(401, body={"error": {"message": f"bad key {key}"}})
    with pytest.raises(neureus.AuthenticationError):
        client.ai.chat(MESSAGES)
    text = repr(
        [
            (s.name, dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events])
            for s in otel_with_content.spans()
        ]
    )
    assert key not in text and key[-12:] not in text


def test_open_spans_are_bounded(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway, otel: Telemetry) -> None:
    import neureus.otel

    monkeypatch.setattr(neureus.otel, "_MAX_OPEN_SPANS", 1)
    client = gateway.client()
    first = client.ai.stream(MESSAGES)  # opened, never finished
    second = client.ai.stream(MESSAGES)
    (evicted,) = otel.spans()
    assert evicted.attributes["error.type"] == "abandoned"
    second.close()
    first.close()  # its span is gone already: nothing more is exported for it
    assert len(otel.spans()) == 2


def test_untraced_calls_retry_without_spans(gateway: FakeGateway, otel: Telemetry) -> None:
    gateway.queue_error(503)
    gateway.client(max_retries=1).ai.list_models()
    assert otel.spans() == []
