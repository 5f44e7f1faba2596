//! `kakehashi intake`: a local server that speaks the Datadog intake endpoints the `datadog`
//! exporter uses, stores what arrives in SQLite, and serves a trace explorer and a JSON API.
//!
//! | path | what |
//! |---|---|
//! | `POST /api/v0.2/traces` | gzip/zstd/deflate protobuf `AgentPayload` → spans and traces |
//! | `POST /api/v0.2/stats` | gzip msgpack `StatsPayload` → APM stats rows (hits, errors, latency sketches) |
//! | `GET /api/v1/validate` | `{"valid": true}` for any key |
//! | `POST /api/v2/series`, `/api/beta/sketches`, `/intake`, `/api/v2/logs` | stored (sketches counted) |
//! | `GET /api/traces`, `/api/traces/{id}`, `/api/services`, `/api/facets`, `/api/summary` | JSON API |
//! | `GET /` | the explorer UI (plain HTML/CSS/JS embedded in the binary) |
//!
//! Garbage is answered 400 and an oversize body 413, each with a reason, before anything is
//! written: one payload is one transaction, so a bad payload never leaves partial rows behind.
//! Data lives in `<data>/intake.sqlite` and survives restarts; a retention task removes what is
//! older than `max_age` and the oldest traces while the database is over `max_bytes`.

pub mod decode;
mod server;
mod sink;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use sink::{run_sink_on, CountingSink, SinkConfig};
pub use store::{Store, StoreError};

/// How the intake is configured.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Where to listen (`127.0.0.1:8126` by default; the port the Datadog agent uses for traces).
    pub listen: SocketAddr,
    /// The directory of the SQLite database (created if missing).
    pub data_dir: PathBuf,
    /// Data received longer ago than this is removed.
    pub max_age: Duration,
    /// The database is kept under this many bytes by removing the oldest traces.
    pub max_bytes: u64,
    /// A compressed request body larger than this is answered 413.
    pub max_body_bytes: usize,
    /// A body that decompresses to more than this is answered 413 (gzip bombs).
    pub max_decompressed_bytes: usize,
    /// How often retention runs.
    pub retention_interval: Duration,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8126";

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from("kakehashi-intake-data"),
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 1 << 30,
            // The exporter never sends more than 3.2 MB per payload; the real intake refuses
            // larger trace payloads with 413 too.
            max_body_bytes: 10 << 20,
            max_decompressed_bytes: 64 << 20,
            retention_interval: Duration::from_secs(60),
        }
    }
}

/// Opens the store, binds `config.listen`, and serves until `shutdown` completes.
pub async fn run(config: IntakeConfig, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("intake: cannot listen on {}: {e}", config.listen))?;
    // axum's graceful shutdown needs a `Send + 'static` future; `run` accepts any future, so it
    // is awaited here and relayed through a channel.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = run_on(listener, config, async move {
        let _ = rx.await;
    });
    tokio::pin!(server);
    tokio::pin!(shutdown);
    tokio::select! {
        r = &mut server => r,
        () = &mut shutdown => {
            let _ = tx.send(());
            server.await
        }
    }
}

/// Serves on an already bound listener (port 0 in tests) until `shutdown` completes.
pub async fn run_on(
    listener: TcpListener,
    config: IntakeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
        .await
        .map_err(|e| format!("intake: {e}"))?
        .map_err(|e| {
            format!(
                "intake: cannot open the database in {}: {e}",
                config.data_dir.display()
            )
        })?;
    let store = Arc::new(store);
    let retention = tokio::spawn(retention_loop(store.clone(), config.clone()));
    let state = Arc::new(server::AppState {
        store: store.clone(),
        max_body_bytes: config.max_body_bytes,
        max_decompressed_bytes: config.max_decompressed_bytes,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, data = %store.path().display(), "intake listening");
    }
    let result = axum::serve(listener, server::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("intake: server error: {e}"));
    retention.abort();
    result
}

/// Runs [`Store::prune`] every `retention_interval` (and once at start).
async fn retention_loop(store: Arc<Store>, config: IntakeConfig) {
    let mut tick = tokio::time::interval(config.retention_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        let (age, bytes) = (config.max_age, config.max_bytes);
        match tokio::task::spawn_blocking(move || s.prune(age, bytes, store::now_ns())).await {
            Ok(Ok(p)) if p != store::Pruned::default() => {
                tracing::info!(
                    traces = p.traces,
                    spans = p.spans,
                    other_rows = p.other_rows,
                    "intake: retention removed old data"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "intake: retention failed"),
            Err(e) => tracing::warn!(error = %e, "intake: retention task failed"),
        }
    }
}
