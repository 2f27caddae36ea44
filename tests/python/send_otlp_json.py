#!/usr/bin/env python3
"""Send OTLP/JSON to Sextant the way a hand-rolled client does: documents built by hand with hex
IDs, posted with urllib to POST /v1/traces (the first request plain, the second gzip-compressed).

Covers what the SDK cannot send: bytes and key-value-list attributes, integers both as JSON
strings and as numbers, numeric enums, flags, dropped counts, trace state on a link.

Prints one JSON document on stdout: json_requests (the documents exactly as posted) and
trace_ids (hex). Exits 1 if a request is not answered 200 with a JSON body without rejections.
"""

import argparse
import base64
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request


def hex_id(n):
    while True:
        b = os.urandom(n)
        if any(b):
            return b.hex()


def attr(key, value):
    return {"key": key, "value": value}


def document(service, trace_id, now):
    root_id = hex_id(8)
    child_id = hex_id(8)
    start = now - 5_000_000
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        attr("service.name", {"stringValue": service}),
                        attr("host.name", {"stringValue": "json-host"}),
                        attr("host.cpus", {"intValue": "4"}),
                    ],
                    "droppedAttributesCount": 1,
                },
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "hand.rolled",
                            "version": "0.0.1",
                            "attributes": [attr("scope.kind", {"stringValue": "manual"})],
                        },
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": root_id,
                                "traceState": "vendor=abc",
                                "flags": 1,
                                "name": "HTTP GET /json",
                                "kind": 2,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    attr("str", {"stringValue": "text"}),
                                    attr("int.as.string", {"intValue": "-12345678901234"}),
                                    attr("int.as.number", {"intValue": 77}),
                                    attr("double", {"doubleValue": 2.5}),
                                    attr("bool", {"boolValue": True}),
                                    attr("bytes", {"bytesValue": base64.b64encode(b"\x00\x01\xfe\xff").decode()}),
                                    attr(
                                        "array",
                                        {
                                            "arrayValue": {
                                                "values": [
                                                    {"stringValue": "x"},
                                                    {"intValue": "2"},
                                                    {"boolValue": False},
                                                    {"doubleValue": 0.125},
                                                ]
                                            }
                                        },
                                    ),
                                    attr(
                                        "kvlist",
                                        {
                                            "kvlistValue": {
                                                "values": [
                                                    attr("inner.str", {"stringValue": "in"}),
                                                    attr("inner.int", {"intValue": "5"}),
                                                ]
                                            }
                                        },
                                    ),
                                ],
                                "droppedAttributesCount": 2,
                                "events": [
                                    {
                                        "timeUnixNano": str(start + 1000),
                                        "name": "json.event",
                                        "attributes": [attr("event.attr", {"stringValue": "e"})],
                                        "droppedAttributesCount": 1,
                                    }
                                ],
                                "droppedEventsCount": 3,
                                "status": {"code": 2, "message": "something failed"},
                            },
                            {
                                "traceId": trace_id,
                                "spanId": child_id,
                                "parentSpanId": root_id,
                                "name": "child",
                                "kind": 3,
                                "startTimeUnixNano": start + 2000,
                                "endTimeUnixNano": str(now - 1000),
                                "links": [
                                    {
                                        "traceId": hex_id(16),
                                        "spanId": hex_id(8),
                                        "traceState": "k=v",
                                        "attributes": [attr("link.attr", {"intValue": "9"})],
                                        "droppedAttributesCount": 1,
                                        "flags": 1,
                                    }
                                ],
                                "droppedLinksCount": 4,
                                "status": {"code": 1},
                            },
                        ],
                    }
                ],
                "schemaUrl": "https://opentelemetry.io/schemas/1.24.0",
            }
        ]
    }


def post(url, tenant, authorization, body, use_gzip):
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if use_gzip:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    if authorization:
        headers["Authorization"] = authorization
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            status, ctype, payload = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        raise SystemExit(f"POST {url} answered {err.code}: {err.read()[:500]!r}")
    if status != 200:
        raise SystemExit(f"POST {url} answered {status}")
    if not ctype.startswith("application/json"):
        raise SystemExit(f"POST {url}: response content type {ctype!r}, want application/json")
    answer = json.loads(payload or b"{}")
    rejected = int(answer.get("partialSuccess", {}).get("rejectedSpans", 0) or 0)
    if rejected:
        raise SystemExit(f"POST {url}: {rejected} spans rejected: {answer}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="http://host:port of the server")
    ap.add_argument("--tenant", default="", help="X-Scope-OrgID to send")
    ap.add_argument("--authorization", default="", help="Authorization header value")
    args = ap.parse_args()
    url = args.endpoint.rstrip("/") + "/v1/traces"
    now = time.time_ns()
    docs, trace_ids = [], []
    for i, use_gzip in enumerate([False, True]):
        trace_id = hex_id(16)
        doc = document(f"json-service-{i}", trace_id, now)
        post(url, args.tenant, args.authorization, doc, use_gzip)
        docs.append(doc)
        trace_ids.append(trace_id)
    print(json.dumps({"json_requests": docs, "trace_ids": trace_ids}))


if __name__ == "__main__":
    try:
        main()
    except SystemExit as e:
        if e.code not in (None, 0):
            print(e.code, file=sys.stderr)
            sys.exit(1)
        raise
