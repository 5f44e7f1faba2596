//! Backpressure end to end: a downstream that stops answering, a tiny sending queue, and a flood
//! of clients. The collector must refuse with retryable errors (HTTP 503 / gRPC UNAVAILABLE),
//! count every refused span, keep its memory bounded, and accept data again as soon as the
//! downstream recovers, without a restart.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use common::*;
use kakehashi_pdata::proto::collector::trace::v1::ExportTraceServiceResponse;
use kakehashi_pdata::ExportTraceServiceRequest;
use prost::Message;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const QUEUE_SIZE: usize = 2;
const SPANS_PER_REQUEST: usize = 100;
const HTTP_REQUESTS: usize = 200;
const GRPC_REQUESTS: usize = 5;
const RSS_LIMIT_KB: u64 = 200 * 1024;

/// `google.rpc.Status` as the receiver encodes it in a protobuf error body (details ignored).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The downstream OTLP/HTTP server: while `stall` is true it holds every request without
/// answering; when it turns false the held requests (and all later ones) are answered 200.
struct Downstream {
    port: u16,
    stall: watch::Sender<bool>,
    state: Arc<DownState>,
    _rt: tokio::runtime::Runtime,
}

#[derive(Default)]
struct DownState {
    /// Requests that reached the handler (answered or not).
    arrived: AtomicUsize,
    /// Spans in requests answered 200.
    delivered_spans: AtomicUsize,
}

struct AppState {
    stall: watch::Receiver<bool>,
    state: Arc<DownState>,
}

async fn export_traces(
    State(app): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    app.state.arrived.fetch_add(1, Ordering::SeqCst);
    let mut stall = app.stall.clone();
    while *stall.borrow_and_update() {
        if stall.changed().await.is_err() {
            break;
        }
    }
    // otlphttp compresses with gzip by default, as otelcol's does.
    let gzipped = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let body = if gzipped {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("a valid gzip body");
        Bytes::from(out)
    } else {
        body
    };
    let spans: usize = ExportTraceServiceRequest::decode(body)
        .map(|r| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .expect("the body is an ExportTraceServiceRequest");
    app.state.delivered_spans.fetch_add(spans, Ordering::SeqCst);
    (
        [(CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

impl Downstream {
    fn start_stalled() -> Downstream {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stall, stall_rx) = watch::channel(true);
        let state = Arc::new(DownState::default());
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export_traces))
            .with_state(Arc::new(AppState {
                stall: stall_rx,
                state: state.clone(),
            }));
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Downstream {
            port,
            stall,
            state,
            _rt: rt,
        }
    }

    fn recover(&self) {
        self.stall.send_replace(false);
    }

    fn arrived(&self) -> usize {
        self.state.arrived.load(Ordering::SeqCst)
    }

    fn delivered_spans(&self) -> usize {
        self.state.delivered_spans.load(Ordering::SeqCst)
    }
}

/// What a client saw for one OTLP/HTTP request.
#[derive(Debug)]
enum Outcome {
    Status(u16, Vec<u8>),
    /// No complete answer within the client timeout (or the connection failed).
    Failed(String),
}

/// POSTs `body` to `/v1/traces` over HTTP/1.1 with a `timeout` for every socket operation.
fn post_traces(port: u16, body: &[u8], timeout: Duration) -> Outcome {
    let run = || -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        let mut req = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/x-protobuf\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        s.write_all(&req)?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        Ok(answer)
    };
    let answer = match run() {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Outcome::Failed(format!(
            "incomplete answer: {:?}",
            String::from_utf8_lossy(&answer)
        ));
    };
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Outcome::Status(status, answer[split + 4..].to_vec())
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// The sum of every sample of metric `name` (exact name, any labels) that has all `labels`.
fn metric(port: u16, name: &str, labels: &[&str]) -> u64 {
    http_get(port, "/metrics")
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Polls until `metric(...) == want`; panics with the last value and the collector's log.
fn wait_metric(port: u16, name: &str, labels: &[&str], want: u64, collector: &ProcessGuard) {
    let mut last = 0;
    let ok = poll_until(Duration::from_secs(10), || {
        last = metric(port, name, labels);
        (last == want).then_some(())
    });
    if ok.is_none() {
        panic!(
            "{name}{labels:?} is {last}, want {want}\n{}",
            collector.output_tail(4000)
        );
    }
}

#[test]
fn stalled_exporter_refuses_with_retryable_errors_and_recovers() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-backpressure-")
        .tempdir()
        .unwrap();
    let downstream = Downstream::start_stalled();
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{down}
    timeout: 30s
    sending_queue:
      queue_size: {QUEUE_SIZE}
      num_consumers: 1
    retry_on_failure:
      enabled: true
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"#,
        down = downstream.port
    );
    let mut collector = start_kakehashi(dir.path(), "kakehashi", &config, &[grpc, http, metrics]);
    let pid = collector.pid();
    let client_timeout = Duration::from_secs(2);
    let exporter = r#"exporter="otlphttp""#;

    // --- The flood: the queue takes QUEUE_SIZE requests (one in flight, stalled), then every
    // request is refused at once with 503; none waits for the client timeout.
    let mut statuses = Vec::new();
    let mut failures = Vec::new();
    let mut max_rss_kb = 0;
    let flood_started = Instant::now();
    for i in 0..HTTP_REQUESTS {
        let body = trace_request(&format!("flood{i}"), SPANS_PER_REQUEST).encode_to_vec();
        match post_traces(http, &body, client_timeout) {
            Outcome::Status(status, body) => statuses.push((i, status, body)),
            Outcome::Failed(e) => failures.push((i, e)),
        }
        if i % 10 == 0 {
            max_rss_kb = max_rss_kb.max(vm_rss_kb(pid));
        }
    }
    collector.assert_running();
    max_rss_kb = max_rss_kb.max(vm_rss_kb(pid));
    assert!(
        failures.is_empty(),
        "requests got no answer within {client_timeout:?} (the receiver blocked instead of \
         refusing): {failures:?}\n{}",
        collector.output_tail(4000)
    );
    let accepted: Vec<usize> = statuses
        .iter()
        .filter(|(_, s, _)| *s == 200)
        .map(|(i, _, _)| *i)
        .collect();
    assert_eq!(
        accepted,
        (0..QUEUE_SIZE).collect::<Vec<_>>(),
        "exactly the first queue_size requests fit (one in flight, the rest queued)"
    );
    for (i, status, body) in statuses.iter().skip(QUEUE_SIZE) {
        assert_eq!(
            *status,
            503,
            "request {i}: {}",
            String::from_utf8_lossy(body)
        );
        let s = RpcStatus::decode(&body[..]).unwrap_or_else(|e| {
            panic!("request {i}: 503 body is not a google.rpc.Status ({e}): {body:?}")
        });
        assert_eq!(s.code, 14, "UNAVAILABLE in the status body: {s:?}");
        assert_eq!(s.message, "sending queue is full");
    }
    let refused_http = HTTP_REQUESTS - QUEUE_SIZE;
    eprintln!(
        "flood of {HTTP_REQUESTS} requests took {:?}; max VmRSS {} kB",
        flood_started.elapsed(),
        max_rss_kb
    );

    // --- gRPC clients get UNAVAILABLE (retryable), promptly.
    for i in 0..GRPC_REQUESTS {
        let started = Instant::now();
        let err = grpc_export(
            &format!("http://127.0.0.1:{grpc}"),
            trace_request(&format!("grpc{i}"), SPANS_PER_REQUEST),
            client_timeout,
        )
        .expect_err("the queue is full: a gRPC export must be refused");
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
        assert_eq!(err.message(), "sending queue is full");
        assert!(
            started.elapsed() < client_timeout,
            "{:?}",
            started.elapsed()
        );
    }
    max_rss_kb = max_rss_kb.max(vm_rss_kb(pid));

    // --- Every refused span is counted, once, on both sides of the pipeline.
    let refused_spans = ((refused_http + GRPC_REQUESTS) * SPANS_PER_REQUEST) as u64;
    let accepted_spans = (QUEUE_SIZE * SPANS_PER_REQUEST) as u64;
    wait_metric(
        metrics,
        "otelcol_exporter_enqueue_failed_spans",
        &[exporter],
        refused_spans,
        &collector,
    );
    wait_metric(
        metrics,
        "otelcol_receiver_refused_spans",
        &[],
        refused_spans,
        &collector,
    );
    wait_metric(
        metrics,
        "otelcol_receiver_accepted_spans",
        &[],
        accepted_spans,
        &collector,
    );
    wait_metric(
        metrics,
        "otelcol_exporter_queue_size",
        &[exporter],
        QUEUE_SIZE as u64,
        &collector,
    );
    assert_eq!(downstream.arrived(), 1, "one request in flight, held");
    assert_eq!(downstream.delivered_spans(), 0);
    assert!(
        max_rss_kb < RSS_LIMIT_KB,
        "VmRSS reached {max_rss_kb} kB while refusing (limit {RSS_LIMIT_KB} kB)"
    );

    // --- The downstream recovers: the held request is answered, the queue drains, and new
    // requests are accepted again by the same process.
    downstream.recover();
    let mut refused_while_draining = 0u64;
    let mut recovered = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let body = trace_request("probe", SPANS_PER_REQUEST).encode_to_vec();
        match post_traces(http, &body, client_timeout) {
            Outcome::Status(200, _) => {
                recovered = true;
                break;
            }
            Outcome::Status(503, _) => refused_while_draining += SPANS_PER_REQUEST as u64,
            other => panic!("unexpected answer while recovering: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        recovered,
        "still refusing 20 s after the downstream recovered\n{}",
        collector.output_tail(4000)
    );
    let mut expected_delivered = accepted_spans + SPANS_PER_REQUEST as u64;
    // Steady state: one request at a time, each delivered before the next is sent.
    for i in 0..5 {
        wait_until_delivered(&downstream, expected_delivered, &collector);
        let body = trace_request(&format!("after{i}"), SPANS_PER_REQUEST).encode_to_vec();
        match post_traces(http, &body, client_timeout) {
            Outcome::Status(200, _) => {}
            other => panic!("request {i} after recovery: {other:?}"),
        }
        expected_delivered += SPANS_PER_REQUEST as u64;
    }
    wait_until_delivered(&downstream, expected_delivered, &collector);
    let ok = grpc_export(
        &format!("http://127.0.0.1:{grpc}"),
        trace_request("grpc-after", SPANS_PER_REQUEST),
        client_timeout,
    );
    assert!(ok.is_ok(), "gRPC after recovery: {ok:?}");
    expected_delivered += SPANS_PER_REQUEST as u64;
    wait_until_delivered(&downstream, expected_delivered, &collector);

    // Nothing accepted was lost; the refusals are all accounted for; the process never restarted.
    wait_metric(
        metrics,
        "otelcol_exporter_sent_spans",
        &[exporter],
        expected_delivered,
        &collector,
    );
    wait_metric(
        metrics,
        "otelcol_exporter_enqueue_failed_spans",
        &[exporter],
        refused_spans + refused_while_draining,
        &collector,
    );
    wait_metric(
        metrics,
        "otelcol_exporter_send_failed_spans",
        &[exporter],
        0,
        &collector,
    );
    assert_eq!(collector.pid(), pid);
    collector.assert_running();
}

fn wait_until_delivered(downstream: &Downstream, spans: u64, collector: &ProcessGuard) {
    let ok = poll_until(Duration::from_secs(10), || {
        (downstream.delivered_spans() as u64 >= spans).then_some(())
    });
    if ok.is_none() {
        panic!(
            "the downstream has {} spans, want {spans}\n{}",
            downstream.delivered_spans(),
            collector.output_tail(4000)
        );
    }
}
