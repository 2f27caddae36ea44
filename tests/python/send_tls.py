#!/usr/bin/env python3
"""Send traces over TLS with the OpenTelemetry Python SDK and its OTLP exporters.

gRPC: OTLPSpanExporter with grpc.ssl_channel_credentials(root_certificates=<CA>); HTTP:
OTLPSpanExporter with certificate_file=<CA>. The server's certificate must be valid for the
endpoint's host name and signed by the CA.

Prints one JSON document on stdout like send_traces.py:
  requests   - every export request as base64 protobuf ExportTraceServiceRequest
  trace_ids  - hex trace IDs
Exits 1 (with the reason on stderr) if any export did not succeed.
"""

import argparse
import base64
import json
import os
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind
from recording_exporter import RecordingExporter


def make_exporter(kind, endpoint, ca_file, authorization):
    if kind == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        with open(ca_file, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        headers = (("authorization", authorization),) if authorization else None
        return OTLPSpanExporter(endpoint=endpoint, credentials=credentials, headers=headers, timeout=20)
    if kind == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        headers = {"Authorization": authorization} if authorization else None
        return OTLPSpanExporter(
            endpoint=endpoint.rstrip("/") + "/v1/traces", certificate_file=ca_file, headers=headers, timeout=20
        )
    raise SystemExit(f"unknown exporter {kind}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exporter", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True, help="https://host:port of the server")
    ap.add_argument("--ca-file", required=True, help="PEM file of the CA that signed the server's certificate")
    ap.add_argument("--authorization", default="", help="Authorization header value")
    ap.add_argument("--traces", type=int, default=2)
    args = ap.parse_args()
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE win over a session's `verify`, which is
    # where the HTTP exporter puts certificate_file: without this, a machine that sets them
    # would test its system roots instead of the CA given here.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(var, None)

    exporter = RecordingExporter(make_exporter(args.exporter, args.endpoint, args.ca_file, args.authorization))
    tp = TracerProvider(resource=Resource({"service.name": f"tls-{args.exporter}"}))
    tp.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=8, schedule_delay_millis=50))
    tracer = tp.get_tracer("e2e.tls", "1.0.0")
    trace_ids = []
    for i in range(args.traces):
        with tracer.start_as_current_span("GET /tls", kind=SpanKind.SERVER, attributes={"n": i}) as root:
            with tracer.start_as_current_span("call", kind=SpanKind.CLIENT) as child:
                child.set_attribute("exporter", args.exporter)
        trace_ids.append(f"{root.get_span_context().trace_id:032x}")
    if not tp.force_flush(30000):
        print("force_flush timed out", file=sys.stderr)
        sys.exit(1)
    tp.shutdown()

    failed = [r for r in exporter.results if r != SpanExportResult.SUCCESS]
    if failed or not exporter.results:
        print(f"export failed: {len(failed)} of {len(exporter.results)} exports did not succeed", file=sys.stderr)
        sys.exit(1)
    print(
        json.dumps(
            {
                "requests": [base64.b64encode(r).decode() for r in exporter.requests],
                "trace_ids": trace_ids,
            }
        )
    )


if __name__ == "__main__":
    main()
