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
                    "upSince": chrono::DateTime::<chrono::Utc>::from(since)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
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
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .expect("static response parts are valid")
}

/// Go's `Duration.String()` shape, e.g. `1m2.5s`, as otelcol prints `uptime`.
fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = d.subsec_nanos();
    let sec = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:09}").trim_end_matches('0'))
    };
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
    }

    #[tokio::test]
    async fn not_ready_then_ready_then_not_ready() {
        let cfg = HealthCheckConfig {
            endpoint: "127.0.0.1:0".into(),
            ..Default::default()
        };
        let ext = HealthCheck {
            config: cfg,
            state: Arc::new(Mutex::new(State::NotReady)),
            server: tokio::sync::Mutex::new(None),
        };
        ext.start().await.unwrap();
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
}
