//! The `ec2` detector: the instance identity document and hostname from the EC2 instance
//! metadata service (IMDS), as otelcol's detector reads them through the AWS SDK. IMDSv2 first
//! (a session token from `PUT /latest/api/token`), IMDSv1 when the token request is refused;
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`) moves
//! the service, `AWS_EC2_METADATA_DISABLED=true` turns it off. Off EC2 the first request gets no answer and the detector finds nothing (or
//! fails, with `fail_on_missing_metadata`).

use super::config::{Ec2Config, EC2_ATTRIBUTES};
use super::detected::{Attributes, Detected};
use super::metadata_client::{FetchError, MetadataClient};
use super::Sources;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
const TOKEN_TTL_SECONDS: &str = "300";
/// The AWS SDK's IMDS client fails fast, since IMDS drops answers beyond one network hop: a
/// connection within 250 ms, an answer within 500 ms (kakehashi: the whole small body within
/// 1 s), one operation with its retries within 5 s, backoff at most 1 s between attempts.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct IdentityDocument {
    region: String,
    account_id: String,
    availability_zone: String,
    instance_id: String,
    image_id: String,
    instance_type: String,
}

struct Imds<'a> {
    client: MetadataClient,
    base: String,
    cfg: &'a Ec2Config,
    /// `None` until asked; `Some(None)` when the service refused tokens (IMDSv1).
    token: Option<Option<String>>,
}

impl Imds<'_> {
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

    /// `GET /latest/<path>`, retried as the SDK's standard retryer retries, within the
    /// SDK's operation timeout.
    async fn get(&mut self, path: &str) -> Result<String, FetchError> {
        let url = format!("{}/latest/{path}", self.base);
        match tokio::time::timeout(OPERATION_TIMEOUT, self.attempts(&url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError {
                status: None,
                message: format!("{url}: no answer within {OPERATION_TIMEOUT:?}"),
            }),
        }
    }

    async fn attempts(&mut self, url: &str) -> Result<String, FetchError> {
        let attempts = self.cfg.max_attempts.max(1);
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
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2)
                .min(self.cfg.max_backoff.get())
                .min(MAX_BACKOFF);
        }
    }
}

/// The service's address, as the AWS SDK takes it from the environment.
fn endpoint(src: &Sources) -> String {
    if let Some(e) = (src.env)("AWS_EC2_METADATA_SERVICE_ENDPOINT").filter(|v| !v.is_empty()) {
        return e;
    }
    let ipv6 = (src.env)("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
        .is_some_and(|m| m.eq_ignore_ascii_case("ipv6"));
    if ipv6 {
        IPV6_ENDPOINT
    } else {
        DEFAULT_ENDPOINT
    }
    .to_string()
}

pub(crate) async fn detect(
    cfg: &Ec2Config,
    fail_on_missing: bool,
    deadline: Option<Instant>,
    src: &Sources,
) -> Result<Attributes, String> {
    let disabled =
        (src.env)("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let base = endpoint(src);
    let mut imds = Imds {
        client: MetadataClient::new(ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, deadline)?,
        base: base.trim_end_matches('/').to_string(),
        cfg,
        token: None,
    };
    let probe = if disabled {
        Err("access to EC2 IMDS disabled by AWS_EC2_METADATA_DISABLED".to_string())
    } else {
        imds.get("meta-data/instance-id")
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = probe {
        tracing::debug!(error = %e, "EC2 metadata unavailable");
        return if fail_on_missing {
            Err(e)
        } else {
            Ok(Attributes::new())
        };
    }
    let doc_text = imds
        .get("dynamic/instance-identity/document")
        .await
        .map_err(|e| format!("failed getting identity document: {e}"))?;
    let doc: IdentityDocument = serde_json::from_str(&doc_text)
        .map_err(|e| format!("failed getting identity document: {e}"))?;
    let hostname = imds
        .get("meta-data/hostname")
        .await
        .map_err(|e| format!("failed getting hostname: {e}"))?;

    let mut out = Detected::new(&cfg.resource_attributes, EC2_ATTRIBUTES);
    out.str("cloud.provider", "aws");
    out.str("cloud.platform", "aws_ec2");
    out.str("cloud.region", doc.region);
    out.str("cloud.account.id", doc.account_id);
    out.str("cloud.availability_zone", doc.availability_zone);
    out.str("host.id", doc.instance_id);
    out.str("host.image.id", doc.image_id);
    out.str("host.type", doc.instance_type);
    out.str("host.name", hostname);
    if !cfg.tags.is_empty() {
        // Validation refused tags from the EC2 API; these come from the metadata service.
        match imds_tags(&mut imds, &cfg.tags).await {
            Ok(tags) => tags
                .into_iter()
                .for_each(|(k, v)| out.extra(format!("ec2.tag.{k}"), v)),
            Err(e) => tracing::warn!(error = %e, "failed fetching ec2 instance tags"),
        }
    }
    Ok(out.into_attributes())
}

/// Instance tags whose key matches one of `patterns` (unanchored), from
/// `meta-data/tags/instance` (served when the instance allows tags in its metadata); a tag
/// whose value cannot be read is left out (logged).
async fn imds_tags(
    imds: &mut Imds<'_>,
    patterns: &[String],
) -> Result<Vec<(String, String)>, FetchError> {
    let patterns: Vec<regex::Regex> = patterns
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect();
    let keys = imds.get("meta-data/tags/instance").await?;
    let mut out = Vec::new();
    for key in keys.split('\n').map(str::trim).filter(|k| !k.is_empty()) {
        if patterns.iter().any(|re| re.is_match(key)) {
            match imds.get(&format!("meta-data/tags/instance/{key}")).await {
                Ok(value) => out.push((key.to_string(), value)),
                Err(e) => tracing::warn!(tag = key, error = %e, "failed fetching ec2 instance tag"),
            }
        }
    }
    Ok(out)
}
