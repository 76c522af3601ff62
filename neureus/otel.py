"""OpenTelemetry for neureus: GenAI semantic-convention spans and metrics, built on hooks.

>>> from neureus.otel import NeureusInstrumentor  # doctest: +SKIP
>>> NeureusInstrumentor().instrument()  # doctest: +SKIP

Needs the ``otel`` extra (``pip install "neureus[otel]"``). Once instrumented, every
client in the process (made before or after) reports:

- a ``CLIENT`` span per ``chat`` and ``embeddings`` call, named ``chat {model}`` /
  ``embeddings {model}``, with ``gen_ai.operation.name``, ``gen_ai.provider.name``
  (``neureus``), ``gen_ai.request.model``, ``gen_ai.response.model`` (when the gateway
  says), ``gen_ai.response.id`` (the log id), ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``server.address`` / ``server.port``, ``error.type`` on failure;
  each retry is a ``gen_ai.client.retry`` span event; a stream's span ends at ``done``
  and carries ``gen_ai.request.stream`` and ``gen_ai.response.time_to_first_chunk``;
- the ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` histograms
  (and ``gen_ai.client.operation.time_to_first_chunk`` for streams).

Message contents are recorded (``gen_ai.input.messages`` / ``gen_ai.output.messages``)
only with ``instrument(capture_content=True)`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
        BaseInstrumentor,
    )
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised by simulating the missing extra
    raise ImportError(
        'neureus.otel needs OpenTelemetry, which is an optional extra: pip install "neureus[otel]"'
    ) from exc

from . import __version__
from ._hooks import HookRecord, add_global_hook, remove_global_hook

__all__ = ["NeureusInstrumentor"]

PROVIDER_NAME = "neureus"
"""The ``gen_ai.provider.name`` reported: the gateway routes to the real provider itself."""

_TRACED_OPERATIONS = frozenset({"chat", "embeddings"})
_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Spans of calls that never ended (a process that keeps abandoning calls) are bounded.
_MAX_OPEN_SPANS = 10_000
# The GenAI semantic conventions' advisory bucket boundaries.
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


def _messages_json(messages: tuple[dict[str, Any], ...] | None) -> str:
    return json.dumps(
        [{"role": m.get("role"), "parts": [{"type": "text", "content": m.get("content")}]} for m in messages or ()]
    )


def _present(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """The attributes whose value is known (OpenTelemetry refuses ``None``)."""
    return {name: value for name, value in pairs if value is not None}


class _TelemetryHook:
    """The hook behind the instrumentor: one span per traced call, metrics at its end."""

    def __init__(self, tracer: Any, meter: Any, capture_content: bool) -> None:
        self._tracer = tracer
        self._capture = capture_content
        self._spans: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        histogram = meter.create_histogram
        self._token_usage = histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )  # fmt: skip
        self._duration = histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )  # fmt: skip
        self._first_chunk = histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )  # fmt: skip

    @staticmethod
    def _common(record: HookRecord) -> dict[str, Any]:
        return _present(
            ("gen_ai.operation.name", record.operation),
            ("gen_ai.provider.name", PROVIDER_NAME),
            ("gen_ai.request.model", record.model),
            ("server.address", record.server_address),
            ("server.port", record.server_port),
        )

    def on_request(self, record: HookRecord) -> None:
        if record.operation not in _TRACED_OPERATIONS or record.attempt != 0:
            return
        attributes = self._common(record)
        if record.stream:
            attributes["gen_ai.request.stream"] = True
        if self._capture and record.messages is not None:
            attributes["gen_ai.input.messages"] = _messages_json(record.messages)
        name = record.operation if record.model is None else f"{record.operation} {record.model}"
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        with self._lock:
            self._spans[record.call_id] = span
            while len(self._spans) > _MAX_OPEN_SPANS:
                _, stale = self._spans.popitem(last=False)
                stale.set_attribute("error.type", "abandoned")
                stale.end()

    def _span(self, record: HookRecord, *, pop: bool) -> Any:
        with self._lock:
            return self._spans.pop(record.call_id, None) if pop else self._spans.get(record.call_id)

    def on_retry(self, record: HookRecord) -> None:
        span = self._span(record, pop=False)
        if span is None:
            return
        attributes = _present(
            ("gen_ai.client.retry.attempt", record.attempt + 1),
            ("error.type", record.error_type),
            ("http.response.status_code", record.status_code),
            ("gen_ai.client.retry.wait", record.retry_wait),
        )
        span.add_event("gen_ai.client.retry", attributes=attributes)

    def on_response(self, record: HookRecord) -> None:
        if record.stream:
            span = self._span(record, pop=False)
            if span is not None and record.time_to_first_token is not None:
                span.set_attribute("gen_ai.response.time_to_first_chunk", record.time_to_first_token)
            return
        self._finish(record)

    def on_stream_end(self, record: HookRecord) -> None:
        self._finish(record)

    def on_error(self, record: HookRecord) -> None:
        self._finish(record)

    def _finish(self, record: HookRecord) -> None:
        span = self._span(record, pop=True)
        if span is None:
            return
        attributes = {**self._common(record), **_present(("gen_ai.response.model", record.response_model))}
        span_attributes = {
            **attributes,
            **_present(
                ("gen_ai.response.id", record.log_id),
                ("gen_ai.usage.input_tokens", record.input_tokens),
                ("gen_ai.usage.output_tokens", record.output_tokens),
                ("http.response.status_code", record.status_code),
                ("gen_ai.response.time_to_first_chunk", record.time_to_first_token),
            ),
        }
        if self._capture and record.output_text is not None and record.operation == "chat":
            span_attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": record.output_text}]}]
            )
        if record.error_type is not None:
            attributes["error.type"] = span_attributes["error.type"] = record.error_type
            span.set_status(Status(StatusCode.ERROR, record.error_type))
        span.set_attributes(span_attributes)
        span.end()
        if record.duration is not None:
            self._duration.record(record.duration, attributes)
        if record.stream and record.time_to_first_token is not None:
            self._first_chunk.record(record.time_to_first_token, attributes)
        for kind, count in (("input", record.input_tokens), ("output", record.output_tokens)):
            if count is not None:
                self._token_usage.record(count, {**attributes, "gen_ai.token.type": kind})


class NeureusInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentation of every neureus client in the process.

    >>> NeureusInstrumentor().instrument(tracer_provider=provider)  # doctest: +SKIP
    >>> NeureusInstrumentor().uninstrument()  # doctest: +SKIP

    ``instrument()`` takes ``tracer_provider=``, ``meter_provider=`` (the global ones by
    default) and ``capture_content=`` (record message contents; off by default).
    """

    _hook: _TelemetryHook | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The packages this instrumentation needs: neureus itself."""
        return ("neureus >= 0.1",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
        meter = metrics.get_meter(__name__, __version__, kwargs.get("meter_provider"))
        capture = kwargs.get("capture_content")
        if capture is None:
            capture = os.environ.get(_CAPTURE_ENV, "").strip().lower() in ("1", "true", "yes")
        self._hook = _TelemetryHook(tracer, meter, bool(capture))
        add_global_hook(self._hook)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._hook is not None:
            remove_global_hook(self._hook)
            self._hook = None
