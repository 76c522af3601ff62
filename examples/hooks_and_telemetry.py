"""Hooks and OpenTelemetry: watch every call, count tokens, trace with GenAI spans.

Run it with ``python examples/hooks_and_telemetry.py``. With NEUREUS_API_KEY set it talks to
the real gateway; without, to the built-in emulator. The OpenTelemetry part needs
``pip install "neureus[otel]" opentelemetry-sdk``.
"""

from __future__ import annotations

from _setup import make_client

from neureus import HookRecord


class Tally:
    """A hook: adds up tokens, and prints each retry."""

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0

    def on_response(self, record: HookRecord) -> None:
        if not record.stream:  # a stream's counts arrive with on_stream_end
            self.calls += 1
            self.tokens += (record.input_tokens or 0) + (record.output_tokens or 0)

    def on_stream_end(self, record: HookRecord) -> None:
        self.calls += 1
        self.tokens += (record.input_tokens or 0) + (record.output_tokens or 0)

    def on_retry(self, record: HookRecord) -> None:
        print(f"  (retrying {record.operation} after {record.error_type})")


def main() -> None:
    base, where = make_client()
    print(where)
    tally = Tally()
    with base.with_options(hooks=[tally]) as client:
        client.ai.chat([{"role": "user", "content": "Hello"}], model="gpt-4o-mini")
        for _ in client.ai.stream([{"role": "user", "content": "Count to three."}]):
            pass
        print(f"hooks saw {tally.calls} calls and {tally.tokens} tokens")

        try:
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

            from neureus.otel import NeureusInstrumentor
        except ImportError:
            print('OpenTelemetry is not installed: pip install "neureus[otel]" opentelemetry-sdk')
            return
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        NeureusInstrumentor().instrument(tracer_provider=provider)
        try:
            client.ai.chat([{"role": "user", "content": "Traced hello"}], model="gpt-4o-mini")
            client.ai.embeddings(["traced text"], model="text-embedding-3-small")
        finally:
            NeureusInstrumentor().uninstrument()
        for span in exporter.get_finished_spans():
            usage = span.attributes.get("gen_ai.usage.input_tokens") if span.attributes else None
            print(f"span {span.name!r}: {usage} input tokens")
    base.close()


if __name__ == "__main__":
    main()
