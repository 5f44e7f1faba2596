//! A real intake on 127.0.0.1:0 over a temporary data directory, and payloads shaped like the
//! exporter's.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kakehashi_intake::IntakeConfig;
use libdd_trace_protobuf::pb;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const MS: i64 = 1_000_000;

pub struct Intake {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl Intake {
    /// Starts `run_on` on a fresh loopback port over `data_dir`; `tweak` adjusts the config.
    pub async fn start(data_dir: &Path, tweak: impl FnOnce(&mut IntakeConfig)) -> Intake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = IntakeConfig {
            listen: addr,
            data_dir: data_dir.to_path_buf(),
            // Retention is tested on the store; here it must not interfere.
            retention_interval: Duration::from_secs(3600),
            ..IntakeConfig::default()
        };
        tweak(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kakehashi_intake::run_on(listener, config, async move {
            let _ = rx.await;
        }));
        let intake = Intake {
            base: format!("http://{addr}"),
            addr,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        };
        // The listener is bound already; this only waits for the store to be open.
        for _ in 0..200 {
            if let Ok(r) = intake.http.get(intake.url("/api/summary")).send().await {
                if r.status() == 200 {
                    return intake;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the intake did not answer /api/summary");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown; `run_on` must return Ok.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(20), self.task.take().unwrap())
            .await
            .expect("the intake stops")
            .expect("the intake task does not panic");
        assert_eq!(result, Ok(()));
    }

    /// POSTs `body` with `Content-Encoding: encoding` (none if `None`); status and JSON answer.
    pub async fn post(&self, path: &str, encoding: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(e) = encoding {
            req = req.header("Content-Encoding", e);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer {status} is not JSON ({e}): {text:?}"));
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// GET that must answer 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn now_ns() -> i64 {
    kakehashi_intake::store::now_ns()
}

/// A span with the meta and metrics the exporter's translation produces.
#[allow(clippy::too_many_arguments)]
pub fn span(
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    service: &str,
    name: &str,
    resource: &str,
    start: i64,
    duration: i64,
    error: bool,
) -> pb::Span {
    let mut meta = HashMap::from([
        ("env".to_string(), "prod".to_string()),
        ("version".to_string(), "2.14.3".to_string()),
        (
            "span.kind".to_string(),
            if parent_id == 0 { "server" } else { "client" }.to_string(),
        ),
        ("http.method".to_string(), "GET".to_string()),
        ("otel.trace_id".to_string(), format!("{:032x}", trace_id)),
    ]);
    if error {
        meta.insert("error.type".into(), "TimeoutError".into());
        meta.insert("error.msg".into(), "upstream timed out after 30s".into());
    }
    let metrics = HashMap::from([
        ("_sampling_priority_v1".to_string(), 1.0),
        (
            "_dd.top_level".to_string(),
            if parent_id == 0 { 1.0 } else { 0.0 },
        ),
        (
            "http.status_code".to_string(),
            if error { 504.0 } else { 200.0 },
        ),
    ]);
    pb::Span {
        service: service.into(),
        name: name.into(),
        resource: resource.into(),
        trace_id,
        span_id,
        parent_id,
        start,
        duration,
        error: i32::from(error),
        meta,
        metrics,
        r#type: "web".into(),
        ..Default::default()
    }
}

/// A checkout trace (4 spans over 3 services, the payment call failing) starting at `start`.
pub fn checkout_spans(trace_id: u64, start: i64) -> Vec<pb::Span> {
    let b = trace_id.wrapping_mul(10);
    vec![
        span(
            trace_id,
            b + 1,
            0,
            "frontend",
            "http.server.request",
            "GET /checkout",
            start,
            250 * MS,
            false,
        ),
        span(
            trace_id,
            b + 2,
            b + 1,
            "cart",
            "grpc.client",
            "Cart/Get",
            start + 5 * MS,
            40 * MS,
            false,
        ),
        span(
            trace_id,
            b + 3,
            b + 1,
            "payments",
            "http.client.request",
            "POST /charge",
            start + 50 * MS,
            190 * MS,
            true,
        ),
        span(
            trace_id,
            b + 4,
            b + 3,
            "payments",
            "postgres.query",
            "SELECT balance FROM accounts WHERE id = ?",
            start + 60 * MS,
            20 * MS,
            false,
        ),
    ]
}

pub fn agent_payload(traces: Vec<Vec<pb::Span>>) -> pb::AgentPayload {
    pb::AgentPayload {
        host_name: "collector-1".into(),
        env: "none".into(),
        tracer_payloads: vec![pb::TracerPayload {
            language_name: "go".into(),
            tracer_version: "otel-1.32.0".into(),
            container_id: "3f9c1e0a7b2d".into(),
            chunks: traces
                .into_iter()
                .map(|spans| pb::TraceChunk {
                    priority: 1,
                    spans,
                    ..Default::default()
                })
                .collect(),
            env: "prod".into(),
            hostname: "ip-10-12-34-56".into(),
            app_version: "2.14.3".into(),
            ..Default::default()
        }],
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        target_tps: 10.0,
        error_tps: 10.0,
        ..Default::default()
    }
}

/// The summary counts that bad input must leave alone.
pub async fn counts(intake: &Intake) -> (i64, i64, i64) {
    let s = intake.get_ok("/api/summary").await;
    (
        s["spans"].as_i64().unwrap(),
        s["traces"].as_i64().unwrap(),
        s["stats_rows"].as_i64().unwrap(),
    )
}
