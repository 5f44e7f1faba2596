//! OTLP/HTTP server: a hyper accept loop (optionally TLS) with graceful shutdown.

use crate::config::{sanitize_url_path, HttpServerConfig};
use crate::cors::Cors;
use crate::http_handler::{handle, HttpState};
use crate::server_handle::ServerHandle;
use crate::tls;
use http::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use kakehashi_component::{BuildError, ServerAuthenticator, SignalConsumers};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::ReceiverMetrics;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Go's `http.DefaultMaxHeaderBytes` (1 MiB).
const MAX_HEADER_BYTES: usize = 1 << 20;
/// How long an HTTP/1 client may take to send a request's headers when `read_header_timeout` is
/// 0. otelcol's receiver sets no limit there, so a slowloris client (headers dribbled byte by
/// byte) holds its connection and file descriptor forever; we use confighttp's default server
/// value (1 minute) instead. The same clock runs while a keep-alive connection waits for its next
/// request, so idle HTTP/1 connections are also closed after this long.
const DEFAULT_READ_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Encodings we can decode ("" is an uncompressed body): confighttp's whole list.
const SUPPORTED_ENCODINGS: [&str; 8] = [
    "",
    "gzip",
    "zstd",
    "zlib",
    "deflate",
    "snappy",
    "x-snappy-framed",
    "lz4",
];

fn build_state(
    cfg: &HttpServerConfig,
    consumers: &SignalConsumers,
    metrics: ReceiverMetrics,
    auth: Option<Arc<dyn ServerAuthenticator>>,
) -> Result<HttpState, BuildError> {
    let mut routes = HashMap::new();
    for (signal, path) in [
        (Signal::Traces, &cfg.traces_url_path),
        (Signal::Metrics, &cfg.metrics_url_path),
        (Signal::Logs, &cfg.logs_url_path),
    ] {
        // A signal no pipeline consumes is not registered, so its path answers 404.
        if let Some(c) = consumers.get(signal) {
            routes.insert(sanitize_url_path(path), (signal, c.clone()));
        }
    }
    let mut response_headers = Vec::new();
    for (k, v) in &cfg.response_headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| BuildError(format!("invalid response header {k:?}: {e}")))?;
        let value = HeaderValue::from_str(v.expose())
            .map_err(|e| BuildError(format!("invalid response header value for {k:?}: {e}")))?;
        response_headers.push((name, value));
    }
    Ok(HttpState {
        auth,
        routes,
        metrics,
        body_limit: cfg.body_limit(),
        include_metadata: cfg.include_metadata,
        cors: cfg.cors.as_ref().and_then(Cors::new),
        response_headers,
        encodings: cfg
            .compression_algorithms
            .iter()
            .filter(|a| SUPPORTED_ENCODINGS.contains(&a.as_str()))
            .cloned()
            .collect(),
    })
}

pub async fn start(
    cfg: &HttpServerConfig,
    consumers: &SignalConsumers,
    metrics: ReceiverMetrics,
    auth: Option<Arc<dyn ServerAuthenticator>>,
) -> Result<ServerHandle, BuildError> {
    let state = Arc::new(build_state(cfg, consumers, metrics, auth)?);
    let acceptor = match cfg.tls.as_ref() {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
            t,
            &[b"h2", b"http/1.1"],
        )?)),
        None => None,
    };
    let listener = kakehashi_telemetry::net::bind_tcp(&cfg.endpoint)
        .await
        .map_err(|e| BuildError(format!("listen tcp {}: {e}", cfg.endpoint)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BuildError(format!("listen tcp {}: {e}", cfg.endpoint)))?;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    let header_timeout = if cfg.read_header_timeout.is_zero() {
        DEFAULT_READ_HEADER_TIMEOUT
    } else {
        cfg.read_header_timeout.get()
    };
    builder
        .http1()
        .keep_alive(cfg.keep_alives_enabled)
        .max_buf_size(MAX_HEADER_BYTES)
        // hyper enforces the header timeout only with a timer.
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .max_header_list_size(MAX_HEADER_BYTES as u32);

    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let state = state.clone();
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(state, peer, req).await) }
            });
            let (builder, watcher, acceptor) =
                (builder.clone(), graceful.watcher(), acceptor.clone());
            tokio::spawn(async move {
                let result = match acceptor {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                        watcher.watch(conn.into_owned()).await
                    }
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let conn = builder.serve_connection(TokioIo::new(tls), svc);
                            watcher.watch(conn.into_owned()).await
                        }
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with error");
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
    });
    tracing::info!(endpoint = %addr, "Starting HTTP server");
    Ok(ServerHandle::new(addr, stop, task))
}
