//! The HTTP client the cloud detectors ask their instance metadata services with. Those
//! services answer on link-local addresses from inside the instance, so requests never go
//! through a proxy (as Go's metadata clients), and each request is bounded by the detection's
//! `timeout`: off the cloud in question, the address does not answer at all.

use std::time::Duration;

#[derive(Clone)]
pub(crate) struct MetadataClient {
    http: reqwest::Client,
}

/// A failed request: no answer (refused, timed out) or an error status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchError {
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    pub message: String,
}

impl FetchError {
    /// Worth another attempt: no answer, or a server error (the AWS SDK's standard retryer).
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl MetadataClient {
    /// Each request ends after `timeout`; a connection must be made within `connect_timeout`.
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(connect_timeout.min(timeout))
            .build()
            .unwrap_or_default();
        MetadataClient { http }
    }

    /// `GET url` with `headers`; the body of a 2xx answer.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<String, FetchError> {
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::body(req, url).await
    }

    /// `PUT url` with `headers` and an empty body; the body of a 2xx answer.
    pub async fn put(&self, url: &str, headers: &[(&str, &str)]) -> Result<String, FetchError> {
        let mut req = self.http.put(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::body(req, url).await
    }

    async fn body(req: reqwest::RequestBuilder, url: &str) -> Result<String, FetchError> {
        let unanswered = |e: reqwest::Error| FetchError {
            status: None,
            message: format!("{url}: {e}"),
        };
        let resp = req.send().await.map_err(unanswered)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError {
                status: Some(status.as_u16()),
                message: format!("{url}: status {status}"),
            });
        }
        resp.text().await.map_err(unanswered)
    }
}
