//! The `/metrics` endpoint (otelcol's default pull Prometheus reader).

use crate::metrics::Telemetry;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running HTTP server that stops when dropped or on [`HttpServer::shutdown`].
pub struct HttpServer {
    pub local_addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `endpoint` (`host:port`) and serves `router` until shutdown.
    pub async fn start(endpoint: &str, router: Router) -> Result<HttpServer, String> {
        let listener = crate::net::bind_tcp(endpoint)
            .await
            .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stopped.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        Ok(HttpServer {
            local_addr,
            stop,
            task: Some(task),
        })
    }

    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves the Prometheus text exposition of `telemetry` at `/metrics`.
pub async fn serve_metrics(endpoint: &str, telemetry: Telemetry) -> Result<HttpServer, String> {
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let t = telemetry.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    t.encode_text(),
                )
                    .into_response()
            }
        }),
    );
    HttpServer::start(endpoint, router).await
}
