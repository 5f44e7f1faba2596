//! For tests of the metadata clients' users (feature `testing`): a fake metadata service, real
//! HTTP on 127.0.0.1 answering fixed routes, with the services' quirks a client must handle (a
//! required request header, headers on every answer, a path failing its first requests); and
//! an address where nothing listens.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the fake answers: `(method, path with query)` → `(status, body)`.
type Routes = HashMap<(Method, String), (u16, String)>;

#[derive(Clone, Default)]
pub struct Fake {
    routes: Arc<Mutex<Routes>>,
    /// Every request: method, path with query, headers.
    pub seen: Arc<Mutex<Vec<(Method, String, HeaderMap)>>>,
    /// A header every GET must carry, else 401 (IMDSv2's token) or 400.
    required: Arc<Mutex<Option<(String, String, u16)>>>,
    /// Headers on every answer (the GCE metadata server's `Metadata-Flavor: Google`).
    answer_headers: Arc<Mutex<Vec<(String, String)>>>,
    /// Paths answered with a status this many more times before their route.
    failing: Arc<Mutex<HashMap<String, (usize, u16)>>>,
}

impl Fake {
    pub fn route(&self, method: Method, path: &str, status: u16, body: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert((method, path.to_string()), (status, body.to_string()));
    }

    pub fn get(&self, path: &str, body: &str) {
        self.route(Method::GET, path, 200, body);
    }

    pub fn require(&self, header: &str, value: &str, status: u16) {
        *self.required.lock().unwrap() = Some((header.into(), value.into(), status));
    }

    pub fn answer_header(&self, header: &str, value: &str) {
        self.answer_headers
            .lock()
            .unwrap()
            .push((header.into(), value.into()));
    }

    /// `path` answers `status` the next `times` times.
    pub fn fail_first(&self, path: &str, times: usize, status: u16) {
        self.failing
            .lock()
            .unwrap()
            .insert(path.into(), (times, status));
    }

    /// Serves on 127.0.0.1; answers `http://127.0.0.1:<port>`.
    pub async fn start(&self) -> String {
        let fake = self.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, _body: Bytes| {
                let fake = fake.clone();
                async move {
                    let path = uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default();
                    fake.seen
                        .lock()
                        .unwrap()
                        .push((method.clone(), path.clone(), headers.clone()));
                    let extra = fake.answer_headers.lock().unwrap().clone();
                    let answer = |status: u16, body: String| {
                        let mut resp = axum::response::Response::new(axum::body::Body::from(body));
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                        for (k, v) in &extra {
                            resp.headers_mut().insert(
                                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                                v.parse().unwrap(),
                            );
                        }
                        resp
                    };
                    if let Some((left, status)) = fake.failing.lock().unwrap().get_mut(&path) {
                        if *left > 0 {
                            *left -= 1;
                            return answer(*status, String::new());
                        }
                    }
                    if method == Method::GET {
                        if let Some((h, v, status)) = fake.required.lock().unwrap().clone() {
                            if headers.get(&h).and_then(|x| x.to_str().ok()) != Some(&v) {
                                return answer(status, String::new());
                            }
                        }
                    }
                    match fake.routes.lock().unwrap().get(&(method, path)) {
                        Some((status, body)) => answer(*status, body.clone()),
                        None => answer(404, "not found".into()),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    pub fn paths(&self) -> Vec<(Method, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }
}

/// `http://127.0.0.1:1`, where nothing listens (connections are refused): a privileged port
/// no test server can take, unlike a port bound and released.
pub fn closed_url() -> String {
    "http://127.0.0.1:1".to_string()
}
