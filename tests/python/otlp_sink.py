#!/usr/bin/env python3
"""A downstream OTLP server for interoperability tests (not kakehashi code).

Listens on 127.0.0.1 for OTLP/gRPC (grpcio + the generated servicers of
opentelemetry-proto) and/or OTLP/HTTP (http.server; protobuf and JSON bodies,
optionally gzip-compressed) and appends every received export request as one
JSON line to the output file:

    {"signal": "traces"|"metrics"|"logs",
     "transport": "grpc"|"http-protobuf"|"http-json",
     "path": "/v1/traces" (HTTP only), "content_encoding": "gzip"|null,
     "headers": {...selected request headers / gRPC metadata...},
     "request": <MessageToDict(request), camelCase keys, ids as lowercase hex>}

A request that cannot be decoded is answered with an error and written as
{"signal": ..., "transport": ..., "error": "..."}.

Prints "READY grpc=<port> http=<port>" on stdout once listening.

Usage: otlp_sink.py --output FILE [--grpc-port N] [--http-port N]
(port 0 picks a free port; an omitted port disables that transport).
"""

import argparse
import base64
import gzip
import json
import signal
import sys
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ID_KEYS = ("traceId", "spanId", "parentSpanId")

SIGNALS = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}
HTTP_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


def ids_to_hex(obj):
    """Rewrites base64 trace/span ids (protobuf JSON mapping of bytes) to lowercase hex, in place."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ID_KEYS and isinstance(value, str):
                obj[key] = base64.b64decode(value).hex()
            else:
                ids_to_hex(value)
    elif isinstance(obj, list):
        for value in obj:
            ids_to_hex(value)
    return obj


def ids_to_base64(obj):
    """Rewrites OTLP/JSON hex trace/span ids to base64 so json_format.Parse accepts them, in place."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ID_KEYS and isinstance(value, str):
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            else:
                ids_to_base64(value)
    elif isinstance(obj, list):
        for value in obj:
            ids_to_base64(value)
    return obj


def message_to_dict(message):
    return ids_to_hex(json_format.MessageToDict(message, preserving_proto_field_name=False))


class Recorder:
    def __init__(self, path):
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record):
        line = json.dumps(record, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


def make_grpc_servicers(recorder):
    def record(signal_name, request, context):
        try:
            metadata = {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}
        except Exception:  # pragma: no cover - metadata is best effort
            metadata = {}
        recorder.write(
            {
                "signal": signal_name,
                "transport": "grpc",
                "path": None,
                "content_encoding": metadata.get("grpc-encoding"),
                "headers": metadata,
                "request": message_to_dict(request),
            }
        )

    class Trace(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            record("traces", request, context)
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            record("metrics", request, context)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):
            record("logs", request, context)
            return logs_service_pb2.ExportLogsServiceResponse()

    return Trace(), Metrics(), Logs()


def make_http_handler(recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "otlp-sink/1"

        def log_message(self, fmt, *args):  # keep stderr quiet
            pass

        def _reply(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            else:
                body = self.rfile.read(length)
            signal_name = HTTP_PATHS.get(path)
            content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            encoding = (self.headers.get("Content-Encoding") or "").strip().lower() or None
            is_json = content_type == "application/json"
            transport = "http-json" if is_json else "http-protobuf"
            base = {
                "signal": signal_name,
                "transport": transport,
                "path": path,
                "content_encoding": encoding,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
            if signal_name is None:
                recorder.write(dict(base, error=f"unknown path {path}"))
                self._reply(404, b"not found", "text/plain")
                return
            req_cls, resp_cls = SIGNALS[signal_name]
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding not in (None, "identity"):
                    raise ValueError(f"unsupported Content-Encoding {encoding}")
                if content_type not in ("application/x-protobuf", "application/json"):
                    raise ValueError(f"unsupported Content-Type {content_type!r}")
                request = req_cls()
                if is_json:
                    json_format.ParseDict(ids_to_base64(json.loads(body)), request)
                else:
                    request.ParseFromString(body)
            except Exception as exc:  # noqa: BLE001 - reported to the test through the file
                recorder.write(dict(base, error=f"{type(exc).__name__}: {exc}"))
                self._reply(400, str(exc).encode(), "text/plain")
                return
            recorder.write(dict(base, request=message_to_dict(request)))
            response = resp_cls()
            if is_json:
                self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
            else:
                self._reply(200, response.SerializeToString(), "application/x-protobuf")

        def _read_chunked(self):
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="file to append JSON lines to")
    parser.add_argument("--grpc-port", type=int, help="OTLP/gRPC port on 127.0.0.1 (0 = any)")
    parser.add_argument("--http-port", type=int, help="OTLP/HTTP port on 127.0.0.1 (0 = any)")
    args = parser.parse_args()
    if args.grpc_port is None and args.http_port is None:
        parser.error("give --grpc-port and/or --http-port")

    recorder = Recorder(args.output)
    grpc_port = http_port = None
    grpc_server = http_server = None

    if args.grpc_port is not None:
        grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.so_reuseport", 0)],
        )
        trace, metrics, logs = make_grpc_servicers(recorder)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(trace, grpc_server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, grpc_server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(logs, grpc_server)
        grpc_port = grpc_server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")
        if grpc_port == 0:
            sys.exit(f"otlp_sink: cannot bind gRPC port {args.grpc_port}")
        grpc_server.start()

    if args.http_port is not None:
        http_server = ThreadingHTTPServer(("127.0.0.1", args.http_port), make_http_handler(recorder))
        http_server.daemon_threads = True
        http_port = http_server.server_address[1]
        threading.Thread(target=http_server.serve_forever, daemon=True).start()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    print(f"READY grpc={grpc_port or ''} http={http_port or ''}", flush=True)
    while not stop.wait(0.5):
        pass
    if http_server is not None:
        http_server.shutdown()
    if grpc_server is not None:
        grpc_server.stop(0.5)


if __name__ == "__main__":
    main()
