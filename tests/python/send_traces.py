#!/usr/bin/env python3
"""Send traces to Sextant with the OpenTelemetry Python SDK and its OTLP exporters.

Builds traces that cross three services (three tracer providers, each with its own resource),
with parent/child spans, every attribute type the SDK has (including arrays), events with
attributes, links with attributes, all span kinds, an error status with a message, and a trace
state inherited from a remote parent. Exports them with a BatchSpanProcessor, then
force_flush() and shutdown().

Prints one JSON document on stdout describing exactly what was sent:
  requests   - every export request as base64 protobuf ExportTraceServiceRequest, encoded by
               the exporter's own encoder from the batch it handed to the exporter
  trace_ids  - hex trace IDs
  spans      - a readable summary (trace/span IDs, names, kinds, attribute keys, events, links)
Exits 1 (with the reason on stderr) if any export did not succeed.
"""

import argparse
import base64
import json
import random
import sys

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.span import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from recording_exporter import RecordingExporter


def make_exporter(kind, endpoint, tenant, authorization, compression):
    if kind == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        comp = {"gzip": grpc.Compression.Gzip, "none": grpc.Compression.NoCompression}[compression]
        headers = []
        if tenant:
            headers.append(("x-scope-orgid", tenant))
        if authorization:
            headers.append(("authorization", authorization))
        return OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=tuple(headers) or None, compression=comp, timeout=20)
    if kind == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        comp = {"gzip": Compression.Gzip, "deflate": Compression.Deflate, "none": Compression.NoCompression}[
            compression
        ]
        headers = {}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        if authorization:
            headers["Authorization"] = authorization
        return OTLPSpanExporter(
            endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers or None, compression=comp, timeout=20
        )
    raise SystemExit(f"unknown exporter {kind}")


def provider(service, version, exporters, args):
    resource = Resource(
        {
            "service.name": service,
            "service.version": version,
            "deployment.environment": "e2e",
            "host.cores": 2,
            "process.runtime.name": "cpython",
        },
        schema_url="https://opentelemetry.io/schemas/1.21.0",
    )
    tp = TracerProvider(resource=resource)
    exporter = RecordingExporter(make_exporter(args.exporter, args.endpoint, args.tenant, args.authorization, args.compression))
    exporters.append(exporter)
    tp.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=8, schedule_delay_millis=50))
    return tp


EVERY_ATTRIBUTE_TYPE = {
    "str": "value with ünïcode ✓",
    "empty.str": "",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.negative": -9007199254740993,
    "int.max": 9223372036854775807,
    "double": 3.25,
    "double.negative": -0.5,
    "array.str": ["a", "b", ""],
    "array.bool": [True, False],
    "array.int": [1, -2, 3],
    "array.double": [1.5, -2.5],
}


def build(args):
    exporters = []
    frontend = provider("frontend", "1.2.3", exporters, args)
    checkout = provider("checkout", "0.9.0", exporters, args)
    payments = provider("payments", "2.0.0", exporters, args)
    scope_attrs = {"scope.owner": "e2e"}
    t_front = frontend.get_tracer("e2e.frontend", "1.0.0", schema_url="https://example.com/s/1", attributes=scope_attrs)
    t_front_db = frontend.get_tracer("e2e.frontend.db", "0.1.0")
    t_checkout = checkout.get_tracer("e2e.checkout", "3.1.4")
    t_pay = payments.get_tracer("e2e.payments", "")

    spans = []

    def record(span):
        spans.append(span)
        return span

    # Trace 1: frontend SERVER -> INTERNAL -> CLIENT -> checkout SERVER -> PRODUCER -> payments CONSUMER.
    with t_front.start_as_current_span("GET /checkout", kind=SpanKind.SERVER, attributes=EVERY_ATTRIBUTE_TYPE) as root:
        record(root)
        root.add_event("request.received", attributes={"bytes": 512, "path": "/checkout", "ok": True})
        with t_front.start_as_current_span("render", kind=SpanKind.INTERNAL) as render:
            record(render)
            render.set_attribute("template", "checkout.html")
        with t_front_db.start_as_current_span("SELECT carts", kind=SpanKind.CLIENT) as db:
            record(db)
            db.set_attributes({"db.system": "postgresql", "db.rows": 3})
        with t_front.start_as_current_span("POST checkout", kind=SpanKind.CLIENT) as call:
            record(call)
            with t_checkout.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as orders:
                record(orders)
                orders.add_event("order.created", attributes={"order.id": "o-1", "items": [1, 2, 3]})
                orders.add_event("no.attributes")
                with t_checkout.start_as_current_span("publish order", kind=SpanKind.PRODUCER) as pub:
                    record(pub)
                    pub_ctx = pub.get_span_context()
    first_trace_root = root.get_span_context()

    # Trace 2: payments consumes the message; links back to the producer with attributes; fails.
    with t_pay.start_as_current_span(
        "process payment",
        kind=SpanKind.CONSUMER,
        links=[
            Link(pub_ctx, attributes={"link.reason": "message", "messaging.batch": 1}),
            Link(first_trace_root),
        ],
    ) as consume:
        record(consume)
        with t_pay.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            record(charge)
            try:
                raise ValueError("card declined")
            except ValueError as exc:
                charge.record_exception(exc, attributes={"retryable": False})
            charge.set_status(Status(StatusCode.ERROR, "card declined by issuer"))
        consume.set_status(Status(StatusCode.OK))

    # Trace 3: a remote parent carrying a trace state; the span inherits it.
    # A fresh trace ID per run so that runs never collide.
    remote = SpanContext(
        trace_id=random.getrandbits(128) | 1,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("congo", "t61rcWkgMzE"), ("rojo", "00f067aa0ba902b7")]),
    )
    parent_ctx = trace_api.set_span_in_context(NonRecordingSpan(remote))
    with t_checkout.start_as_current_span("from remote parent", context=parent_ctx, kind=SpanKind.SERVER) as child:
        record(child)
        child.set_attribute("array.empty", [])

    for tp in (frontend, checkout, payments):
        if not tp.force_flush(30000):
            print("force_flush timed out", file=sys.stderr)
            sys.exit(1)
        tp.shutdown()
    return exporters, spans


def summary(span):
    ctx = span.get_span_context()
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "attributes": sorted(span.attributes.keys()),
        "events": [{"name": e.name, "attributes": sorted(e.attributes.keys())} for e in span.events],
        "links": [
            {"trace_id": f"{l.context.trace_id:032x}", "span_id": f"{l.context.span_id:016x}"} for l in span.links
        ],
        "status": span.status.status_code.name,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exporter", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True, help="http://host:port of the server")
    ap.add_argument("--tenant", default="", help="X-Scope-OrgID to send")
    ap.add_argument("--authorization", default="", help="Authorization header value")
    ap.add_argument("--compression", choices=["none", "gzip", "deflate"], default="none")
    args = ap.parse_args()

    exporters, spans = build(args)
    results = [r for e in exporters for r in e.results]
    failed = [r for r in results if r != SpanExportResult.SUCCESS]
    if failed or not results:
        print(f"export failed: {len(failed)} of {len(results)} exports did not succeed", file=sys.stderr)
        sys.exit(1)
    trace_ids = sorted({f"{s.get_span_context().trace_id:032x}" for s in spans})
    print(
        json.dumps(
            {
                "requests": [base64.b64encode(r).decode() for e in exporters for r in e.requests],
                "trace_ids": trace_ids,
                "spans": [summary(s) for s in spans],
            }
        )
    )


if __name__ == "__main__":
    main()
