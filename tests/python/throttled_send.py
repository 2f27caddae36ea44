#!/usr/bin/env python3
"""Send spans in several exports with a real OpenTelemetry OTLP exporter, recording every attempt.

Builds `--exports` traces of `--spans` spans each (every span carries a `pad` attribute of
`--pad-bytes` random letters), and hands each trace to the exporter's export() as one batch,
one after the other, so that the exporter's own retry rules decide what happens when the
server throttles: the gRPC exporter retries RESOURCE_EXHAUSTED (waiting the RetryInfo delay it
finds in the `google.rpc.retryinfo-bin` trailer, else its exponential backoff); the HTTP
exporter retries 429/502/503/504 only.

Each attempt is observed on the wire side of the exporter: for gRPC by wrapping the exporter's
stub (status code, trailing metadata names, the RetryInfo delay found in
`grpc-status-details-bin` and in `google.rpc.retryinfo-bin`), for HTTP by a response hook on
the exporter's requests session (status code, Retry-After).

Prints one JSON document on stdout:
  requests   - the successfully exported batches as base64 protobuf ExportTraceServiceRequest
  trace_ids  - hex trace IDs of the successful batches
  exports    - per export: result, bytes, seconds, attempts
  warnings   - the exporter's log messages (retries, give-ups)
Always exits 0 once it ran: the caller judges the outcome.
"""

import argparse
import base64
import json
import logging
import random
import string
import sys
import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def retry_delays(trailing):
    """The RetryInfo delay in grpc-status-details-bin and in google.rpc.retryinfo-bin (or None)."""
    from google.rpc import error_details_pb2, status_pb2

    def seconds(info):
        return info.retry_delay.seconds + info.retry_delay.nanos / 1e9

    in_details = None
    in_trailer = None
    for key, value in trailing:
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            status.ParseFromString(value)
            for any_ in status.details:
                if any_.type_url.endswith("/google.rpc.RetryInfo"):
                    info = error_details_pb2.RetryInfo()
                    info.ParseFromString(any_.value)
                    in_details = seconds(info)
        elif key == "google.rpc.retryinfo-bin":
            info = error_details_pb2.RetryInfo()
            info.ParseFromString(value)
            in_trailer = seconds(info)
    return in_details, in_trailer


class RecordingStub:
    """Wraps the gRPC exporter's TraceService stub and records each Export attempt."""

    def __init__(self, inner, attempts):
        self.inner = inner
        self.attempts = attempts

    def Export(self, *args, **kwargs):  # noqa: N802 (the stub's method name)
        import grpc

        try:
            response = self.inner.Export(*args, **kwargs)
        except grpc.RpcError as error:
            trailing = list(error.trailing_metadata() or [])
            in_details, in_trailer = retry_delays(trailing)
            self.attempts.append(
                {
                    "code": error.code().name,
                    "message": error.details(),
                    "trailers": sorted({k for k, _ in trailing}),
                    "retry_info_details": in_details,
                    "retry_info_trailer": in_trailer,
                    "at": time.monotonic(),
                }
            )
            raise
        self.attempts.append({"code": "OK", "at": time.monotonic()})
        return response


def make_exporter(args, attempts):
    if args.exporter == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        headers = (("authorization", args.authorization),) if args.authorization else None
        exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, headers=headers, timeout=args.timeout)
        exporter._client = RecordingStub(exporter._client, attempts)
        return exporter
    import requests
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    session = requests.Session()

    def hook(response, *_args, **_kwargs):
        attempts.append(
            {
                "code": response.status_code,
                "retry_after": response.headers.get("Retry-After"),
                "at": time.monotonic(),
            }
        )

    session.hooks["response"].append(hook)
    headers = {"Authorization": args.authorization} if args.authorization else None
    return OTLPSpanExporter(
        endpoint=args.endpoint.rstrip("/") + "/v1/traces", headers=headers, timeout=args.timeout, session=session
    )


def batches(args):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "throttled-sender"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e.throttled")
    for i in range(args.exports):
        memory.clear()
        with tracer.start_as_current_span(f"export-{i}") as root:
            root.set_attribute("pad", pad(args.pad_bytes))
            for j in range(args.spans - 1):
                with tracer.start_as_current_span(f"child-{j}") as child:
                    child.set_attribute("pad", pad(args.pad_bytes))
        yield list(memory.get_finished_spans())


def pad(n):
    return "".join(random.choices(string.ascii_letters, k=n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exporter", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True, help="http://host:port of the server")
    ap.add_argument("--authorization", default="", help="Authorization header value")
    ap.add_argument("--exports", type=int, default=6)
    ap.add_argument("--spans", type=int, default=10, help="spans per export (one trace)")
    ap.add_argument("--pad-bytes", type=int, default=600)
    ap.add_argument("--timeout", type=float, default=30, help="the exporter's timeout per export, seconds")
    args = ap.parse_args()

    log = Warnings()
    logging.getLogger("opentelemetry").addHandler(log)
    logging.getLogger("opentelemetry").setLevel(logging.INFO)

    exports = []
    requests_ok = []
    trace_ids = []
    for batch in batches(args):
        attempts = []
        exporter = make_exporter(args, attempts)
        body = encode_spans(batch).SerializeToString()
        start = time.monotonic()
        result = exporter.export(batch)
        seconds = time.monotonic() - start
        exporter.shutdown()
        for a in attempts:
            a["at"] = round(a["at"] - start, 3)
        exports.append(
            {
                "result": "SUCCESS" if result == SpanExportResult.SUCCESS else "FAILURE",
                "bytes": len(body),
                "spans": len(batch),
                "seconds": round(seconds, 3),
                "attempts": attempts,
            }
        )
        if result == SpanExportResult.SUCCESS:
            requests_ok.append(base64.b64encode(body).decode())
            trace_ids.append(f"{batch[0].get_span_context().trace_id:032x}")
    print(json.dumps({"requests": requests_ok, "trace_ids": trace_ids, "exports": exports, "warnings": log.messages}))


if __name__ == "__main__":
    sys.exit(main())
