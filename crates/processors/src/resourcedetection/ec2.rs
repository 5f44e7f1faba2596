//! The `ec2` detector: the instance identity document and hostname from the EC2 instance
//! metadata service (IMDS), as otelcol's detector reads them through the AWS SDK. IMDSv2 first
//! (a session token from `PUT /latest/api/token`), IMDSv1 when the token request is refused;
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`) moves
//! the service, `AWS_EC2_METADATA_DISABLED=true` turns it off. Off EC2 the first request gets no answer and the detector finds nothing (or
//! fails, with `fail_on_missing_metadata`).

use super::config::{Ec2Config, EC2_ATTRIBUTES};
use super::detected::{Attributes, Detected};
use super::Sources;
use kakehashi_cloud_metadata::imds::{self, Imds, Retry};
use kakehashi_cloud_metadata::FetchError;
use serde::Deserialize;
use tokio::time::Instant;

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

pub(crate) async fn detect(
    cfg: &Ec2Config,
    fail_on_missing: bool,
    deadline: Option<Instant>,
    src: &Sources,
) -> Result<Attributes, String> {
    let retry = Retry {
        max_attempts: cfg.max_attempts,
        max_backoff: cfg.max_backoff.get(),
    };
    let client = Imds::from_env(&*src.env, retry, deadline)?;
    let probe = match client {
        None => Err(imds::DISABLED.to_string()),
        Some(mut imds) => imds
            .get("meta-data/instance-id")
            .await
            .map(|_| imds)
            .map_err(|e| e.to_string()),
    };
    let mut imds = match probe {
        Ok(imds) => imds,
        Err(e) => {
            tracing::debug!(error = %e, "EC2 metadata unavailable");
            return if fail_on_missing {
                Err(e)
            } else {
                Ok(Attributes::new())
            };
        }
    };
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
    imds: &mut Imds,
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
