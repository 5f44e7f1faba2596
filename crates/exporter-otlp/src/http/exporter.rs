//! The running `otlphttp` exporter: one reqwest client, one POST per export.

use super::body;
use super::config::{Encoding, HttpCompression, OtlpHttpConfig};
use super::response::{check_success, read_limited, status_error};
use kakehashi_component::{Batch, BuildError, ClientAuthenticator, ExportError, Exporter};
use kakehashi_pdata::Signal;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use std::sync::Arc;

pub struct OtlpHttpExporter {
    client: reqwest::Client,
    url: String,
    signal: Signal,
    encoding: Encoding,
    compression: HttpCompression,
    level: i32,
    /// `auth::authenticator`: its headers are set on every request.
    auth: Option<Arc<dyn ClientAuthenticator>>,
    /// `max_conns_per_host`: requests beyond it wait, as Go's transport makes them wait for a
    /// connection. One request holds at most one connection, so bounding the requests in
    /// flight bounds the connections (over HTTP/2 it also bounds the streams: stricter than Go,
    /// same intent).
    conn_limit: Option<Arc<tokio::sync::Semaphore>>,
}

impl OtlpHttpExporter {
    /// Builds the client for one signal. Nothing connects until the first export.
    pub fn new(cfg: &OtlpHttpConfig, signal: Signal) -> Result<Self, BuildError> {
        let url = cfg.signal_url(signal).ok_or_else(|| {
            BuildError(format!(
                "no endpoint for {signal}: set \"endpoint\" or \"{signal}_endpoint\""
            ))
        })?;
        reqwest::Url::parse(&url)
            .map_err(|e| BuildError(format!("invalid endpoint {url:?}: {e}")))?;
        let encoding = cfg.encoding()?;
        let compression = cfg.compression()?;
        Ok(OtlpHttpExporter {
            client: build_client(cfg, &url)?,
            url,
            signal,
            encoding,
            compression,
            level: cfg.compression_params.level,
            auth: None,
            conn_limit: cfg
                .max_conns_per_host
                .filter(|n| *n > 0)
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
        })
    }

    /// Adds `auth::authenticator` (otelcol's round tripper sets its header on every request).
    pub fn with_authenticator(mut self, auth: Arc<dyn ClientAuthenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn build_client(cfg: &OtlpHttpConfig, url: &str) -> Result<reqwest::Client, BuildError> {
    let mut headers = HeaderMap::new();
    for (k, v) in &cfg.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| BuildError(format!("headers: invalid header name {k:?}")))?;
        // Secret value: errors name the header only, and the value is marked sensitive so
        // reqwest/hyper never print it.
        let mut value = HeaderValue::from_str(v.expose())
            .map_err(|_| BuildError(format!("headers: invalid value for header {k:?}")))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let mut b = reqwest::Client::builder()
        .user_agent(crate::USER_AGENT)
        .default_headers(headers)
        .use_rustls_tls();
    if !cfg.timeout.is_zero() {
        b = b.timeout(cfg.timeout.get());
    }
    let keepalive = cfg.keepalive_keys().effective();
    if let Some(n) = keepalive
        .max_idle_conns_per_host
        .or(keepalive.max_idle_conns)
    {
        b = b.pool_max_idle_per_host(n);
    }
    if let Some(t) = keepalive.idle_conn_timeout {
        b = b.pool_idle_timeout((!t.is_zero()).then(|| t.get()));
    }
    if !keepalive.enabled {
        b = b.pool_max_idle_per_host(0);
    }
    b = crate::proxy::direct_to_loopback(b, &[url]);
    if !cfg.proxy_url.is_empty() {
        let proxy = reqwest::Proxy::all(&cfg.proxy_url)
            .map_err(|e| BuildError(format!("invalid proxy_url: {e}")))?;
        b = b.proxy(proxy);
    }
    let b = crate::tls::apply_to_reqwest(b, &cfg.tls)?;
    b.build()
        .map_err(|e| BuildError(format!("failed to create the HTTP client: {e}")))
}

#[async_trait::async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        // Build errors are permanent: the same data would fail the same way again.
        let data = body::encode(&batch.payload, self.encoding).map_err(ExportError::permanent)?;
        let data =
            body::compress(data, self.compression, self.level).map_err(ExportError::permanent)?;
        let mut req = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, body::content_type(self.encoding))
            .body(data);
        if let Some(ce) = self.compression.content_encoding() {
            req = req.header(CONTENT_ENCODING, ce);
        }
        if let Some(auth) = &self.auth {
            for (name, mut value) in auth.headers().map_err(ExportError::permanent)? {
                value.set_sensitive(true);
                req = req.header(name, value);
            }
        }
        let _connection = match &self.conn_limit {
            Some(limit) => Some(limit.acquire().await.map_err(|_| {
                ExportError::retryable("the exporter is shutting down".to_string())
            })?),
            None => None,
        };
        let resp = req.send().await.map_err(|e| {
            // The cause (TLS, connection refused, ...) is only in the source chain.
            let msg = format!(
                "failed to make an HTTP request: {}",
                crate::tls::error_chain(&e)
            );
            if e.is_builder() {
                ExportError::permanent(msg)
            } else {
                ExportError::retryable(msg)
            }
        })?;
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        // A body that cannot be read is treated as empty: the status line already decided.
        let body = read_limited(resp).await.unwrap_or_default();
        if (200..300).contains(&status) {
            check_success(self.signal, content_type.as_deref(), &body)
        } else {
            Err(status_error(
                &self.url,
                status,
                retry_after.as_deref(),
                &body,
            ))
        }
    }
}
