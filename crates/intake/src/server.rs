//! The HTTP side: Datadog intake endpoints, the JSON API and the embedded UI.
//!
//! Intake answers, each error with `{"error": "<reason>"}`:
//! * 202 stored (200 `{}` for host metadata, as the real intake);
//! * 413 when the body is over `max_body_bytes` (declared or actually sent) or decompresses to
//!   more than `max_decompressed_bytes`;
//! * 400 for every other body the intake cannot read: corrupt compression, an unknown
//!   `Content-Encoding` (400 rather than 415: to a client both mean "this body will never be
//!   accepted", and the exporter treats them alike), or a payload that does not decode;
//! * 500 when SQLite fails (the payload is not stored; a retry may succeed).
//!
//! Every intake request is also logged in the `payloads` table with its status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::decode::{self, Reject};
use crate::store::{now_ns, parse_cursor, Store, StoreError, TraceQuery};

pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
}

type St = State<Arc<AppState>>;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v0.2/traces", post(traces))
        .route("/api/v0.2/stats", post(stats))
        .route("/api/v1/validate", get(validate))
        .route("/api/v2/series", post(series))
        .route("/api/beta/sketches", post(sketches))
        .route("/intake", post(host_metadata))
        .route("/intake/", post(host_metadata))
        .route("/api/v2/logs", post(logs))
        .route("/api/traces", get(list_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/services", get(services))
        .route("/api/facets", get(facets))
        .route("/api/summary", get(summary))
        .route("/api/hosts", get(hosts))
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .fallback(not_found)
        .with_state(state)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error_response(status: u16, reason: &str) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "error": reason }),
    )
}

async fn not_found() -> Response {
    error_response(404, "not found")
}

// ----------------------------------------------------------------------------------------------
// Intake

#[derive(Clone, Copy)]
enum Kind {
    Traces,
    Stats,
    Series,
    Sketches,
    HostMetadata,
    Logs,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Traces => "/api/v0.2/traces",
            Kind::Stats => "/api/v0.2/stats",
            Kind::Series => "/api/v2/series",
            Kind::Sketches => "/api/beta/sketches",
            Kind::HostMetadata => "/intake",
            Kind::Logs => "/api/v2/logs",
        }
    }

    fn ok(self) -> (u16, Value) {
        match self {
            Kind::Series => (202, json!({ "errors": [] })),
            Kind::HostMetadata => (200, json!({})),
            _ => (202, json!({})),
        }
    }
}

enum Failure {
    Reject(Reject),
    Store(StoreError),
}

impl From<Reject> for Failure {
    fn from(r: Reject) -> Failure {
        Failure::Reject(r)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

/// Decodes and stores one payload; runs on a blocking thread.
fn ingest_blocking(
    st: &AppState,
    kind: Kind,
    body: &[u8],
    encoding: Option<&str>,
) -> Result<(), Failure> {
    let raw = decode::decompress(body, encoding, st.max_decompressed_bytes)?;
    let now = now_ns();
    match kind {
        Kind::Traces => {
            let p = decode::agent_payload(&raw)?;
            st.store.insert_agent_payload(&p, now)?;
        }
        Kind::Stats => {
            let p = decode::stats_payload(&raw)?;
            st.store.insert_stats_payload(&p, now)?;
        }
        Kind::Series => {
            let v = decode::json(&raw)?;
            if !v.get("series").is_some_and(Value::is_array) {
                return Err(Reject::Bad("series body has no \"series\" array".into()).into());
            }
            st.store.insert_series(&v, now)?;
        }
        Kind::Sketches => {}
        Kind::HostMetadata => {
            let v = decode::json(&raw)?;
            st.store.insert_host_metadata(&v, now)?;
        }
        Kind::Logs => {
            let v = decode::json(&raw)?;
            st.store.insert_logs(&v, now)?;
        }
    }
    Ok(())
}

async fn ingest(st: Arc<AppState>, kind: Kind, headers: HeaderMap, body: Body) -> Response {
    let path = kind.path();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared_over = declared.is_some_and(|n| n > st.max_body_bytes as u64);
    let bytes = match read_body(body, st.max_body_bytes, declared_over).await {
        Ok(b) => b,
        Err(e) => {
            let (status, reason, bytes) = match e {
                BodyError::TooLarge(n) => (
                    413,
                    format!(
                        "request body exceeds the limit of {} bytes",
                        st.max_body_bytes
                    ),
                    // The declared size says more than what was read, but it is the
                    // client's word: capped, so sums over many refusals stay in range.
                    declared.map_or(n, |d| {
                        usize::try_from(d.min(MAX_RECORDED_BYTES)).unwrap_or(n)
                    }),
                ),
                BodyError::Read(e) => (400, format!("cannot read the request body: {e}"), 0),
            };
            record(&st, path, bytes, status, Some(reason.clone())).await;
            let mut r = error_response(status, &reason);
            if status == 413 {
                // The rest of the body may be unread: the connection cannot carry another
                // request.
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return r;
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let st2 = st.clone();
    let len = bytes.len();
    let result = tokio::task::spawn_blocking(move || {
        let r = ingest_blocking(&st2, kind, &bytes, encoding.as_deref());
        let (status, err) = match &r {
            Ok(()) => (kind.ok().0, None),
            Err(Failure::Reject(rj)) => (rj.status(), Some(rj.reason().to_string())),
            Err(Failure::Store(e)) => (500, Some(e.to_string())),
        };
        if let Err(e) = st2
            .store
            .record_payload(path, len, status, err.as_deref(), now_ns())
        {
            tracing::warn!(error = %e, "intake: cannot record the payload");
        }
        r
    })
    .await;
    match result {
        Ok(Ok(())) => {
            tracing::debug!(path, bytes = len, "intake: payload stored");
            let (status, body) = kind.ok();
            json_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
                body,
            )
        }
        Ok(Err(Failure::Reject(r))) => {
            tracing::info!(
                path,
                bytes = len,
                reason = r.reason(),
                "intake: payload rejected"
            );
            error_response(r.status(), r.reason())
        }
        Ok(Err(Failure::Store(e))) => {
            tracing::error!(path, error = %e, "intake: storage error");
            error_response(500, &e.to_string())
        }
        Err(e) => error_response(500, &format!("internal error: {e}")),
    }
}

enum BodyError {
    /// Over the limit; the bytes seen.
    TooLarge(usize),
    Read(String),
}

/// How long an oversize body is read (and discarded) at most.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// The largest body size recorded for a refused payload (1 TiB): see `ingest`.
const MAX_RECORDED_BYTES: u64 = 1 << 40;

/// Reads `body` if it is at most `limit` bytes (the limit holds while reading: a chunked body
/// declares no length). Past the limit, or when the declared length is over it, the body is
/// read on and discarded up to `2 × limit` bytes and for at most [`DRAIN_TIME`]: a client still
/// sending would otherwise see its connection reset (EPIPE) instead of reading the 413, and
/// retry a payload that can never be accepted.
async fn read_body(
    mut body: Body,
    limit: usize,
    declared_over: bool,
) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let mut over = declared_over;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let frame = if over {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(f) => f,
                Err(_) => break,
            }
        } else {
            body.frame().await
        };
        let data = match frame {
            None => break,
            Some(Err(_)) if over => break,
            Some(Err(e)) => return Err(BodyError::Read(e.to_string())),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                // Trailers.
                Err(_) => continue,
            },
        };
        seen = seen.saturating_add(data.len());
        if over {
            if seen > limit.saturating_mul(2) {
                break;
            }
        } else if seen > limit {
            over = true;
            buf = Vec::new();
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if over {
        Err(BodyError::TooLarge(seen))
    } else {
        Ok(buf)
    }
}

/// Logs a request refused before its body was decoded.
async fn record(
    st: &Arc<AppState>,
    path: &'static str,
    bytes: usize,
    status: u16,
    err: Option<String>,
) {
    let store = st.store.clone();
    let _ = tokio::task::spawn_blocking(move || {
        store.record_payload(path, bytes, status, err.as_deref(), now_ns())
    })
    .await;
}

async fn traces(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::Traces, headers, body).await
}

async fn stats(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::Stats, headers, body).await
}

async fn series(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::Series, headers, body).await
}

async fn sketches(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::Sketches, headers, body).await
}

async fn host_metadata(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::HostMetadata, headers, body).await
}

async fn logs(State(st): St, headers: HeaderMap, body: Body) -> Response {
    ingest(st, Kind::Logs, headers, body).await
}

async fn validate() -> Response {
    json_response(StatusCode::OK, json!({ "valid": true }))
}

// ----------------------------------------------------------------------------------------------
// JSON API

/// Runs a read on a blocking thread and answers its JSON (500 with the reason on error).
async fn read<T: serde::Serialize + Send + 'static>(
    st: &Arc<AppState>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Response {
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(v)) => json_response(
            StatusCode::OK,
            serde_json::to_value(v).unwrap_or(Value::Null),
        ),
        Ok(Err(e)) => error_response(500, &e.to_string()),
        Err(e) => error_response(500, &format!("internal error: {e}")),
    }
}

/// The query string; a malformed one is a JSON 400 like every other API error.
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(p: Params) -> Result<HashMap<String, String>, String> {
    p.map(|Query(p)| p)
        .map_err(|e| format!("invalid query string: {e}"))
}

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A millisecond parameter (decimals allowed) as ns; the error is the 400 reason.
fn ms_param(p: &HashMap<String, String>, k: &str) -> Result<Option<i64>, String> {
    match param(p, k) {
        None => Ok(None),
        Some(v) => match v.parse::<f64>() {
            Ok(ms) if ms.is_finite() => Ok(Some((ms * 1e6) as i64)),
            _ => Err(format!("{k} must be a number of milliseconds, got {v:?}")),
        },
    }
}

/// The filters of `GET /api/traces`; the error is the 400 reason.
fn trace_query(p: &HashMap<String, String>) -> Result<TraceQuery, String> {
    let limit = match param(p, "limit") {
        None => 50,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("limit must be a positive integer, got {v:?}"))?,
    };
    if let Some(c) = param(p, "cursor") {
        if parse_cursor(c).is_none() {
            return Err(format!("invalid cursor {c:?}"));
        }
    }
    Ok(TraceQuery {
        service: param(p, "service").map(str::to_string),
        env: param(p, "env").map(str::to_string),
        q: param(p, "q").map(str::to_string),
        errors_only: matches!(param(p, "errors"), Some("1" | "true" | "yes")),
        min_duration_ns: ms_param(p, "min_duration_ms")?,
        from_ns: ms_param(p, "from_ms")?,
        to_ns: ms_param(p, "to_ms")?,
        limit,
        cursor: param(p, "cursor").map(str::to_string),
    })
}

async fn list_traces(State(st): St, p: Params) -> Response {
    let q = match params(p).and_then(|p| trace_query(&p)) {
        Ok(q) => q,
        Err(r) => return error_response(400, &r),
    };
    read(&st, move |s| s.list_traces(&q)).await
}

/// Decimal u64, or hex with a `0x` prefix.
fn parse_id(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

async fn get_trace(State(st): St, Path(id): Path<String>) -> Response {
    let Some(trace_id) = parse_id(&id) else {
        return error_response(
            400,
            &format!("invalid trace id {id:?} (decimal u64 or 0x-prefixed hex)"),
        );
    };
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || store.get_trace(trace_id)).await {
        Ok(Ok(Some(t))) => json_response(
            StatusCode::OK,
            serde_json::to_value(t).unwrap_or(Value::Null),
        ),
        Ok(Ok(None)) => error_response(404, &format!("trace {trace_id} not found")),
        Ok(Err(e)) => error_response(500, &e.to_string()),
        Err(e) => error_response(500, &format!("internal error: {e}")),
    }
}

async fn services(State(st): St, p: Params) -> Response {
    let p = match params(p) {
        Ok(p) => p,
        Err(r) => return error_response(400, &r),
    };
    let (from, to) = match (ms_param(&p, "from_ms"), ms_param(&p, "to_ms")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return error_response(400, &r),
    };
    read(&st, move |s| {
        Ok(json!({ "services": s.services(from, to)? }))
    })
    .await
}

async fn facets(State(st): St) -> Response {
    read(&st, |s| s.facets()).await
}

async fn summary(State(st): St) -> Response {
    read(&st, |s| s.summary()).await
}

async fn hosts(State(st): St) -> Response {
    read(&st, |s| Ok(json!({ "hosts": s.hosts()? }))).await
}

// ----------------------------------------------------------------------------------------------
// UI

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const STYLE_CSS: &str = include_str!("../ui/style.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn style_css() -> Response {
    asset(STYLE_CSS, "text/css; charset=utf-8")
}
