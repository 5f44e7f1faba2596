//! The TracerPayload hostname from resource attributes (§2.9, mapping-go `SourceFromAttrs`).
//! ECS Fargate has no host: the hostname is empty and the task ARN becomes a container tag.

use crate::registry::{get, get_str};
use crate::value::as_string;
use kakehashi_pdata::proto::common::v1::KeyValue;

/// Where a payload comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A host, by name.
    Hostname(String),
    /// An ECS Fargate task, by ARN (no hostname).
    Fargate(String),
}

/// Hostnames that say nothing about the machine and are never used.
const INVALID_HOSTS: &[&str] = &[
    "0.0.0.0",
    "127.0.0.1",
    "localhost",
    "localhost.localdomain",
    "localhost6.localdomain6",
    "ip6-localhost",
];

/// The source identified from resource attributes, if any.
pub fn source_from_attributes(attrs: &[KeyValue]) -> Option<Source> {
    // Semconv's `aws.ecs.launchtype` (mapping-go's `AWSECSLaunchtypeKey`, what the ECS resource
    // detector sets), not `launch_type` as ../shared/spec/datadog.md §2.9 spells it.
    let fargate = get_str(attrs, "aws.ecs.launchtype") == "fargate";
    // pcommon's `Str()`: a task ARN that is not a string is an empty one.
    if fargate && get(attrs, "aws.ecs.task.arn").is_some() {
        return Some(Source::Fargate(get_str(attrs, "aws.ecs.task.arn").into()));
    }
    let host = candidate_host(attrs, fargate)?;
    (!INVALID_HOSTS.contains(&host.as_str())).then_some(Source::Hostname(host))
}

fn candidate_host(attrs: &[KeyValue], fargate: bool) -> Option<String> {
    if let Some(v) = get(attrs, "host") {
        return Some(as_string(Some(v)));
    }
    if get(attrs, "datadog.host.name").is_some() {
        return Some(get_str(attrs, "datadog.host.name").to_string());
    }
    if fargate {
        // Fargate without a task ARN still has no meaningful host.
        return None;
    }
    let present = |k: &str| get(attrs, k).is_some();
    // A cloud provider decides alone: without its identifying attributes there is no host here
    // and the exporter's fallback is used (mapping-go returns from these branches; its test
    // "GCP, no account id" expects no source).
    match get_str(attrs, "cloud.provider") {
        "aws" => return present("host.id").then(|| get_str(attrs, "host.id").into()),
        "gcp" => {
            if !(present("host.name") && present("cloud.account.id")) {
                return None;
            }
            let name = get_str(attrs, "host.name");
            let alias = if name.matches('.').count() >= 3 {
                name.split('.').next().unwrap_or(name)
            } else {
                name
            };
            return Some(format!("{alias}.{}", get_str(attrs, "cloud.account.id")));
        }
        "azure" => {
            return ["host.id", "host.name"]
                .into_iter()
                .find(|k| present(k))
                .map(|k| get_str(attrs, k).into())
        }
        _ => {}
    }
    // Kubernetes: `<node>-<cluster>` when the cluster is named, else the node (by presence,
    // as mapping-go: an empty cluster name still adds the dash).
    if present("k8s.node.name") {
        let node = get_str(attrs, "k8s.node.name");
        return Some(if present("k8s.cluster.name") {
            format!("{node}-{}", get_str(attrs, "k8s.cluster.name"))
        } else {
            node.into()
        });
    }
    for key in ["host.id", "host.name"] {
        if present(key) {
            return Some(get_str(attrs, key).into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{kv, s};
    use kakehashi_pdata::proto::common::v1::any_value::Value;

    fn host(attrs: &[KeyValue]) -> Option<Source> {
        source_from_attributes(attrs)
    }

    #[test]
    fn precedence() {
        let h = |x: &str| Some(Source::Hostname(x.into()));
        assert_eq!(host(&[s("host.name", "a"), s("host.id", "b")]), h("b"));
        assert_eq!(
            host(&[s("host.name", "a"), s("datadog.host.name", "dd")]),
            h("dd")
        );
        assert_eq!(
            host(&[s("host", "x"), s("datadog.host.name", "dd")]),
            h("x")
        );
        assert_eq!(
            host(&[
                s("k8s.node.name", "n"),
                s("k8s.cluster.name", "c"),
                s("host.name", "a")
            ]),
            h("n-c")
        );
        assert_eq!(
            host(&[
                s("cloud.provider", "gcp"),
                s("host.name", "a.b.c.d"),
                s("cloud.account.id", "p")
            ]),
            h("a.p")
        );
        assert_eq!(
            host(&[
                s("cloud.provider", "aws"),
                s("host.id", "i-1"),
                s("host.name", "n")
            ]),
            h("i-1")
        );
        // A cloud provider without its identifying attributes names no host, even with a node
        // name or a host name (the exporter's fallback is used).
        for provider_only in [
            vec![s("cloud.provider", "azure"), s("k8s.node.name", "n")],
            vec![
                s("cloud.provider", "aws"),
                s("k8s.node.name", "n"),
                s("host.name", "ip-10-0-0-1"),
            ],
            vec![
                s("cloud.provider", "gcp"),
                s("host.id", "1"),
                s("host.name", "vm"),
            ],
        ] {
            assert_eq!(host(&provider_only), None, "{provider_only:?}");
        }
        assert_eq!(
            host(&[s("cloud.provider", "azure"), s("host.name", "vm-1")]),
            h("vm-1")
        );
        // Presence, not emptiness: an empty cluster name still adds the dash.
        assert_eq!(
            host(&[s("k8s.node.name", "n"), s("k8s.cluster.name", "")]),
            h("n-")
        );
        assert_eq!(host(&[s("host.name", "localhost")]), None);
        assert_eq!(host(&[]), None);
        assert_eq!(
            host(&[
                s("aws.ecs.launchtype", "fargate"),
                s("aws.ecs.task.arn", "arn:x"),
                s("host.name", "h")
            ]),
            Some(Source::Fargate("arn:x".into()))
        );
        // Only a string ARN names the task; another type gives an empty one, still no host.
        assert_eq!(
            host(&[
                s("aws.ecs.launchtype", "fargate"),
                kv("aws.ecs.task.arn", Value::IntValue(7)),
                s("host.name", "h")
            ]),
            Some(Source::Fargate(String::new()))
        );
    }
}
