//! `sample-app`: a small HTTP service instrumented with the OpenTelemetry Rust SDK, the Rust twin
//! of the seed system's Go/echo service. It sends its traces over OTLP/gRPC (batch span
//! processor) to a collector — by default whatever the standard `OTEL_*` variables say.
//!
//! Routes (each request gets a SERVER span `<METHOD> <route>` from [`app`]'s middleware):
//!
//! | route | answers | child spans |
//! |---|---|---|
//! | `GET /health` | `OK` | INTERNAL `HealthCheck Local` with the seed's attributes |
//! | `GET /slow`, `GET /users/{id}` | JSON, after 50–300 ms | CLIENT DB span (postgresql), sometimes a CLIENT HTTP span |
//! | `GET /fail` | 500 JSON | none; the server span gets status Error and an `exception` event |
//!
//! [`run`] serves until its `shutdown` future completes, then stops accepting, lets in-flight
//! requests finish, and flushes and shuts down the tracer provider — all within
//! [`SampleConfig::shutdown_timeout`]. [`generate_traffic`] drives a realistic request mix
//! against a (loopback) instance.
//!
//! No global state is touched (no global tracer provider or propagator, no `tracing`
//! subscriber), so the app can run inside another process, e.g. `kakehashi demo`.

pub mod app;
pub mod telemetry;
pub mod traffic;

pub use traffic::{generate_traffic, TrafficStats};

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The `service.name` used unless `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` set one.
pub const SERVICE_NAME: &str = "sample-app";

/// The default listen address (the seed's `:8080`).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// How [`run`] is configured.
#[derive(Debug, Clone)]
pub struct SampleConfig {
    /// Where the HTTP server listens (ignored by [`run_on`], which takes a bound listener).
    pub listen: SocketAddr,
    /// The OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`). `None` lets the SDK read
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` (default
    /// `http://localhost:4317`); `Some` overrides those variables. A value without a scheme
    /// (`collector:4317`) means `http://`.
    pub otlp_endpoint: Option<String>,
    /// The whole shutdown (draining in-flight requests, then flushing spans) takes at most this.
    pub shutdown_timeout: Duration,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("valid default listen address"),
            otlp_endpoint: None,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Binds `config.listen` and serves until `shutdown` completes; see [`run_on`].
pub async fn run(config: SampleConfig, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    run_on(listener, config, shutdown).await
}

/// Serves on an already bound listener (useful with port 0: the caller knows the address)
/// until `shutdown` completes. Then: stop accepting, let in-flight requests finish, force-flush
/// and shut down the tracer provider, all within `config.shutdown_timeout`.
///
/// Errors only for start-up failures (exporter construction) or a failing server; a collector
/// that cannot be reached while flushing is logged as a warning, not an error.
pub async fn run_on(
    listener: TcpListener,
    config: SampleConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let provider = telemetry::tracer_provider(config.otlp_endpoint.as_deref())?;
    let local = listener.local_addr().ok();
    let router = app::router(telemetry::tracer(&provider));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    // Boxed rather than pinned on the stack so that `drop(server)` below really drops it.
    let mut server = Box::pin(std::future::IntoFuture::into_future(server));
    tokio::pin!(shutdown);
    if let Some(addr) = local {
        tracing::info!(%addr, "sample-app listening");
    }

    let served = tokio::select! {
        res = &mut server => {
            // The server stopped on its own (it does not, in practice): still flush the spans.
            Some(res.map_err(|e| format!("server error: {e}")))
        }
        () = &mut shutdown => None,
    };
    let deadline = Instant::now() + config.shutdown_timeout;
    let result = match served {
        Some(res) => res,
        None => {
            tracing::info!("sample-app shutting down: finishing in-flight requests");
            let _ = stop_tx.send(());
            // Leave at least a third of the budget to flushing the spans.
            let drain = config.shutdown_timeout.mul_f64(2.0 / 3.0);
            match tokio::time::timeout(drain, &mut server).await {
                Ok(res) => res.map_err(|e| format!("server error: {e}")),
                Err(_) => {
                    tracing::warn!(
                        ?drain,
                        "in-flight requests did not finish in time; flushing the spans anyway"
                    );
                    Ok(())
                }
            }
        }
    };
    // Stop serving. (A connection whose request is still running after the drain keeps running
    // on its own task; whatever spans it still ends are dropped by the shut-down provider.)
    drop(server);
    telemetry::flush_and_shutdown(provider, deadline).await;
    result
}
