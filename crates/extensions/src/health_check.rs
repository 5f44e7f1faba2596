//! The `health_check` extension, with otelcol-contrib's endpoint, bodies and status semantics:
//! 503 until every pipeline has started, 200 while running, 503 again once shutdown begins.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use axum::Router;
use kakehashi_component::Signal;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, Extension, ExtensionFactory,
    FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node, Optional, Validate};
use kakehashi_telemetry::server::HttpServer;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub endpoint: String,
    pub path: String,
    pub response_body: Option<ResponseBody>,
    /// Legacy: otelcol accepts it and ignores it ("retained for backwards compatibility"), and
    /// so do we, so configs that still carry it load.
    pub check_collector_pipeline: Option<kakehashi_config::AnyValue>,
    pub tls: Optional<kakehashi_config::AnyValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseBody {
    pub healthy: String,
    pub unhealthy: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "localhost:13133".into(),
            path: "/".into(),
            response_body: None,
            check_collector_pipeline: None,
            tls: Optional::default(),
        }
    }
}

impl Validate for HealthCheckConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if !self.path.starts_with('/') {
            errs.push("bad config: path must start with /".into());
        }
        if self.tls.is_some() {
            errs.push("tls: TLS on the health_check endpoint is not supported yet".into());
        }
        errs
    }
}

pub struct HealthCheckExtensionFactory;

impl FactoryInfo for HealthCheckExtensionFactory {
    fn type_name(&self) -> &'static str {
        "health_check"
    }
    fn signals(&self) -> &'static [Signal] {
        &[]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<HealthCheckConfig>(node, path)
    }
}

impl ExtensionFactory for HealthCheckExtensionFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        cfg: &AnyConfig,
    ) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(HealthCheck {
            config: config_as::<HealthCheckConfig>(cfg).clone(),
            state: Arc::new(Mutex::new(State::NotReady)),
            server: tokio::sync::Mutex::new(None),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    NotReady,
    Ready { since: SystemTime, at: Instant },
}

pub struct HealthCheck {
    config: HealthCheckConfig,
    state: Arc<Mutex<State>>,
    server: tokio::sync::Mutex<Option<HttpServer>>,
}

impl HealthCheck {
    /// The bound address, once started (tests bind port 0).
    pub async fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.lock().await.as_ref().map(|s| s.local_addr)
    }
}

fn respond(state: State, body: Option<&ResponseBody>) -> Response<Body> {
    let (status, text) = match state {
        State::Ready { since, at } => (
            StatusCode::OK,
            match body {
                Some(b) => b.healthy.clone(),
                None => serde_json::json!({
                    "status": "Server available",
                    // Go's RFC3339Nano: the fraction without trailing zeros.
                    "upSince": chrono::DateTime::<chrono::Utc>::from(since)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    "uptime": go_duration(at.elapsed()),
                })
                .to_string(),
            },
        ),
        State::NotReady => (
            StatusCode::SERVICE_UNAVAILABLE,
            match body {
                Some(b) => b.unhealthy.clone(),
                None => r#"{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}"#.to_owned(),
            },
        ),
    };
    // A configured `response_body` goes out without a type in otelcol, so Go's server sniffs
    // one: text for anything but binary bytes.
    let content_type = if body.is_some() {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(text))
        .expect("static response parts are valid")
}

/// Go's `Duration.String()`, as otelcol prints `uptime`: `1m2.5s`, and below a second the
/// largest unit that keeps an integer part (`500ms`, `1.5µs`, `800ns`).
fn go_duration(d: std::time::Duration) -> String {
    let trim = |whole: u128, frac: u128, digits: usize| {
        let frac = format!("{frac:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{frac}")
        }
    };
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(nanos / 1_000, nanos % 1_000, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(nanos / 1_000_000, nanos % 1_000_000, 6));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let sec = format!("{}s", trim(u128::from(s), u128::from(d.subsec_nanos()), 9));
    match (h, m) {
        (0, 0) => sec,
        (0, m) => format!("{m}m{sec}"),
        (h, m) => format!("{h}h{m}m{sec}"),
    }
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(&self) -> Result<(), BuildError> {
        let state = self.state.clone();
        let body = self.config.response_body.clone();
        let path = self.config.path.clone();
        // Go's mux: "/" matches every path; any other path matches exactly. Any method.
        let router = Router::new().fallback(move |req: axum::extract::Request| {
            let state = *state.lock().expect("state lock");
            let body = body.clone();
            let matches = path == "/" || req.uri().path() == path;
            async move {
                if matches {
                    respond(state, body.as_ref())
                } else {
                    Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                        .body(Body::from("404 page not found\n"))
                        .expect("static response parts are valid")
                }
            }
        });
        let server = HttpServer::start(&self.config.endpoint, router)
            .await
            .map_err(BuildError)?;
        tracing::info!(endpoint = %server.local_addr, "Starting health_check extension");
        *self.server.lock().await = Some(server);
        Ok(())
    }

    async fn shutdown(&self) {
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
    }

    fn pipelines_ready(&self) {
        *self.state.lock().expect("state lock") = State::Ready {
            since: SystemTime::now(),
            at: Instant::now(),
        };
    }

    fn pipelines_not_ready(&self) {
        *self.state.lock().expect("state lock") = State::NotReady;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        use std::time::Duration as D;
        assert_eq!(go_duration(D::from_secs(5)), "5s");
        assert_eq!(go_duration(D::from_millis(62_500)), "1m2.5s");
        assert_eq!(go_duration(D::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(D::from_millis(500)), "500ms");
        assert_eq!(go_duration(D::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(D::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(D::from_nanos(800)), "800ns");
        assert_eq!(go_duration(D::ZERO), "0s");
    }

    /// A started extension on a free loopback port.
    async fn started(response_body: Option<ResponseBody>) -> HealthCheck {
        let ext = HealthCheck {
            config: HealthCheckConfig {
                endpoint: "127.0.0.1:0".into(),
                response_body,
                ..Default::default()
            },
            state: Arc::new(Mutex::new(State::NotReady)),
            server: tokio::sync::Mutex::new(None),
        };
        ext.start().await.unwrap();
        ext
    }

    #[tokio::test]
    async fn not_ready_then_ready_then_not_ready() {
        let ext = started(None).await;
        let url = format!("http://{}/anything", ext.local_addr().await.unwrap());
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}"#
        );
        ext.pipelines_ready();
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["status"], "Server available");
        ext.pipelines_not_ready();
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 503);
        ext.shutdown().await;
    }

    #[tokio::test]
    async fn a_configured_body_is_plain_text() {
        let ext = started(Some(ResponseBody {
            healthy: "up".into(),
            unhealthy: "down".into(),
        }))
        .await;
        let url = format!("http://{}/", ext.local_addr().await.unwrap());
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), "down");
        ext.pipelines_ready();
        assert_eq!(
            reqwest::get(&url).await.unwrap().text().await.unwrap(),
            "up"
        );
        ext.shutdown().await;
    }
}
