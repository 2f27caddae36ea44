#!/usr/bin/env python3
"""A small shop traced with the OpenTelemetry Python SDK: frontend -> api -> database.

Three services, each with its own TracerProvider, Resource (service.name) and
BatchSpanProcessor, export to Sextant with the OTLP/HTTP protobuf exporter and Basic auth. Each
request is one trace of four spans with explicit start and end times, so every duration is
exact and the metrics generator's figures can be computed from the arguments alone:

  {P}frontend  SERVER  "GET /checkout"  root                         300 ms
  {P}frontend  CLIENT  "GET /items"     child of the above           250 ms  http.request.method=GET
  {P}api       SERVER  "GET /items"     child of the frontend CLIENT 200 ms
  {P}api       CLIENT  "SELECT items"   child of the api SERVER       50 ms  db.system=postgresql,
                                                                             db.name={P}db

With --errors-every K > 0, request i (0-based) fails when i % K == K - 1: the api SERVER span
and both frontend spans end with status ERROR ("boom"); the database span stays unset.

Prints one JSON document on stdout:
  {"trace_ids": [hex, ...], "requests": N, "errors": E, "exports_ok": true}
Exits 1 (the reason on stderr) if any export did not succeed.
"""

import argparse
import base64
import json
import sys
import time

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from recording_exporter import RecordingExporter

MS = 1_000_000  # nanoseconds


def service(name, args, exporters):
    authorization = "Basic " + base64.b64encode(f"{args.tenant}:{args.key}".encode()).decode()
    exporter = RecordingExporter(
        OTLPSpanExporter(
            endpoint=args.endpoint.rstrip("/") + "/v1/traces",
            headers={"authorization": authorization},
            timeout=20,
        )
    )
    exporters.append(exporter)
    provider = TracerProvider(resource=Resource({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    return provider


def one_request(t0, fails, prefix, frontend, api):
    """One checkout: four spans in one trace, starting at t0 (ns). Returns the trace ID."""
    boom = Status(StatusCode.ERROR, "boom")
    root = frontend.start_span("GET /checkout", context=Context(), kind=SpanKind.SERVER, start_time=t0)
    call = frontend.start_span(
        "GET /items",
        context=trace_api.set_span_in_context(root),
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": "GET"},
        start_time=t0 + 10 * MS,
    )
    handler = api.start_span(
        "GET /items",
        context=trace_api.set_span_in_context(call),
        kind=SpanKind.SERVER,
        start_time=t0 + 20 * MS,
    )
    query = api.start_span(
        "SELECT items",
        context=trace_api.set_span_in_context(handler),
        kind=SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.name": f"{prefix}db"},
        start_time=t0 + 50 * MS,
    )
    query.end(end_time=t0 + 100 * MS)
    if fails:
        handler.set_status(boom)
        call.set_status(boom)
        root.set_status(boom)
    handler.end(end_time=t0 + 220 * MS)
    call.end(end_time=t0 + 260 * MS)
    root.end(end_time=t0 + 300 * MS)
    return f"{root.get_span_context().trace_id:032x}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="http://host:port of the OTLP/HTTP listener")
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--key", required=True, help="an API key with traces:write")
    ap.add_argument("--requests", type=int, required=True, help="how many checkouts")
    ap.add_argument("--errors-every", type=int, default=0, help="every K-th request fails (0: none)")
    ap.add_argument("--prefix", default="", help="prepended to every service and database name")
    args = ap.parse_args()
    if args.requests < 1 or args.errors_every < 0:
        ap.error("--requests must be positive and --errors-every not negative")

    exporters = []
    providers = [service(f"{args.prefix}{name}", args, exporters) for name in ("frontend", "api", "db")]
    frontend = providers[0].get_tracer("shop.frontend")
    api = providers[1].get_tracer("shop.api")
    # The database never reports spans of its own: its provider stays idle, as a real database's
    # would, and only names the third service.

    base = time.time_ns()
    k = args.errors_every
    trace_ids = []
    errors = 0
    for i in range(args.requests):
        fails = k > 0 and i % k == k - 1
        errors += fails
        trace_ids.append(one_request(base + i * MS, fails, args.prefix, frontend, api))

    for provider in providers:
        if not provider.force_flush(30000):
            print("force_flush timed out", file=sys.stderr)
            sys.exit(1)
        provider.shutdown()
    results = [r for e in exporters for r in e.results]
    failed = [r for r in results if r != SpanExportResult.SUCCESS]
    if failed or not results:
        print(f"export failed: {len(failed)} of {len(results)} exports did not succeed", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"trace_ids": trace_ids, "requests": args.requests, "errors": errors, "exports_ok": True}))


if __name__ == "__main__":
    main()
