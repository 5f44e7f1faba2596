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
    probe(&mut imds).await?;
    let id = document_instance_id(&mut imds).await?;
    if id.is_empty() {
        return Err("instance ID is unavailable".into());
    }
    Ok(Source::Host(id))
}

/// Whether IMDS answers at all (Go asks for the instance id and ignores it).
pub(crate) async fn probe(imds: &mut Imds) -> Result<(), String> {
    imds.get("meta-data/instance-id")
        .await
        .map(drop)
        .map_err(|e| format!("EC2 Metadata service is not available: {e}"))
}

/// The instance id of the identity document.
pub(crate) async fn document_instance_id(imds: &mut Imds) -> Result<String, String> {
    let doc = imds
        .get("dynamic/instance-identity/document")
        .await
        .map_err(|e| format!("Failed to get EC2 instance id document: {e}"))?;
    serde_json::from_str::<IdentityDocument>(&doc)
        .map(|d| d.instance_id)
        .map_err(|e| format!("Failed to get EC2 instance id document: {e}"))
}
