//! The GCE metadata server, asked as Google's Go client asks it: `Metadata-Flavor: Google`, a
//! connection within 2 s, each request within 5 s, up to 5 retries from 100 ms (doubling) for
//! server errors, timeouts, and refused or reset connections (its Linux rule); not where there
//! is no route to the server, nor for other statuses.

use crate::{non_empty, Env, FetchError, MetadataClient};
use std::time::Duration;
use tokio::time::Instant;

pub const DEFAULT_HOST: &str = "169.254.169.254";
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const RETRIES: usize = 5;

pub struct Gce {
    client: MetadataClient,
    /// `host[:port]`.
    host: String,
}

fn retried_by_google(e: &FetchError) -> bool {
    match e.status {
        Some(status) => status >= 500,
        None => !e.unreachable,
    }
}

/// `GCE_METADATA_HOST` when set, else `default_host`.
pub fn host(env: Env<'_>, default_host: &str) -> String {
    non_empty(env, "GCE_METADATA_HOST").unwrap_or_else(|| default_host.to_string())
}

impl Gce {
    /// A client for the server at `host`, every request ending by `deadline`.
    pub fn new(host: String, deadline: Option<Instant>) -> Result<Gce, String> {
        Ok(Gce {
            client: MetadataClient::new(REQUEST_TIMEOUT, CONNECT_TIMEOUT, deadline)?,
            host,
        })
    }

    /// `GET /computeMetadata/v1/<suffix>`, retried.
    pub async fn get(&self, suffix: &str) -> Result<String, FetchError> {
        let url = format!("http://{}/computeMetadata/v1/{suffix}", self.host);
        let headers = [("Metadata-Flavor", "Google")];
        let mut backoff = Duration::from_millis(100);
        let mut retries = 0;
        loop {
            match self.client.get(&url, &headers).await {
                Err(e)
                    if retried_by_google(&e)
                        && retries < RETRIES
                        && !self.client.deadline_passed() =>
                {
                    retries += 1;
                    tokio::time::sleep(self.client.wait_within_deadline(backoff)).await;
                    backoff *= 2;
                }
                result => return result,
            }
        }
    }

    /// [`Gce::get`], the value trimmed and the error as text.
    pub async fn trimmed(&self, suffix: &str) -> Result<String, String> {
        self.get(suffix)
            .await
            .map(|v| v.trim().to_string())
            .map_err(|e| e.to_string())
    }

    /// Whether the server answers as Google's does (any path, any status).
    pub async fn answers(&self) -> bool {
        let url = format!("http://{}", self.host);
        self.client
            .answers_with(&url, "Metadata-Flavor", "Google")
            .await
    }
}
