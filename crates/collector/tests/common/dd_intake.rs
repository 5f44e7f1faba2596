//! A Datadog intake double for end-to-end tests: a real HTTP server on 127.0.0.1 that records
//! every request, gunzips and decodes trace payloads (`pb::AgentPayload`, with Datadog's own
//! protobuf types) and stats payloads (msgpack, with the generic `rmpv` decoder), and answers
//! with a scripted sequence of replies so tests can inject faults.
//!
//! It shares nothing with the exporter's mapping code: assertions are made on what arrived on
//! the wire.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use libdd_trace_protobuf::pb;
use prost::Message;

/// One scripted answer to a trace (or stats) POST.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Status plus `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// Holds the request this long, then answers 200 (the client should time out first).
    Hang(Duration),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
    pub status: u16,
    pub decoded: Decoded,
}

#[derive(Debug, Clone)]
pub enum Decoded {
    Traces(pb::AgentPayload),
    Stats(rmpv::Value),
    Json(serde_json::Value),
    Other,
    Invalid(String),
}

#[derive(Default)]
struct Inner {
    traces_script: VecDeque<Reply>,
    stats_script: VecDeque<Reply>,
    requests: Vec<Recorded>,
    validate_valid: bool,
}

pub struct FakeIntake {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeIntake {
    pub fn start() -> FakeIntake {
        FakeIntake::start_on(0)
    }

    /// Listens on 127.0.0.1:`port` (0: any free port), e.g. a port reserved earlier so that a
    /// test can bring the intake up after the collector has started.
    pub fn start_on(port: u16) -> FakeIntake {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            validate_valid: true,
            ..Default::default()
        }));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeIntake {
            port,
            inner,
            _rt: rt,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replies for the next trace POSTs, in order; afterwards every POST gets 200.
    pub fn script_traces(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().traces_script.extend(replies);
    }

    pub fn script_stats(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().stats_script.extend(replies);
    }

    /// `/api/v1/validate` answers 403 `{"valid":false}` from now on.
    pub fn reject_api_key(&self) {
        self.inner.lock().unwrap().validate_valid = false;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// The trace payloads the intake accepted (answered 2xx), in arrival order.
    pub fn accepted_traces(&self) -> Vec<(Recorded, pb::AgentPayload)> {
        self.requests_to("/api/v0.2/traces")
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| match &r.decoded {
                Decoded::Traces(p) => Some((r.clone(), p.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every span of every accepted trace payload.
    pub fn accepted_spans(&self) -> Vec<pb::Span> {
        self.accepted_traces()
            .into_iter()
            .flat_map(|(_, p)| p.tracer_payloads)
            .flat_map(|tp| tp.chunks)
            .flat_map(|c| c.spans)
            .collect()
    }

    pub fn accepted_stats(&self) -> Vec<rmpv::Value> {
        self.requests_to("/api/v0.2/stats")
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| match r.decoded {
                Decoded::Stats(v) => Some(v),
                _ => None,
            })
            .collect()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let header_map: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let gzip = header_map
        .get("content-encoding")
        .is_some_and(|e| e == "gzip");
    let raw = if gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(format!("bad gzip: {e}")),
        }
    } else {
        Ok(body.to_vec())
    };
    let decoded = match (&raw, path.as_str()) {
        (Err(e), _) => Decoded::Invalid(e.clone()),
        (Ok(b), "/api/v0.2/traces") => match pb::AgentPayload::decode(&b[..]) {
            Ok(p) => Decoded::Traces(p),
            Err(e) => Decoded::Invalid(format!("bad AgentPayload: {e}")),
        },
        (Ok(b), "/api/v0.2/stats") => match rmpv::decode::read_value(&mut &b[..]) {
            Ok(v) => Decoded::Stats(v),
            Err(e) => Decoded::Invalid(format!("bad msgpack: {e}")),
        },
        (Ok(b), _) => match serde_json::from_slice(b) {
            Ok(v) => Decoded::Json(v),
            Err(_) => Decoded::Other,
        },
    };
    let reply = {
        let mut g = inner.lock().unwrap();
        match path.as_str() {
            "/api/v0.2/traces" => g.traces_script.pop_front(),
            "/api/v0.2/stats" => g.stats_script.pop_front(),
            _ => None,
        }
    };
    let (status, retry_after) = match reply {
        None => (200, None),
        Some(Reply::Status(s)) => (s, None),
        Some(Reply::RetryAfter(s, secs)) => (s, Some(secs)),
        Some(Reply::Hang(d)) => {
            tokio::time::sleep(d).await;
            (200, None)
        }
    };
    let invalid = matches!(decoded, Decoded::Invalid(_));
    let status = if invalid && status == 200 {
        400
    } else {
        status
    };
    let validate = path == "/api/v1/validate";
    let valid = inner.lock().unwrap().validate_valid;
    let status = if validate && !valid { 403 } else { status };
    inner.lock().unwrap().requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        headers: header_map,
        body_len: body.len(),
        status,
        decoded,
    });
    let body = if validate {
        format!("{{\"valid\":{}}}", status == 200)
    } else if status == 200 || status == 202 {
        "{}".to_string()
    } else {
        format!("scripted status {status}")
    };
    let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

/// A key of a msgpack map.
pub fn get<'a>(v: &'a rmpv::Value, key: &str) -> Option<&'a rmpv::Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Every ClientGroupedStats entry of every stats payload, as (service, name, resource) → (hits,
/// errors, top_level_hits).
pub fn grouped_stats(
    payloads: &[rmpv::Value],
) -> BTreeMap<(String, String, String), (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for p in payloads {
        for client in get(p, "Stats").and_then(|v| v.as_array()).unwrap() {
            for bucket in get(client, "Stats").and_then(|v| v.as_array()).unwrap() {
                for g in get(bucket, "Stats").and_then(|v| v.as_array()).unwrap() {
                    let s = |k: &str| get(g, k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                    let n = |k: &str| get(g, k).and_then(|v| v.as_u64()).unwrap_or(0);
                    let e = out
                        .entry((s("Service"), s("Name"), s("Resource")))
                        .or_insert((0, 0, 0));
                    e.0 += n("Hits");
                    e.1 += n("Errors");
                    e.2 += n("TopLevelHits");
                }
            }
        }
    }
    out
}
