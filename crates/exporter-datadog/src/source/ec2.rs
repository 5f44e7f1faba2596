//! `ec2`: the instance id, from EC2 IMDS's identity document (always the id: Go's rule that
//! keeps a non-default EC2 hostname applies to resource attributes, not to this source).

use super::{Found, Source, Sources};
use kakehashi_cloud_metadata::imds::{self, Imds, Retry};
use serde::Deserialize;
use tokio::time::Instant;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct IdentityDocument {
    instance_id: String,
}

pub(super) async fn source(src: &Sources, deadline: Option<Instant>) -> Found {
    let Some(mut imds) = Imds::from_env(&*src.env, Retry::default(), deadline)? else {
        return Err(imds::DISABLED.into());
    };
    imds.get("meta-data/instance-id")
        .await
        .map_err(|e| format!("EC2 Metadata service is not available: {e}"))?;
    let doc = imds
        .get("dynamic/instance-identity/document")
        .await
        .map_err(|e| format!("Failed to get EC2 instance id document: {e}"))?;
    let doc: IdentityDocument = serde_json::from_str(&doc)
        .map_err(|e| format!("Failed to get EC2 instance id document: {e}"))?;
    if doc.instance_id.is_empty() {
        return Err("instance ID is unavailable".into());
    }
    Ok(Source::Host(doc.instance_id))
}
