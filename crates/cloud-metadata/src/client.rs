//! The HTTP client kakehashi asks instance metadata services with. Those services answer on link-local addresses from inside the instance, so kakehashi never sends
//! these requests through a proxy (Go's EC2, ECS and Azure clients honour `HTTP_PROXY`, and
//! otelcol tells users behind a proxy to exempt the metadata address; Google's client, like
//! this one, never uses one). Every request ends by the caller's deadline (resourcedetection's
//! `timeout`, the datadog exporter's `hostname_detection_timeout`): off the cloud in question,
//! the address may not answer at all.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone)]
pub struct MetadataClient {
    http: reqwest::Client,
    /// The longest one request may take.
    per_request: Duration,
    deadline: Option<Instant>,
}

/// A failed request: no answer (refused, timed out) or an error status.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// No connection could be made, and not because it was refused or reset: no route to the
    /// address, or no address for the name.
    pub unreachable: bool,
    pub message: String,
}

impl FetchError {
    /// Worth another attempt: no answer, throttled, or a server error (the AWS SDK's standard
    /// retryer; Google's client retries the same but throttling).
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s == 429 || s >= 500)
    }

    pub fn unanswered(message: String) -> Self {
        FetchError {
            status: None,
            unreachable: false,
            message,
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl MetadataClient {
    /// Requests of at most `per_request`, connecting within `connect`, all ending by
    /// `deadline` when there is one.
    pub fn new(
        per_request: Duration,
        connect: Duration,
        deadline: Option<Instant>,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(connect)
            .build()
            .map_err(|e| format!("building the metadata HTTP client: {e}"))?;
        Ok(MetadataClient {
            http,
            per_request,
            deadline,
        })
    }

    /// How long the next request may take; `None` once the deadline has passed.
    fn budget(&self) -> Option<Duration> {
        match self.deadline {
            None => Some(self.per_request),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(self.per_request))
            }
        }
    }

    /// `backoff`, or less when the deadline comes sooner: a retry's wait never outlasts it.
    pub fn wait_within_deadline(&self, backoff: Duration) -> Duration {
        match self.deadline {
            None => backoff,
            Some(d) => backoff.min(d.saturating_duration_since(Instant::now())),
        }
    }

    pub fn deadline_passed(&self) -> bool {
        self.budget().is_none()
    }

    /// `GET url` with `headers`; the body of a 2xx answer.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<String, FetchError> {
        self.send(self.http.get(url), url, headers).await
    }

    /// `PUT url` with `headers` and an empty body; the body of a 2xx answer.
    pub async fn put(&self, url: &str, headers: &[(&str, &str)]) -> Result<String, FetchError> {
        self.send(self.http.put(url), url, headers).await
    }

    /// `GET url`: whether it answered with `header: value` (any status).
    pub async fn answers_with(&self, url: &str, header: &str, value: &str) -> bool {
        let Some(budget) = self.budget() else {
            return false;
        };
        match self.http.get(url).timeout(budget).send().await {
            Ok(resp) => resp.headers().get(header).is_some_and(|v| v == value),
            Err(_) => false,
        }
    }

    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<String, FetchError> {
        let budget = self
            .budget()
            .ok_or_else(|| FetchError::unanswered(format!("{url}: deadline reached")))?;
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let unanswered = |e: reqwest::Error| FetchError {
            unreachable: unreachable(&e),
            ..FetchError::unanswered(format!("{url}: {e}"))
        };
        let resp = req.timeout(budget).send().await.map_err(unanswered)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError {
                status: Some(status.as_u16()),
                unreachable: false,
                message: format!("{url}: status {status}"),
            });
        }
        resp.text().await.map_err(unanswered)
    }
}

/// Whether `e` failed to connect for another reason than a refused or reset connection (no
/// route, no address for the name): the distinction Google's client retries by on Linux.
fn unreachable(e: &reqwest::Error) -> bool {
    if !e.is_connect() || e.is_timeout() {
        return false;
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
            return !matches!(io.kind(), ConnectionRefused | ConnectionReset);
        }
        cause = c.source();
    }
    true
}
