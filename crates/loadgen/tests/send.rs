//! End-to-end tests: the real `loadgen` binary against in-test OTLP servers on 127.0.0.1:0 that
//! count spans and unique span ids.

use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::Value;
use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tonic::codec::CompressionEncoding;

/// How the in-test server answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Accept,
    /// Refuse every request (gRPC UNAVAILABLE / HTTP 503).
    Refuse,
    /// Refuse the first n requests, then accept.
    RefuseFirst(u64),
    /// Accept, but report this many spans per request as rejected.
    PartialReject(i64),
}

#[derive(Debug)]
struct Counts {
    mode: Mode,
    requests: AtomicU64,
    spans: AtomicU64,
    ids: Mutex<HashSet<u64>>,
}

impl Counts {
    fn new(mode: Mode) -> Arc<Counts> {
        Arc::new(Counts {
            mode,
            requests: AtomicU64::new(0),
            spans: AtomicU64::new(0),
            ids: Mutex::new(HashSet::new()),
        })
    }

    /// Returns whether to accept; counts the spans of accepted requests.
    fn receive(&self, request: &ExportTraceServiceRequest) -> bool {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let accept = match self.mode {
            Mode::Refuse => false,
            Mode::RefuseFirst(k) => n >= k,
            Mode::Accept | Mode::PartialReject(_) => true,
        };
        if accept {
            let mut ids = self.ids.lock().unwrap();
            for span in request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
            {
                self.spans.fetch_add(1, Ordering::SeqCst);
                ids.insert(u64::from_be_bytes(
                    span.span_id.as_slice().try_into().unwrap(),
                ));
            }
        }
        accept
    }

    fn response(&self) -> ExportTraceServiceResponse {
        match self.mode {
            Mode::PartialReject(n) => ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message: "too many attributes".into(),
                }),
            },
            _ => ExportTraceServiceResponse::default(),
        }
    }

    fn spans(&self) -> u64 {
        self.spans.load(Ordering::SeqCst)
    }

    fn unique(&self) -> u64 {
        self.ids.lock().unwrap().len() as u64
    }
}

struct GrpcSink(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.0.receive(request.get_ref()) {
            Ok(tonic::Response::new(self.0.response()))
        } else {
            Err(tonic::Status::unavailable("busy"))
        }
    }
}

async fn grpc_server(mode: Mode) -> (SocketAddr, Arc<Counts>) {
    let counts = Counts::new(mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(GrpcSink(counts.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, counts)
}

async fn http_server(mode: Mode) -> (SocketAddr, Arc<Counts>) {
    let counts = Counts::new(mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = counts.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let counts = state.clone();
            async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let mut raw = body.to_vec();
                if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&raw[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    raw = out;
                }
                let request = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
                if counts.receive(&request) {
                    (StatusCode::OK, counts.response().encode_to_vec())
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, Vec::new())
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, counts)
}

/// Runs `loadgen` with `args`; returns the exit code, the parsed JSON report (if any) and stderr.
async fn loadgen(args: &[&str]) -> (i32, Option<Value>, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let json = (!stdout.trim().is_empty()).then(|| {
        assert_eq!(
            stdout.trim().lines().count(),
            1,
            "exactly one JSON line: {stdout}"
        );
        serde_json::from_str(stdout.trim()).unwrap()
    });
    (out.status.code().unwrap_or(-1), json, stderr)
}

async fn send(addr: SocketAddr, protocol: &str, extra: &[&str]) -> Value {
    let endpoint = addr.to_string();
    let mut args = vec![
        "send",
        "--endpoint",
        &endpoint,
        "--protocol",
        protocol,
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, json, stderr) = loadgen(&args).await;
    assert_eq!(code, 0, "{stderr}");
    json.unwrap_or_else(|| panic!("no JSON report; stderr: {stderr}"))
}

fn u(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {report}"))
}

fn assert_consistent(r: &Value) {
    assert_eq!(
        u(r, "sent_spans"),
        u(r, "accepted_spans") + u(r, "refused_spans") + u(r, "failed_spans"),
        "{r}"
    );
    assert_eq!(
        u(r, "requests"),
        u(r, "ok_requests") + u(r, "refused_requests") + u(r, "failed_requests"),
        "{r}"
    );
}

#[tokio::test]
async fn grpc_every_span_accepted_once() {
    let (addr, counts) = grpc_server(Mode::Accept).await;
    let r = send(
        addr,
        "grpc",
        &["--max-spans", "4950", "--duration", "10s", "--seed", "42"],
    )
    .await;
    assert_consistent(&r);
    assert_eq!(r["mode"], "send");
    assert_eq!(r["protocol"], "grpc");
    assert_eq!(r["endpoint"], addr.to_string());
    assert_eq!(u(&r, "seed"), 42);
    assert_eq!(u(&r, "sent_spans"), 4950);
    assert_eq!(u(&r, "accepted_spans"), 4950);
    assert_eq!(u(&r, "requests"), 50, "49 full batches and a short one");
    assert_eq!(counts.spans(), 4950);
    assert_eq!(counts.unique(), 4950);
    assert_eq!((u(&r, "first_span_seq"), u(&r, "last_span_seq")), (1, 4950));
    let ids = counts.ids.lock().unwrap();
    assert!(ids
        .iter()
        .all(|id| id >> 40 == 42 && (1..=4950).contains(&(id & ((1 << 40) - 1)))));
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(r["latency_ms"]["max"].as_f64().unwrap() >= r["latency_ms"]["p99"].as_f64().unwrap());
    assert!(r["loadgen_cpu_s"].as_f64().is_some());
    assert_eq!(r["errors"], serde_json::json!({}));
}

#[tokio::test]
async fn http_gzip_every_span_accepted_once() {
    let (addr, counts) = http_server(Mode::Accept).await;
    let r = send(
        addr,
        "http",
        &[
            "--compression",
            "gzip",
            "--connections",
            "2",
            "--max-spans",
            "3000",
            "--batch-size",
            "250",
        ],
    )
    .await;
    assert_consistent(&r);
    assert_eq!(u(&r, "accepted_spans"), 3000);
    assert_eq!(u(&r, "ok_requests"), 12);
    assert_eq!(counts.spans(), 3000);
    assert_eq!(counts.unique(), 3000);
}

#[tokio::test]
async fn grpc_gzip_rate_is_held_roughly() {
    let (addr, counts) = grpc_server(Mode::Accept).await;
    let r = send(
        addr,
        "grpc",
        &[
            "--compression",
            "gzip",
            "--rate",
            "2000",
            "--duration",
            "2s",
            "--batch-size",
            "100",
        ],
    )
    .await;
    assert_consistent(&r);
    assert_eq!(u(&r, "offered_rate"), 2000);
    let accepted = u(&r, "accepted_spans");
    // 2 s at 2000 spans/s = ~4000 spans; wide bounds, no tight timing.
    assert!((2000..=6000).contains(&accepted), "{r}");
    assert_eq!(counts.spans(), accepted);
    assert_eq!(counts.unique(), accepted);
    let achieved = r["achieved_rate"].as_f64().unwrap();
    assert!((800.0..=3000.0).contains(&achieved), "{r}");
}

#[tokio::test]
async fn grpc_unavailable_is_refused() {
    let (addr, counts) = grpc_server(Mode::Refuse).await;
    let r = send(addr, "grpc", &["--rate", "2000", "--duration", "500ms"]).await;
    assert_consistent(&r);
    assert_eq!(u(&r, "accepted_spans"), 0);
    assert!(u(&r, "refused_spans") > 0, "{r}");
    assert_eq!(u(&r, "refused_requests"), u(&r, "requests"));
    assert_eq!(u(&r["errors"], "UNAVAILABLE"), u(&r, "refused_requests"));
    assert_eq!(counts.spans(), 0);
}

#[tokio::test]
async fn http_503_is_refused() {
    let (addr, _counts) = http_server(Mode::Refuse).await;
    let r = send(addr, "http", &["--rate", "2000", "--duration", "500ms"]).await;
    assert_consistent(&r);
    assert_eq!(u(&r, "accepted_spans"), 0);
    assert!(u(&r, "refused_requests") > 0, "{r}");
    assert_eq!(u(&r["errors"], "http 503"), u(&r, "refused_requests"));
}

#[tokio::test]
async fn partial_success_counts_rejected_spans_as_refused() {
    let (addr, _counts) = grpc_server(Mode::PartialReject(10)).await;
    let r = send(addr, "grpc", &["--max-spans", "1000"]).await;
    assert_consistent(&r);
    assert_eq!(u(&r, "ok_requests"), 10);
    assert_eq!(u(&r, "refused_spans"), 100);
    assert_eq!(u(&r, "accepted_spans"), 900);
}

#[tokio::test]
async fn dead_port_fails() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for protocol in ["grpc", "http"] {
        let r = send(port, protocol, &["--rate", "2000", "--duration", "300ms"]).await;
        assert_consistent(&r);
        assert_eq!(u(&r, "accepted_spans"), 0);
        assert!(u(&r, "failed_requests") > 0, "{r}");
        assert_eq!(
            u(&r["errors"], "connection refused"),
            u(&r, "failed_requests"),
            "{r}"
        );
    }
}

#[tokio::test]
async fn retry_for_turns_transient_refusals_into_accepted() {
    let (addr, counts) = grpc_server(Mode::RefuseFirst(3)).await;
    let r = send(
        addr,
        "grpc",
        &[
            "--connections",
            "1",
            "--max-spans",
            "1000",
            "--retry-for",
            "5s",
        ],
    )
    .await;
    assert_consistent(&r);
    assert_eq!(u(&r, "accepted_spans"), 1000, "{r}");
    assert_eq!(u(&r, "refused_spans"), 0);
    assert_eq!(u(&r, "retried_requests"), 1);
    assert_eq!(u(&r["errors"], "UNAVAILABLE"), 3);
    assert_eq!(counts.unique(), 1000);

    let (addr, counts) = http_server(Mode::RefuseFirst(2)).await;
    let r = send(addr, "http", &["--max-spans", "500", "--retry-for", "5s"]).await;
    assert_eq!(u(&r, "accepted_spans"), 500, "{r}");
    assert_eq!(u(&r["errors"], "http 503"), 2);
    assert_eq!(counts.unique(), 500);
}

#[tokio::test]
async fn non_loopback_endpoint_is_refused_with_exit_2() {
    for endpoint in ["192.0.2.1:4317", "0.0.0.0:4317", "[2001:db8::1]:4317"] {
        let (code, json, stderr) = loadgen(&[
            "send",
            "--endpoint",
            endpoint,
            "--protocol",
            "grpc",
            "--json",
        ])
        .await;
        assert_eq!(code, 2, "{endpoint}: {stderr}");
        assert!(json.is_none());
        assert!(stderr.contains("loopback"), "{stderr}");
    }
}

#[tokio::test]
async fn decode_reports_spans_per_cpu_second() {
    let (code, json, stderr) = loadgen(&[
        "decode",
        "--duration",
        "300ms",
        "--batch-size",
        "50",
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let r = json.unwrap();
    assert_eq!(r["mode"], "decode");
    assert_eq!(u(&r, "batch_size"), 50);
    assert!(u(&r, "spans") > 0);
    assert!(r["ns_per_span"].as_f64().is_some());
    assert!(r["wall_s"].as_f64().unwrap() >= 0.3);
}
