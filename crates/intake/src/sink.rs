//! `kakehashi intake --count-only`: a Datadog intake for benchmarks and fault tests. It accepts
//! what the `datadog` exporter (or any Datadog trace agent) sends, decodes it, and only counts:
//! payloads, bytes, spans, unique span ids, stats buckets. Nothing is stored, so the sink costs
//! little next to the collector under test and never becomes the bottleneck of a benchmark.
//!
//! | path | what |
//! |---|---|
//! | `POST /api/v0.2/traces`, `/api/v0.2/stats`, `/api/v2/series`, `/api/beta/sketches`, `/intake`, `/api/v2/logs` | decoded (traces, stats) and counted |
//! | `GET /api/v1/validate` | `{"valid": true}` |
//! | `GET /counts` | the counters as JSON |
//! | `POST /counts/reset` | zeroes the counters |
//! | `POST /control` | fault injection: `{"status": 503, "retry_after_s": 1, "delay_ms": 0}`; `{"reset": true}` resets the connection (RST) of every intake request instead of answering; `{"status": 0}` restores normal answers |
//!
//! A payload answered with an injected status is not counted as delivered (it is counted under
//! `refused_payloads`): the sender must send it again.
//!
//! [`CountingSink`] keeps the counters when its server is stopped and started again, so a test
//! can play an intake that is down (nothing listens on the port) and count across the outage.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::decode;

/// How the counting sink behaves.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// A compressed body larger than this is answered 413.
    pub max_body_bytes: usize,
    /// A body that decompresses to more than this is answered 413.
    pub max_decompressed_bytes: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            max_body_bytes: 10 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// The counters, all monotonic until a reset.
#[derive(Default)]
struct Counters {
    trace_payloads: AtomicU64,
    trace_bytes: AtomicU64,
    trace_decompressed_bytes: AtomicU64,
    spans: AtomicU64,
    chunks: AtomicU64,
    stats_payloads: AtomicU64,
    stats_bytes: AtomicU64,
    stats_buckets: AtomicU64,
    stats_hits: AtomicU64,
    other_payloads: AtomicU64,
    bad_payloads: AtomicU64,
    refused_payloads: AtomicU64,
    /// Span ids seen once, to tell duplicates (a retried payload) from new spans.
    unique: Mutex<HashSet<u64>>,
    duplicate_spans: AtomicU64,
}

/// Injected answers (`POST /control`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Fault {
    /// Answer every intake request with this status (0: answer normally).
    status: u16,
    /// `Retry-After` seconds on an injected 429/503.
    retry_after_s: u64,
    /// Hold every intake request this long before answering (a slow or hanging intake).
    delay_ms: u64,
    /// Reset the connection (TCP RST) of every intake request (`POST /api/...`, `POST /intake`)
    /// instead of reading it; `/counts` and `/control` still answer.
    reset: bool,
}

struct Sink {
    config: SinkConfig,
    counters: Counters,
    fault: Mutex<Fault>,
    /// `fault.reset`, readable from the socket wrappers without the lock.
    reset: Arc<AtomicBool>,
}

type St = State<Arc<Sink>>;

/// Serves the counting sink on an already bound listener until `shutdown` completes.
pub async fn run_sink_on(
    listener: TcpListener,
    config: SinkConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    CountingSink::new(config).serve(listener, shutdown).await
}

/// A counting sink whose counters and injected faults outlive its server: [`CountingSink::serve`]
/// can be stopped and called again on the same port (an intake that is down for a while).
#[derive(Clone)]
pub struct CountingSink(Arc<Sink>);

impl CountingSink {
    pub fn new(config: SinkConfig) -> CountingSink {
        CountingSink(Arc::new(Sink {
            config,
            counters: Counters::default(),
            fault: Mutex::new(Fault::default()),
            reset: Arc::default(),
        }))
    }

    /// Serves on an already bound listener until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "counting sink listening (nothing is stored)");
        }
        let listener = ResettingListener {
            inner: listener,
            reset: self.0.reset.clone(),
        };
        axum::serve(listener, router(self.0.clone()))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| format!("sink: {e}"))
    }
}

// === impl ResettingListener ===

/// A TCP listener whose connections can be reset on demand (`{"reset": true}`).
struct ResettingListener {
    inner: TcpListener,
    reset: Arc<AtomicBool>,
}

impl axum::serve::Listener for ResettingListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let reset = self.reset.clone();
                    return (ResettableStream { stream, reset }, addr);
                }
                Err(e) => {
                    // As axum's own TcpListener does: back off on EMFILE and friends.
                    tracing::debug!(error = %e, "sink: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that, in reset mode, answers a read that starts an intake request (`POST /api/`,
/// `POST /intake`) with `ConnectionReset` and closes with an RST (SO_LINGER 0). The check looks
/// at the start of each read, which is where an HTTP/1.1 request head begins for the senders we
/// test (one request at a time per connection, no pipelining).
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if self.reset.load(Ordering::Relaxed) {
            let new = &buf.filled()[before..];
            if new.starts_with(b"POST /api/") || new.starts_with(b"POST /intake") {
                let _ = self.stream.set_zero_linger();
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
        }
        polled
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn router(sink: Arc<Sink>) -> Router {
    Router::new()
        .route("/api/v0.2/traces", post(traces))
        .route("/api/v0.2/stats", post(stats))
        .route("/api/v2/series", post(other))
        .route("/api/beta/sketches", post(other))
        .route("/intake", post(other))
        .route("/intake/", post(other))
        .route("/api/v2/logs", post(other))
        .route(
            "/api/v1/validate",
            get(|| async { Json(json!({"valid": true})) }),
        )
        .route("/counts", get(counts))
        .route("/counts/reset", post(reset))
        .route("/control", post(control))
        .with_state(sink)
}

#[derive(Clone, Copy)]
enum Kind {
    Traces,
    Stats,
    Other,
}

async fn traces(State(s): St, headers: HeaderMap, body: Body) -> Response {
    ingest(s, Kind::Traces, headers, body).await
}

async fn stats(State(s): St, headers: HeaderMap, body: Body) -> Response {
    ingest(s, Kind::Stats, headers, body).await
}

async fn other(State(s): St, headers: HeaderMap, body: Body) -> Response {
    ingest(s, Kind::Other, headers, body).await
}

fn error(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}

async fn ingest(s: Arc<Sink>, kind: Kind, headers: HeaderMap, body: Body) -> Response {
    let fault = *s.fault.lock().expect("fault lock");
    if fault.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
    }
    let bytes = match to_bytes(body, s.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            s.counters.bad_payloads.fetch_add(1, Ordering::Relaxed);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "cannot read the body (limit {} bytes): {e}",
                    s.config.max_body_bytes
                ),
            );
        }
    };
    if fault.status != 0 {
        s.counters.refused_payloads.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut r = error(status, "injected fault");
        if fault.retry_after_s > 0 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, fault.retry_after_s.into());
        }
        return r;
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let s2 = s.clone();
    let counted =
        tokio::task::spawn_blocking(move || count(&s2, kind, &bytes, encoding.as_deref())).await;
    match counted {
        Ok(Ok(())) => (StatusCode::ACCEPTED, Json(json!({}))).into_response(),
        Ok(Err(r)) => {
            s.counters.bad_payloads.fetch_add(1, Ordering::Relaxed);
            error(
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
                r.reason(),
            )
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Decodes one payload and adds it to the counters.
fn count(s: &Sink, kind: Kind, body: &[u8], encoding: Option<&str>) -> Result<(), decode::Reject> {
    let c = &s.counters;
    let raw = decode::decompress(body, encoding, s.config.max_decompressed_bytes)?;
    match kind {
        Kind::Traces => {
            let p = decode::agent_payload(&raw)?;
            let mut spans = 0u64;
            let mut chunks = 0u64;
            let mut duplicates = 0u64;
            {
                let mut unique = c.unique.lock().expect("unique lock");
                for chunk in p.tracer_payloads.iter().flat_map(|tp| &tp.chunks) {
                    chunks += 1;
                    for span in &chunk.spans {
                        spans += 1;
                        if !unique.insert(span.span_id) {
                            duplicates += 1;
                        }
                    }
                }
            }
            c.trace_payloads.fetch_add(1, Ordering::Relaxed);
            c.trace_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            c.trace_decompressed_bytes
                .fetch_add(raw.len() as u64, Ordering::Relaxed);
            c.spans.fetch_add(spans, Ordering::Relaxed);
            c.chunks.fetch_add(chunks, Ordering::Relaxed);
            c.duplicate_spans.fetch_add(duplicates, Ordering::Relaxed);
        }
        Kind::Stats => {
            let p = decode::stats_payload(&raw)?;
            let mut buckets = 0u64;
            let mut hits = 0u64;
            for b in p.stats.iter().flat_map(|cs| &cs.stats) {
                buckets += 1;
                hits += b.stats.iter().map(|g| g.hits).sum::<u64>();
            }
            c.stats_payloads.fetch_add(1, Ordering::Relaxed);
            c.stats_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            c.stats_buckets.fetch_add(buckets, Ordering::Relaxed);
            c.stats_hits.fetch_add(hits, Ordering::Relaxed);
        }
        Kind::Other => {
            c.other_payloads.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

async fn counts(State(s): St) -> Json<Value> {
    let c = &s.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let unique = c.unique.lock().expect("unique lock").len();
    Json(json!({
        "trace_payloads": get(&c.trace_payloads),
        "trace_bytes": get(&c.trace_bytes),
        "trace_decompressed_bytes": get(&c.trace_decompressed_bytes),
        "spans": get(&c.spans),
        "unique_spans": unique,
        "duplicate_spans": get(&c.duplicate_spans),
        "chunks": get(&c.chunks),
        "stats_payloads": get(&c.stats_payloads),
        "stats_bytes": get(&c.stats_bytes),
        "stats_buckets": get(&c.stats_buckets),
        "stats_hits": get(&c.stats_hits),
        "other_payloads": get(&c.other_payloads),
        "bad_payloads": get(&c.bad_payloads),
        "refused_payloads": get(&c.refused_payloads),
    }))
}

async fn reset(State(s): St) -> StatusCode {
    let c = &s.counters;
    for a in [
        &c.trace_payloads,
        &c.trace_bytes,
        &c.trace_decompressed_bytes,
        &c.spans,
        &c.chunks,
        &c.stats_payloads,
        &c.stats_bytes,
        &c.stats_buckets,
        &c.stats_hits,
        &c.other_payloads,
        &c.bad_payloads,
        &c.refused_payloads,
        &c.duplicate_spans,
    ] {
        a.store(0, Ordering::Relaxed);
    }
    c.unique.lock().expect("unique lock").clear();
    StatusCode::NO_CONTENT
}

async fn control(State(s): St, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            if f.status != 0 && StatusCode::from_u16(f.status).is_err() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "status must be 0 or a valid HTTP status",
                );
            }
            *s.fault.lock().expect("fault lock") = f;
            s.reset.store(f.reset, Ordering::Relaxed);
            tracing::info!(?f, "sink: fault injection changed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            &format!("invalid control body: {e}"),
        ),
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
