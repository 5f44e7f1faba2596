#!/usr/bin/env python3
"""Sends the traces of a small web service with the OpenTelemetry Python SDK over OTLP/gRPC.

    send_web_traces.py --endpoint 127.0.0.1:4317 [--extra N] [--extra-attr-bytes B]

Three request traces, as an instrumented web service would produce them:
  GET /health      server span + internal child "HealthCheck Local" (the seed app's attributes)
  GET /users/{id}  server span + client DB span (postgresql, a literal in the statement)
  POST /checkout   server span with status Error, HTTP 500 and a recorded exception
  GET /admin       (with --user-drop) a server span the application drops: sampling.priority -1
plus --extra independent internal spans (each its own trace), optionally carrying an attribute
of --extra-attr-bytes bytes, for volume tests.

Prints a JSON summary on stdout: {"spans": [{name, trace_id, span_id, parent_span_id, kind,
status_code, status_message, start, end, attributes}], "sdk_version": "..."} and exits non-zero
if the export failed.
"""

import argparse
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.version import __version__ as sdk_version

SCOPE = "e2e.web"


class CheckingExporter(SpanExporter):
    """Forwards to the OTLP exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner, self.ok, self.spans = inner, True, []

    def export(self, spans):
        self.spans.extend(spans)
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.ok = False
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--extra", type=int, default=0)
    ap.add_argument("--extra-attr-bytes", type=int, default=0)
    ap.add_argument("--user-drop", action="store_true")
    args = ap.parse_args()

    resource = Resource.create({"service.name": "e2e-web", "service.version": "1.4.0"})
    ep = args.endpoint if "://" in args.endpoint else f"http://{args.endpoint}"
    exporter = CheckingExporter(OTLPSpanExporter(endpoint=ep, insecure=True, timeout=30))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=max(2048, args.extra + 100), max_export_batch_size=512, schedule_delay_millis=60_000)
    )
    tracer = provider.get_tracer(SCOPE, "0.1.0")

    with tracer.start_as_current_span(
        "GET /health",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "GET", "http.route": "/health", "url.path": "/health"},
    ) as server:
        with tracer.start_as_current_span(
            "HealthCheck Local",
            kind=SpanKind.INTERNAL,
            attributes={
                "custom.tag": "health-check",
                "custom.debugTag": "debug-on",
                "endpoint": "/health",
                "service.name": "sample-app",
                "environment": "local",
                "debug_mode": True,
                "random_number": 42,
            },
        ):
            pass
        server.set_attribute("http.response.status_code", 200)

    with tracer.start_as_current_span(
        "GET /users/{id}",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "GET", "http.route": "/users/{id}"},
    ) as server:
        with tracer.start_as_current_span(
            "SELECT app.users",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "postgresql",
                "db.namespace": "app",
                "db.statement": "SELECT * FROM users WHERE id = 42",
            },
        ):
            pass
        server.set_attribute("http.response.status_code", 200)

    with tracer.start_as_current_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        # A 16-digit order number shaped like a Visa card number: the Go exporter sends it as
        # is (its trace-agent runs no credit-card scan), so kakehashi must too.
        attributes={
            "http.request.method": "POST",
            "http.route": "/checkout",
            "app.order_number": "4111111111111111",
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as server:
        try:
            raise RuntimeError("card declined")
        except RuntimeError as exc:
            server.record_exception(exc)
        server.set_attribute("http.response.status_code", 500)
        server.set_status(Status(StatusCode.ERROR, "payment failed"))

    if args.user_drop:
        # Datadog gets no span of this trace, but its APM stats count it: the agent computes
        # stats before sampling.
        with tracer.start_as_current_span(
            "GET /admin",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "GET", "http.route": "/admin", "sampling.priority": -1},
        ) as server:
            server.set_attribute("http.response.status_code", 200)

    filler = "x" * args.extra_attr_bytes
    for i in range(args.extra):
        attrs = {"extra.index": i}
        if filler:
            attrs["extra.blob"] = filler
        with tracer.start_as_current_span(f"extra-{i}", kind=SpanKind.INTERNAL, attributes=attrs):
            pass

    provider.force_flush()
    provider.shutdown()

    out = []
    for span in exporter.spans:
        ctx = span.get_span_context()
        out.append(
            {
                "name": span.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
                "kind": span.kind.name,
                "status_code": span.status.status_code.name,
                "status_message": span.status.description or "",
                "start": span.start_time,
                "end": span.end_time,
                "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in span.attributes.items()
                               if k != "extra.blob"},
            }
        )
    json.dump({"spans": out, "sdk_version": sdk_version}, sys.stdout)
    if not exporter.ok:
        print("send_web_traces.py: an export failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
