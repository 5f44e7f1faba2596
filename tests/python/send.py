#!/usr/bin/env python3
"""Sends a known, rich OTLP data set with the OpenTelemetry Python SDK.

    send.py --protocol grpc|http-protobuf|http-json --endpoint URL
            [--signal traces|metrics|logs|all] [--compression none|gzip]

--endpoint is "http://127.0.0.1:4317" (or "127.0.0.1:4317") for grpc and the
base URL "http://127.0.0.1:4318" for the HTTP protocols (/v1/<signal> is added).

grpc and http-protobuf use the SDK's own OTLP exporters. The SDK has no
OTLP/HTTP JSON exporter, so http-json encodes with the SDK's own protobuf
encoders (encode_spans / encode_metrics / encode_logs), converts to OTLP/JSON
(camelCase, ids as hex) and POSTs it with urllib.

Prints a JSON summary of what was sent on stdout:
    {"protocol": ..., "signals": [...],
     "traces": {"spans": [{name, trace_id, span_id, parent_span_id, kind, ...}]},
     "metrics": {"names": [...]}, "logs": {"records": [...]},
     "requests": {"traces": [<OTLP/JSON dict as sent>], ...}}
The "requests" entries use the same conventions as otlp_sink.py's "request"
field (MessageToDict, camelCase, hex ids), so a test can compare them deeply.
Exits non-zero if any export failed.
"""

import argparse
import base64
import gzip
import json
import logging
import sys
import time
import urllib.request

from google.protobuf import json_format
from opentelemetry import trace as trace_api
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

# ---------------------------------------------------------------------------
# The data set. The Rust interop test hard-codes the same values.
# ---------------------------------------------------------------------------
RESOURCE_ATTRIBUTES = {
    "service.name": "interop-test",
    "service.version": "1.2.3",
    "interop.custom": "resource-value",
    "interop.resource_int": 7,
}
SCOPE_NAME = "interop.scope"
SCOPE_VERSION = "0.4.2"

EVERY_TYPE = {
    "attr.str": "héllo wörld ✓ \"quoted\"\nline2",
    "attr.bool": True,
    "attr.int": 42,
    "attr.int_big": 9007199254740993,  # > 2^53: must survive JSON as a string
    "attr.int_neg": -17,
    "attr.double": 1.0625,
    "attr.str_list": ["a", "b", "c"],
    "attr.bool_list": [True, False, True],
    "attr.int_list": [1, -2, 3000000000],
    "attr.double_list": [1.5, -2.25, 0.0],
}


def _to_hex_ids(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                obj[key] = base64.b64decode(value).hex()
            else:
                _to_hex_ids(value)
    elif isinstance(obj, list):
        for value in obj:
            _to_hex_ids(value)
    return obj


def to_otlp_json(message):
    """OTLP/JSON dict of a protobuf request: camelCase keys, hex ids, int64 as strings."""
    return _to_hex_ids(json_format.MessageToDict(message, preserving_proto_field_name=False))


class JsonPoster:
    def __init__(self, url, compression):
        self.url = url
        self.compression = compression

    def post(self, body_dict):
        body = json.dumps(body_dict).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "kakehashi-interop-send/1"}
        if self.compression == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
                return 200 <= resp.status < 300
        except Exception as exc:  # noqa: BLE001
            print(f"send.py: POST {self.url} failed: {exc}", file=sys.stderr)
            return False


class Recording:
    """Remembers, per signal, the OTLP/JSON form of every request sent and whether all succeeded."""

    def __init__(self):
        self.requests = {"traces": [], "metrics": [], "logs": []}
        self.ok = True

    def note(self, signal_name, pb_request, success):
        self.requests[signal_name].append(to_otlp_json(pb_request))
        if not success:
            print(f"send.py: export of {signal_name} failed", file=sys.stderr)
            self.ok = False


class RecordingSpanExporter(SpanExporter):
    def __init__(self, inner, poster, recording):
        self.inner, self.poster, self.recording = inner, poster, recording

    def export(self, spans):
        request = encode_spans(spans)
        if self.poster is not None:
            success = self.poster.post(to_otlp_json(request))
        else:
            success = self.inner.export(spans) == SpanExportResult.SUCCESS
        self.recording.note("traces", request, success)
        return SpanExportResult.SUCCESS if success else SpanExportResult.FAILURE

    def shutdown(self):
        if self.inner is not None:
            self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class RecordingLogExporter(LogRecordExporter):
    def __init__(self, inner, poster, recording):
        self.inner, self.poster, self.recording = inner, poster, recording

    def export(self, batch):
        request = encode_logs(batch)
        if self.poster is not None:
            success = self.poster.post(to_otlp_json(request))
        else:
            success = self.inner.export(batch) == LogRecordExportResult.SUCCESS
        self.recording.note("logs", request, success)
        return LogRecordExportResult.SUCCESS if success else LogRecordExportResult.FAILURE

    def shutdown(self):
        if self.inner is not None:
            self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def make_exporters(protocol, endpoint, compression):
    """Returns {signal: (sdk_exporter or None, JsonPoster or None)}."""
    out = {}
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        ep = endpoint if "://" in endpoint else f"http://{endpoint}"
        kw = dict(endpoint=ep, insecure=True, timeout=10, compression=comp)
        out["traces"] = (OTLPSpanExporter(**kw), None)
        out["metrics"] = (OTLPMetricExporter(**kw), None)
        out["logs"] = (OTLPLogExporter(**kw), None)
    elif protocol == "http-protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        base = endpoint.rstrip("/")
        out["traces"] = (OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10, compression=comp), None)
        out["metrics"] = (OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=10, compression=comp), None)
        out["logs"] = (OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=10, compression=comp), None)
    elif protocol == "http-json":
        base = endpoint.rstrip("/")
        for sig in ("traces", "metrics", "logs"):
            out[sig] = (None, JsonPoster(f"{base}/v1/{sig}", compression))
    else:
        raise SystemExit(f"unknown protocol {protocol}")
    return out


def attr_summary(attrs):
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dict(attrs or {}).items()}


def send_traces(resource, exporter, poster, recording):
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(RecordingSpanExporter(exporter, poster, recording), schedule_delay_millis=60_000)
    )
    tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)

    # A span in another trace, to be the target of a link.
    with tracer.start_as_current_span("interop-link-target", kind=SpanKind.PRODUCER) as target:
        target.set_attribute("attr.target", True)
    target_ctx = target.get_span_context()

    link = Link(target_ctx, attributes={"link.str": "linked", "link.int": 99, "link.bool": False})
    with tracer.start_as_current_span(
        "interop-parent", kind=SpanKind.SERVER, attributes=EVERY_TYPE, links=[link]
    ) as parent:
        parent.add_event("parent-event", attributes={"event.str": "ev", "event.int": 1, "event.double": 2.5})
        with tracer.start_as_current_span("interop-child", kind=SpanKind.CLIENT) as child:
            child.set_attributes({"child.str": "c", "child.int_list": [7, 8, 9]})
            child.add_event(
                "child-event",
                attributes={"event.bool": True, "event.str_list": ["x", "y"], "event.double_list": [0.5, 1.5]},
            )
            child.set_status(Status(StatusCode.ERROR, "boom: child failed"))
        parent.set_status(Status(StatusCode.OK))

    provider.force_flush()
    provider.shutdown()

    spans = []
    for span in (target, parent, child):
        ctx = span.get_span_context()
        spans.append(
            {
                "name": span.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
                "kind": "SPAN_KIND_" + span.kind.name,
                "status_code": "STATUS_CODE_" + span.status.status_code.name,
                "status_message": span.status.description or "",
                "start_time_unix_nano": span.start_time,
                "end_time_unix_nano": span.end_time,
                "attributes": attr_summary(span.attributes),
                "events": [{"name": e.name, "attributes": attr_summary(e.attributes)} for e in span.events],
                "links": [
                    {
                        "trace_id": format(l.context.trace_id, "032x"),
                        "span_id": format(l.context.span_id, "016x"),
                        "attributes": attr_summary(l.attributes),
                    }
                    for l in span.links
                ],
            }
        )
    return {"spans": spans}


def send_metrics(resource, exporter, poster, recording):
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter(SCOPE_NAME, SCOPE_VERSION)

    counter = meter.create_counter("interop.requests", unit="1", description="requests handled")
    counter.add(5, {"route": "/a", "ok": True})
    counter.add(7, {"route": "/b", "ok": False})
    counter.add(1, {"route": "/a", "ok": True})

    updown = meter.create_up_down_counter("interop.queue_depth", unit="{item}", description="queue depth")
    updown.add(10, {"queue": "q1"})
    updown.add(-3, {"queue": "q1"})

    histogram = meter.create_histogram("interop.latency", unit="ms", description="latency")
    for value in (1.5, 12.0, 250.0):
        histogram.record(value, {"route": "/a"})

    gauge = meter.create_gauge("interop.temperature", unit="Cel", description="temperature")
    gauge.set(21.5, {"room": "lab", "floor": 3})

    data = reader.get_metrics_data()
    request = encode_metrics(data)
    if poster is not None:
        success = poster.post(to_otlp_json(request))
    else:
        success = exporter.export(data) == MetricExportResult.SUCCESS
        exporter.shutdown()
    recording.note("metrics", request, success)
    provider.shutdown()
    return {
        "names": ["interop.requests", "interop.queue_depth", "interop.latency", "interop.temperature"],
        "expected": {
            "interop.requests": {"type": "sum", "monotonic": True, "points": {"/a": 6, "/b": 7}},
            "interop.queue_depth": {"type": "sum", "monotonic": False, "points": {"q1": 7}},
            "interop.latency": {"type": "histogram", "count": 3, "sum": 263.5, "min": 1.5, "max": 250.0},
            "interop.temperature": {"type": "gauge", "value": 21.5},
        },
    }


def send_logs(resource, exporter, poster, recording):
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(RecordingLogExporter(exporter, poster, recording), schedule_delay_millis=60_000)
    )
    logger = provider.get_logger(SCOPE_NAME, SCOPE_VERSION)

    # Trace context for the log records: a span of a throwaway tracer provider.
    tracer = TracerProvider(resource=resource).get_tracer("interop.log-context")
    with tracer.start_as_current_span("log-context") as span:
        ctx = span.get_span_context()
        logger.emit(
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="interop log message ✓",
            attributes=dict(EVERY_TYPE, **{"log.extra": "yes"}),
        )
        logger.emit(
            severity_number=SeverityNumber.INFO2,
            severity_text="INFO2",
            body={"structured": "body", "count": 3, "nested": {"inner": [1, "two", True]}},
            attributes={"log.kind": "structured"},
        )
        # A record through the stdlib logging bridge.
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
        std_logger = logging.getLogger("interop.stdlib")
        std_logger.propagate = False
        std_logger.setLevel(logging.DEBUG)
        std_logger.addHandler(handler)
        std_logger.warning("stdlib warning %d", 123, extra={"stdlib.attr": "from-extra"})
        std_logger.removeHandler(handler)

    provider.force_flush()
    provider.shutdown()
    trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    return {
        "records": [
            {"body": "interop log message ✓", "severity_number": "SEVERITY_NUMBER_ERROR", "severity_text": "ERROR",
             "trace_id": trace_id, "span_id": span_id, "attributes": attr_summary(EVERY_TYPE)},
            {"body": {"structured": "body", "count": 3, "nested": {"inner": [1, "two", True]}},
             "severity_number": "SEVERITY_NUMBER_INFO2", "severity_text": "INFO2",
             "trace_id": trace_id, "span_id": span_id, "attributes": {"log.kind": "structured"}},
            {"body": "stdlib warning 123", "severity_number": "SEVERITY_NUMBER_WARN", "severity_text": "WARN",
             "trace_id": trace_id, "span_id": span_id, "attributes": {"stdlib.attr": "from-extra"}},
        ]
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", required=True, choices=["grpc", "http-protobuf", "http-json"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--signal", default="all", choices=["traces", "metrics", "logs", "all"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip"])
    args = parser.parse_args()

    signals = ["traces", "metrics", "logs"] if args.signal == "all" else [args.signal]
    resource = Resource.create(RESOURCE_ATTRIBUTES)
    exporters = make_exporters(args.protocol, args.endpoint, args.compression)
    recording = Recording()
    summary = {"protocol": args.protocol, "signals": signals, "resource": attr_summary(resource.attributes),
               "scope": {"name": SCOPE_NAME, "version": SCOPE_VERSION}}
    senders = {"traces": send_traces, "metrics": send_metrics, "logs": send_logs}
    started = time.monotonic()
    for sig in signals:
        exporter, poster = exporters[sig]
        summary[sig] = senders[sig](resource, exporter, poster, recording)
    summary["requests"] = recording.requests
    summary["elapsed_s"] = round(time.monotonic() - started, 3)
    summary["ok"] = recording.ok
    json.dump(summary, sys.stdout, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0 if recording.ok else 1


if __name__ == "__main__":
    sys.exit(main())
