//! EC2's Instance Metadata Service, asked as the AWS SDK for Go asks it: IMDSv2 first (a
//! session token from `PUT /latest/api/token`), IMDSv1 when the token request is refused; a
//! 401 asks for a new token. `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`) moves the service, and
//! `AWS_EC2_METADATA_DISABLED=true` turns it off.

use crate::{non_empty, Env, FetchError, MetadataClient};
use std::time::Duration;
use tokio::time::Instant;

const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
const TOKEN_TTL_SECONDS: &str = "300";
/// The SDK's IMDS client fails fast, since IMDS drops answers beyond one network hop: a
/// connection within 250 ms, an answer within 500 ms (kakehashi: the whole small body within
/// 1 s), one operation with its retries within 5 s, backoff at most 1 s between attempts.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The SDK's standard retryer.
pub const DEFAULT_ATTEMPTS: usize = 3;

/// How the SDK retries one operation.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub max_attempts: usize,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: DEFAULT_ATTEMPTS,
            max_backoff: MAX_BACKOFF,
        }
    }
}

pub struct Imds {
    client: MetadataClient,
    base: String,
    retry: Retry,
    /// `None` until asked; `Some(None)` when the service refused tokens (IMDSv1).
    token: Option<Option<String>>,
}

/// The SDK's message when `AWS_EC2_METADATA_DISABLED` is set.
pub const DISABLED: &str = "access to EC2 IMDS disabled by AWS_EC2_METADATA_DISABLED";

impl Imds {
    /// A client for the service the environment names, every request ending by `deadline`;
    /// `Ok(None)` when `AWS_EC2_METADATA_DISABLED=true`.
    pub fn from_env(
        env: Env<'_>,
        retry: Retry,
        deadline: Option<Instant>,
    ) -> Result<Option<Imds>, String> {
        if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        Ok(Some(Imds {
            client: MetadataClient::new(ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, deadline)?,
            base: endpoint(env).trim_end_matches('/').to_string(),
            retry,
            token: None,
        }))
    }

    async fn token(&mut self) -> Result<Option<String>, FetchError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let url = format!("{}/latest/api/token", self.base);
        let t = match self
            .client
            .put(
                &url,
                &[("X-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS)],
            )
            .await
        {
            Ok(token) => Some(token),
            // A 400 is the SDK's one terminal answer; anything else falls back to IMDSv1.
            Err(e) if e.status == Some(400) => return Err(e),
            Err(_) => None,
        };
        self.token = Some(t.clone());
        Ok(t)
    }

    /// `GET /latest/<path>`, retried as the SDK's standard retryer retries, within the SDK's
    /// operation timeout.
    pub async fn get(&mut self, path: &str) -> Result<String, FetchError> {
        let url = format!("{}/latest/{path}", self.base);
        match tokio::time::timeout(OPERATION_TIMEOUT, self.attempts(&url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::unanswered(format!(
                "{url}: no answer within {OPERATION_TIMEOUT:?}"
            ))),
        }
    }

    async fn attempts(&mut self, url: &str) -> Result<String, FetchError> {
        let attempts = self.retry.max_attempts.max(1);
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            let token = self.token().await?;
            let headers: Vec<(&str, &str)> = token
                .as_deref()
                .map(|t| ("X-aws-ec2-metadata-token", t))
                .into_iter()
                .collect();
            let err = match self.client.get(url, &headers).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            if err.status == Some(401) {
                // An expired token: ask for a new one.
                self.token = None;
            } else if !err.retryable() {
                return Err(err);
            }
            if attempt >= attempts || self.client.deadline_passed() {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(self.client.wait_within_deadline(backoff)).await;
            backoff = (backoff * 2).min(self.retry.max_backoff).min(MAX_BACKOFF);
        }
    }
}

/// The service's address, as the SDK takes it from the environment.
fn endpoint(env: Env<'_>) -> String {
    if let Some(e) = non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        return e;
    }
    let ipv6 = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
        .is_some_and(|m| m.eq_ignore_ascii_case("ipv6"));
    if ipv6 {
        IPV6_ENDPOINT
    } else {
        DEFAULT_ENDPOINT
    }
    .to_string()
}
