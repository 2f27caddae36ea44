"""A span exporter wrapper shared by the test clients: it delegates to the real OpenTelemetry
exporter and keeps, for each export, the request the exporter's own encoder makes of the batch
(base64-able protobuf bytes) and the exporter's result."""

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExporter


class RecordingExporter(SpanExporter):
    """Delegates to the real exporter and records each request it was asked to send."""

    def __init__(self, inner):
        self.inner = inner
        self.requests = []
        self.results = []

    def export(self, spans):
        self.requests.append(encode_spans(spans).SerializeToString())
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)
