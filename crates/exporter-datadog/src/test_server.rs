//! A scripted loopback HTTP server for tests: answers queued statuses (then 200) and records
//! every request. Binds 127.0.0.1 only.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_string();
        self
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn gunzipped(&self) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&self.body[..])
            .read_to_end(&mut out)
            .expect("body is gzip");
        out
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    /// Answered once the script is empty.
    fallback: Mutex<Option<Reply>>,
}

pub struct TestServer {
    pub base: String,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Answers `script` in order, then 200 forever.
    pub async fn start(script: Vec<Reply>) -> TestServer {
        TestServer::start_with_fallback(script, Reply::status(200)).await
    }

    /// Answers `script` in order, then `fallback` forever.
    pub async fn start_with_fallback(script: Vec<Reply>, fallback: Reply) -> TestServer {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
            fallback: Mutex::new(Some(fallback)),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { base, shared }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    s.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let reply = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| s.fallback.lock().unwrap().clone())
        .unwrap_or(Reply::status(200));
    let mut resp = (
        http::StatusCode::from_u16(reply.status).unwrap(),
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        resp.headers_mut()
            .insert(k, http::HeaderValue::from_str(&v).unwrap());
    }
    resp
}
