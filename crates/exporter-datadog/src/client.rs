//! The HTTP side of the exporter: one attempt at one intake request, and the judgement of its
//! answer. It knows URLs, headers and status codes, nothing about spans; retries live in
//! [`crate::retry`].
//!
//! The API key is held as a [`Secret`] and only ever exposed into a request header; every reason
//! string this module produces is additionally scrubbed of it (a misbehaving server or proxy could
//! echo it back in a body).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use kakehashi_component::BuildError;
use kakehashi_config::Secret;
/// Shared with otlphttp: `Retry-After` parsing and otelcol's 64 KiB cap on response bodies.
pub use kakehashi_exporter_otlp::http::parse_retry_after;
use kakehashi_exporter_otlp::http::read_limited;
use std::fmt;
use std::time::{Duration, SystemTime};

/// How much of an error body a reason carries.
const REASON_BYTES: usize = 200;

const API_KEY_HEADER: &str = "dd-api-key";
const LANGUAGES_HEADER: &str = "x-datadog-reported-languages";
/// The languages in `X-Datadog-Reported-Languages` come from clients (`telemetry.sdk.language`)
/// and are kept for the process's life, so they are bounded: at most this many (the SDKs'
/// languages are about a dozen; the agent lists those of the last 10 s, unbounded) ...
const MAX_REPORTED_LANGUAGES: usize = 16;
/// ... each at most this long and header-safe, or one odd value would blank the header.
const MAX_LANGUAGE_LEN: usize = 32;

/// Adds the languages of a batch to those the header reports, within the bounds above.
pub(crate) fn note_reported_languages(
    seen: &mut std::collections::BTreeSet<String>,
    batch: &std::collections::BTreeSet<String>,
) {
    for lang in batch {
        if seen.len() >= MAX_REPORTED_LANGUAGES {
            return;
        }
        let fits = lang.len() <= MAX_LANGUAGE_LEN
            && lang.bytes().all(|b| b.is_ascii_graphic() && b != b'|');
        if fits && !seen.contains(lang) {
            seen.insert(lang.clone());
        }
    }
}

/// What the client needs to know; the exporter fills it from its config.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Trace intake base, e.g. `https://trace.agent.datadoghq.com`.
    pub traces_endpoint: String,
    /// API base (config `metrics.endpoint`), e.g. `https://api.datadoghq.com`: validate, series,
    /// host metadata.
    pub api_endpoint: String,
    pub api_key: Secret,
    /// Per-request timeout (config `timeout`).
    pub timeout: Duration,
    /// `tls` (CA, client certificate, `insecure_skip_verify`, versions), as for otlphttp.
    pub tls: kakehashi_exporter_otlp::TlsClientSettings,
    /// Explicit proxy; without it reqwest honours `HTTP(S)_PROXY`/`NO_PROXY` like the agent.
    pub proxy_url: Option<String>,
    /// `"datadogexporter-kakehashi-<version>"`; trace and stats requests send
    /// `User-Agent: Datadog Trace Agent/<agent_version>/` (empty git commit ⇒ trailing `/`).
    pub agent_version: String,
    /// `User-Agent` of API requests (validate, series, host metadata), e.g. `kakehashi/<version>`.
    pub user_agent: String,
}

/// Which intake a request goes to; decides URL and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST <traces>/api/v0.2/traces`, gzip'd protobuf `AgentPayload`.
    Traces,
    /// `POST <traces>/api/v0.2/stats`, gzip'd msgpack `StatsPayload`.
    Stats,
    /// `POST <api>/api/v2/series`, gzip'd JSON.
    Series,
    /// `POST <api>/intake`, gzip'd JSON host metadata.
    HostMetadata,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Traces => "traces",
            Endpoint::Stats => "stats",
            Endpoint::Series => "series",
            Endpoint::HostMetadata => "host metadata",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ready-to-send request. The body is already compressed and is cheap to clone, so a retry
/// resends exactly the same bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub endpoint: Endpoint,
    /// gzip'd body.
    pub body: Bytes,
    /// `X-Datadog-Reported-Languages` (`a|b`, may be empty); traces and stats only.
    pub reported_languages: String,
}

impl Request {
    /// `body_gzip` = gzip(protobuf `AgentPayload`); `languages` = `telemetry.sdk.language`s seen.
    pub fn traces(body_gzip: impl Into<Bytes>, languages: &[String]) -> Request {
        Request {
            endpoint: Endpoint::Traces,
            body: body_gzip.into(),
            reported_languages: languages.join("|"),
        }
    }

    /// `body_gzip` = gzip(msgpack `StatsPayload`).
    pub fn stats(body_gzip: impl Into<Bytes>, languages: &[String]) -> Request {
        Request {
            endpoint: Endpoint::Stats,
            body: body_gzip.into(),
            reported_languages: languages.join("|"),
        }
    }

    /// Compresses `json` (a v2 series body).
    pub fn series(json: &[u8]) -> Request {
        Request::json(Endpoint::Series, json)
    }

    /// Compresses `json` (a host metadata body).
    pub fn host_metadata(json: &[u8]) -> Request {
        Request::json(Endpoint::HostMetadata, json)
    }

    fn json(endpoint: Endpoint, json: &[u8]) -> Request {
        Request {
            endpoint,
            body: crate::payload::gzip(json, crate::payload::DEFAULT_GZIP_LEVEL).into(),
            reported_languages: String::new(),
        }
    }
}

/// The judgement of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success { status: u16 },
    /// Transport errors (refused, reset, timeout, DNS), 408, 429 and 5xx. `retry_after` is the
    /// server's `Retry-After` on 429/503.
    ///
    /// 429 is retryable here although the Go trace agent drops the payload on it: our issue
    /// tracker decided that throttling should slow us down, not lose data.
    Retryable {
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Everything else (400, 403, 404, 413, …) and requests that cannot be built; retrying the
    /// same bytes cannot help. `reason` holds the start of the response body.
    Permanent { status: Option<u16>, reason: String },
}

/// The answer to `GET /api/v1/validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValidity {
    Valid,
    Invalid,
    /// The check itself failed (network, unexpected status or body); the text says why.
    Unknown(String),
}

/// One HTTP client for all Datadog intakes of one exporter.
#[derive(Clone)]
pub struct IntakeClient {
    http: reqwest::Client,
    traces_url: reqwest::Url,
    stats_url: reqwest::Url,
    series_url: reqwest::Url,
    intake_url: reqwest::Url,
    validate_url: reqwest::Url,
    api_key: Secret,
    trace_user_agent: HeaderValue,
    api_user_agent: HeaderValue,
}

impl fmt::Debug for IntakeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntakeClient")
            .field("traces_url", &self.traces_url.as_str())
            .field("series_url", &self.series_url.as_str())
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl IntakeClient {
    pub fn new(s: &IntakeSettings) -> Result<IntakeClient, BuildError> {
        let mut b = reqwest::Client::builder();
        // `timeout: 0` is "no limit" in otelcol (Go's http.Client); reqwest would time out at once.
        if !s.timeout.is_zero() {
            b = b.timeout(s.timeout);
        }
        let mut b = kakehashi_exporter_otlp::tls::apply_to_reqwest(b, &s.tls)?;
        b = kakehashi_exporter_otlp::proxy::direct_to_loopback(
            b,
            &[&s.traces_endpoint, &s.api_endpoint],
        );
        if let Some(proxy) = s.proxy_url.as_deref().filter(|p| !p.is_empty()) {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| BuildError(format!("datadog: invalid proxy_url: {e}")))?;
            b = b.proxy(proxy);
        }
        let http = b
            .build()
            .map_err(|e| BuildError(format!("datadog: cannot build the HTTP client: {e}")))?;
        let header = |what: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| BuildError(format!("datadog: {what} is not a valid header value")))
        };
        // Validate the key's shape here so that a bad key fails at build time, not per request.
        header("api.key", s.api_key.expose())?;
        Ok(IntakeClient {
            http,
            traces_url: join(&s.traces_endpoint, "/api/v0.2/traces", "traces.endpoint")?,
            stats_url: join(&s.traces_endpoint, "/api/v0.2/stats", "traces.endpoint")?,
            series_url: join(&s.api_endpoint, "/api/v2/series", "metrics.endpoint")?,
            intake_url: join(&s.api_endpoint, "/intake", "metrics.endpoint")?,
            validate_url: join(&s.api_endpoint, "/api/v1/validate", "metrics.endpoint")?,
            api_key: s.api_key.clone(),
            trace_user_agent: header(
                "the agent version",
                &format!("Datadog Trace Agent/{}/", s.agent_version),
            )?,
            api_user_agent: header("the user agent", &s.user_agent)?,
        })
    }

    /// One attempt at `POST /api/v0.2/traces`.
    pub async fn post_traces(&self, body_gzip: Bytes, languages: &[String]) -> Outcome {
        self.send(&Request::traces(body_gzip, languages)).await
    }

    /// One attempt at `POST /api/v0.2/stats`.
    pub async fn post_stats(&self, body_gzip: Bytes, languages: &[String]) -> Outcome {
        self.send(&Request::stats(body_gzip, languages)).await
    }

    /// One attempt at `POST /api/v2/series` (`json` is compressed here).
    pub async fn post_series(&self, json: &[u8]) -> Outcome {
        self.send(&Request::series(json)).await
    }

    /// One attempt at `POST /intake` (`json` is compressed here).
    pub async fn post_host_metadata(&self, json: &[u8]) -> Outcome {
        self.send(&Request::host_metadata(json)).await
    }

    /// The URL a request goes to.
    pub fn url(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Traces => self.traces_url.as_str(),
            Endpoint::Stats => self.stats_url.as_str(),
            Endpoint::Series => self.series_url.as_str(),
            Endpoint::HostMetadata => self.intake_url.as_str(),
        }
    }

    /// One attempt; never panics, every failure is an [`Outcome`].
    pub async fn send(&self, req: &Request) -> Outcome {
        let (url, content_type, user_agent) = match req.endpoint {
            Endpoint::Traces => (
                &self.traces_url,
                "application/x-protobuf",
                &self.trace_user_agent,
            ),
            Endpoint::Stats => (
                &self.stats_url,
                "application/msgpack",
                &self.trace_user_agent,
            ),
            Endpoint::Series => (&self.series_url, "application/json", &self.api_user_agent),
            Endpoint::HostMetadata => (&self.intake_url, "application/json", &self.api_user_agent),
        };
        let mut headers = self.auth_headers(user_agent);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        if matches!(req.endpoint, Endpoint::Traces | Endpoint::Stats) {
            // Languages come from resource attributes; anything not header-safe is dropped
            // rather than failing the payload.
            let langs = HeaderValue::from_str(&req.reported_languages)
                .unwrap_or(HeaderValue::from_static(""));
            headers.insert(LANGUAGES_HEADER, langs);
        }
        let sent = self
            .http
            .post(url.clone())
            .headers(headers)
            .body(req.body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => self.judge(resp).await,
            Err(e) => self.transport_outcome(&e),
        }
    }

    /// `GET <api>/api/v1/validate`: valid ⇔ 2xx with `{"valid": true}`; 403 ⇒ invalid.
    pub async fn validate_api_key(&self) -> KeyValidity {
        let mut headers = self.auth_headers(&self.api_user_agent);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let resp = match self
            .http
            .get(self.validate_url.clone())
            .headers(headers)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return KeyValidity::Unknown(self.scrub(&error_chain(&e))),
        };
        let status = resp.status().as_u16();
        let body = read_limited(resp).await.unwrap_or_default();
        match status {
            403 => KeyValidity::Invalid,
            200..=299 => match serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("valid").and_then(serde_json::Value::as_bool))
            {
                Some(true) => KeyValidity::Valid,
                Some(false) => KeyValidity::Invalid,
                None => KeyValidity::Unknown(format!(
                    "unexpected validate response body: {}",
                    self.reason(&body)
                )),
            },
            _ => KeyValidity::Unknown(format!("HTTP {status}: {}", self.reason(&body))),
        }
    }

    fn auth_headers(&self, user_agent: &HeaderValue) -> HeaderMap {
        let mut h = HeaderMap::new();
        // Checked in `new`, so this cannot fail; mark it sensitive so that http/hyper never print
        // it in their own Debug output.
        if let Ok(mut key) = HeaderValue::from_str(self.api_key.expose()) {
            key.set_sensitive(true);
            h.insert(API_KEY_HEADER, key);
        }
        h.insert(USER_AGENT, user_agent.clone());
        h
    }

    async fn judge(&self, resp: reqwest::Response) -> Outcome {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Read (a bounded part of) the body even on success so the connection can be reused.
        // The status line arrived, so the server has judged the request; a body that breaks off
        // only costs us the reason text.
        let body = read_limited(resp).await.unwrap_or_default();
        classify(status, retry_after, self.reason(&body))
    }

    fn transport_outcome(&self, e: &reqwest::Error) -> Outcome {
        let reason = self.scrub(&error_chain(e));
        if e.is_builder() {
            Outcome::Permanent {
                status: None,
                reason,
            }
        } else {
            Outcome::Retryable {
                status: None,
                reason,
                retry_after: None,
            }
        }
    }

    /// The first [`REASON_BYTES`] of a body as text, scrubbed of the key.
    fn reason(&self, body: &[u8]) -> String {
        let cut = &body[..body.len().min(REASON_BYTES)];
        let text = String::from_utf8_lossy(cut);
        self.scrub(text.trim())
    }

    fn scrub(&self, text: &str) -> String {
        let key = self.api_key.expose();
        if key.is_empty() {
            text.to_string()
        } else {
            text.replace(key, "[REDACTED]")
        }
    }
}

/// Status → outcome. Retry-After is honoured on 429 and 503 only.
pub fn classify(status: u16, retry_after: Option<Duration>, reason: String) -> Outcome {
    match status {
        200..=299 => Outcome::Success { status },
        408 | 429 | 500..=599 => Outcome::Retryable {
            status: Some(status),
            reason,
            retry_after: if matches!(status, 429 | 503) {
                retry_after
            } else {
                None
            },
        },
        _ => Outcome::Permanent {
            status: Some(status),
            reason,
        },
    }
}

fn join(base: &str, path: &str, what: &str) -> Result<reqwest::Url, BuildError> {
    let full = format!("{}{path}", base.trim_end_matches('/'));
    let url = reqwest::Url::parse(&full)
        .map_err(|e| BuildError(format!("datadog: invalid {what} {base:?}: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        s => Err(BuildError(format!(
            "datadog: {what} {base:?} must be http or https, not {s}"
        ))),
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); the chain has it
/// ("connection refused", "operation timed out").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
