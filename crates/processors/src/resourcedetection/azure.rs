//! The `azure` detector: the VM's compute metadata from the Azure Instance Metadata Service, as
//! otelcol's detector reads it (one request; any failure means "not on Azure": nothing found,
//! no error).

use super::config::{AzureConfig, AZURE_ATTRIBUTES};
use super::detected::{Attributes, Detected};
use super::Sources;
use kakehashi_cloud_metadata::azure::{compute_url, field, HEADERS};
use kakehashi_cloud_metadata::MetadataClient;
use std::time::Duration;
use tokio::time::Instant;

/// With no detection deadline (`timeout: 0`), the request still ends after this long.
const REQUEST_CAP: Duration = Duration::from_secs(30);

/// The fields read, by IMDS's keys compared without case (Go's `encoding/json` matches
/// `vmId` to the field tagged `vmID`).
#[derive(Default)]
struct Compute {
    location: String,
    name: String,
    vm_id: String,
    vm_size: String,
    subscription_id: String,
    resource_group_name: String,
    vm_scale_set_name: String,
    zone: String,
    computer_name: String,
    tags: Vec<(String, String)>,
}

fn parse(body: &str) -> Result<Compute, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let sub = |key: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    };
    let computer_name = sub("osProfile")
        .and_then(|p| p.as_object())
        .map(|p| field(p, "computerName"))
        .unwrap_or_default();
    let tags = sub("tagsList")
        .and_then(|t| t.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|t| t.as_object())
                .map(|t| (field(t, "name"), field(t, "value")))
                .collect()
        })
        .unwrap_or_default();
    Ok(Compute {
        location: field(obj, "location"),
        name: field(obj, "name"),
        vm_id: field(obj, "vmID"),
        vm_size: field(obj, "vmSize"),
        subscription_id: field(obj, "subscriptionID"),
        resource_group_name: field(obj, "resourceGroupName"),
        vm_scale_set_name: field(obj, "vmScaleSetName"),
        zone: field(obj, "zone"),
        computer_name,
        tags,
    })
}

pub(crate) async fn detect(
    cfg: &AzureConfig,
    fail_on_missing: bool,
    deadline: Option<Instant>,
    src: &Sources,
) -> Result<Attributes, String> {
    let client = MetadataClient::new(REQUEST_CAP, REQUEST_CAP, deadline)?;
    let url = compute_url(&src.azure_endpoint);
    let compute = match client.get(&url, &HEADERS).await {
        Ok(body) => parse(&body),
        Err(e) => Err(e.to_string()),
    };
    let c = match compute {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "Azure detector metadata retrieval failed");
            return if fail_on_missing {
                Err(e)
            } else {
                Ok(Attributes::new())
            };
        }
    };
    let mut out = Detected::new(&cfg.resource_attributes, AZURE_ATTRIBUTES);
    out.str("cloud.provider", "azure");
    out.str("cloud.platform", "azure.vm");
    let host_name = if c.computer_name.is_empty() {
        c.name.clone()
    } else {
        c.computer_name.clone()
    };
    out.str("host.name", host_name);
    out.str("cloud.region", c.location);
    out.str("host.id", c.vm_id);
    out.str("cloud.account.id", c.subscription_id);
    if !c.zone.is_empty() {
        out.str("cloud.availability_zone", c.zone);
    }
    out.str("azure.vm.name", c.name);
    out.str("azure.vm.size", c.vm_size);
    if !c.vm_scale_set_name.is_empty() {
        out.str("azure.vm.scaleset.name", c.vm_scale_set_name);
    }
    out.str("azure.resourcegroup.name", c.resource_group_name);
    if !cfg.tags.is_empty() {
        let patterns: Vec<regex::Regex> = cfg
            .tags
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect();
        // Through a map in Go: a name given twice keeps its last value, in name order.
        let matched: std::collections::BTreeMap<String, String> = c
            .tags
            .into_iter()
            .filter(|(name, _)| patterns.iter().any(|re| re.is_match(name)))
            .collect();
        for (name, value) in matched {
            out.extra(format!("azure.tag.{name}"), value);
        }
    }
    Ok(out.into_attributes())
}
