//! `azure`: the VM id from Azure IMDS's compute document (Go's provider: one request, bounded
//! only by the deadline).

use super::{Found, Source, Sources};
use kakehashi_cloud_metadata::azure::{compute_url, endpoint, field, HEADERS};
use kakehashi_cloud_metadata::MetadataClient;
use std::time::Duration;
use tokio::time::Instant;

/// With no deadline (`hostname_detection_timeout: 0`), the request still ends after this long.
const REQUEST_CAP: Duration = Duration::from_secs(30);

/// The compute document.
async fn compute(
    src: &Sources,
    deadline: Option<Instant>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let client = MetadataClient::new(REQUEST_CAP, REQUEST_CAP, deadline)?;
    let body = client
        .get(&compute_url(&endpoint(&*src.env)), &HEADERS)
        .await
        .map_err(|e| format!("failed to query Azure IMDS: {e}"))?;
    match serde_json::from_str(&body) {
        Ok(serde_json::Value::Object(doc)) => Ok(doc),
        Ok(_) => Err("failed to decode Azure IMDS reply: not an object".into()),
        Err(e) => Err(format!("failed to decode Azure IMDS reply: {e}")),
    }
}

pub(super) async fn source(src: &Sources, deadline: Option<Instant>) -> Found {
    let vm_id = field(&compute(src, deadline).await?, "vmID");
    // Go would take an empty id as the host; no host is the better answer.
    if vm_id.is_empty() {
        return Err("Azure IMDS reply has no vmId".into());
    }
    Ok(Source::Host(vm_id))
}

/// The AKS cluster name from the node resource group (`MC_<group>_<cluster>_<location>`),
/// for the `kubernetes` provider.
pub(super) async fn cluster_name(
    src: &Sources,
    deadline: Option<Instant>,
) -> Result<String, String> {
    let group = field(&compute(src, deadline).await?, "resourceGroupName");
    parse_cluster_name(&group)
        .map(str::to_string)
        .ok_or_else(|| format!("cannot parse the clustername from resource group name: {group}"))
}

fn parse_cluster_name(group: &str) -> Option<&str> {
    let parts: Vec<&str> = group.split('_').collect();
    (parts.len() >= 4 && parts[0].eq_ignore_ascii_case("mc")).then(|| parts[parts.len() - 2])
}

#[cfg(test)]
mod tests {
    use super::parse_cluster_name;

    #[test]
    fn aks_node_resource_groups_name_their_cluster() {
        assert_eq!(
            parse_cluster_name("MC_my-group_my-cluster_westeurope"),
            Some("my-cluster")
        );
        assert_eq!(
            parse_cluster_name("mc_group_with_underscores_cluster_eastus"),
            Some("cluster")
        );
        assert_eq!(parse_cluster_name("my-group"), None);
        assert_eq!(parse_cluster_name("XX_a_b_c"), None);
    }
}
