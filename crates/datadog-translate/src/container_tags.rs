//! `TracerPayload.tags["_dd.tags.container"]` (§2.10): container/orchestrator resource attributes
//! under their Datadog tag names, plus `datadog.container.tag.<k>` attributes.

use crate::registry::get_str;
use kakehashi_pdata::proto::common::v1::KeyValue;
use std::collections::BTreeMap;

/// Payload tag key holding the container tags.
pub const CONTAINER_TAGS_KEY: &str = "_dd.tags.container";

const CUSTOM_PREFIX: &str = "datadog.container.tag.";

/// OTel resource attribute → Datadog container tag.
pub(crate) fn container_mapping(key: &str) -> Option<&'static str> {
    Some(match key {
        "container.id" => "container_id",
        "container.name" => "container_name",
        "container.image.name" => "image_name",
        "container.image.tag" => "image_tag",
        "container.runtime" => "runtime",
        "cloud.provider" => "cloud_provider",
        "cloud.region" => "region",
        "cloud.availability_zone" => "zone",
        "aws.ecs.task.family" => "task_family",
        "aws.ecs.task.arn" => "task_arn",
        "aws.ecs.cluster.arn" => "ecs_cluster_name",
        "aws.ecs.task.revision" => "task_version",
        "aws.ecs.container.arn" => "ecs_container_name",
        "k8s.container.name" => "kube_container_name",
        "k8s.cluster.name" => "kube_cluster_name",
        "k8s.deployment.name" => "kube_deployment",
        "k8s.replicaset.name" => "kube_replica_set",
        "k8s.statefulset.name" => "kube_stateful_set",
        "k8s.daemonset.name" => "kube_daemon_set",
        "k8s.job.name" => "kube_job",
        "k8s.cronjob.name" => "kube_cronjob",
        "k8s.namespace.name" => "kube_namespace",
        "k8s.pod.name" => "pod_name",
        _ => return None,
    })
}

/// Container tags of a resource (string values only; empty ones ignored). A custom
/// `datadog.container.tag.<k>` never replaces a mapped tag of the same name.
pub fn container_tags(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for kv in attrs {
        let value = get_str(std::slice::from_ref(kv), &kv.key);
        if value.is_empty() {
            continue;
        }
        if let Some(tag) = container_mapping(&kv.key) {
            tags.insert(tag.to_string(), value.to_string());
        }
        if let Some(custom) = kv.key.strip_prefix(CUSTOM_PREFIX).filter(|k| !k.is_empty()) {
            tags.entry(custom.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    tags
}

/// The comma-joined payload tag value. Go iterates a map here, so its order is random; ours is
/// sorted by tag name. `extra` (the Fargate `task_arn:<arn>`) is appended as Go does.
pub fn flatten(tags: &BTreeMap<String, String>, extra: Option<&str>) -> String {
    let mut out: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    if let Some(extra) = extra {
        out.push(extra.to_string());
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::kv;
    use kakehashi_pdata::proto::common::v1::any_value::Value;

    #[test]
    fn mapped_and_custom() {
        let attrs = [
            kv("container.id", Value::StringValue("abc".into())),
            kv("k8s.pod.name", Value::StringValue("p".into())),
            kv(
                "datadog.container.tag.team",
                Value::StringValue("core".into()),
            ),
            kv(
                "datadog.container.tag.pod_name",
                Value::StringValue("other".into()),
            ),
            kv("datadog.container.tag.n", Value::IntValue(1)),
            kv("container.name", Value::StringValue(String::new())),
        ];
        let tags = container_tags(&attrs);
        assert_eq!(
            flatten(&tags, None),
            "container_id:abc,pod_name:p,team:core"
        );
        assert_eq!(flatten(&BTreeMap::new(), Some("task_arn:x")), "task_arn:x");
    }
}
