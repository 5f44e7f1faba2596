//! The TracerPayload hostname from resource attributes (§2.9, mapping-go `SourceFromAttrs`).
//! ECS Fargate has no host: the hostname is empty and the task ARN becomes a container tag.

use crate::registry::{get, get_str};
use crate::value::as_string;
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};

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
    if fargate {
        if let Some(arn) = get(attrs, "aws.ecs.task.arn") {
            return Some(Source::Fargate(as_string(Some(arn))));
        }
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
    let cloud = get_str(attrs, "cloud.provider");
    // A cloud provider without its identifying attributes falls through to the generic rules.
    match cloud {
        "aws" if present("host.id") => return Some(get_str(attrs, "host.id").into()),
        "gcp" if present("host.name") && present("cloud.account.id") => {
            let name = get_str(attrs, "host.name");
            let alias = if name.matches('.').count() >= 3 {
                name.split('.').next().unwrap_or(name)
            } else {
                name
            };
            return Some(format!("{alias}.{}", get_str(attrs, "cloud.account.id")));
        }
        "azure" if present("host.id") => return Some(get_str(attrs, "host.id").into()),
        "azure" if present("host.name") => return Some(get_str(attrs, "host.name").into()),
        _ => {}
    }
    let node = get_str(attrs, "k8s.node.name");
    if !node.is_empty() {
        return Some(match cluster_name(attrs, cloud) {
            Some(cluster) if !cluster.is_empty() => format!("{node}-{cluster}"),
            _ => node.into(),
        });
    }
    for key in ["host.id", "host.name"] {
        if present(key) {
            return Some(get_str(attrs, key).into());
        }
    }
    None
}

/// mapping-go's `getClusterName`: `k8s.cluster.name`, else on Azure the AKS node resource
/// group `MC_<group>_<cluster>_<location>`, else on AWS the first `ec2.tag.kubernetes.io/
/// cluster/<cluster>` attribute (the EC2 detector's instance tags).
fn cluster_name<'a>(attrs: &'a [KeyValue], cloud: &str) -> Option<&'a str> {
    if let Some(v) = get(attrs, "k8s.cluster.name") {
        return Some(match &v.value {
            Some(Value::StringValue(s)) => s.as_str(),
            _ => "",
        });
    }
    match cloud {
        "azure" => {
            let group = get_str(attrs, "azure.resourcegroup.name");
            let parts: Vec<&str> = group.split('_').collect();
            (parts.len() >= 4 && parts[0].eq_ignore_ascii_case("mc"))
                .then(|| parts[parts.len() - 2])
        }
        "aws" => attrs
            .iter()
            .find(|kv| kv.key.starts_with("ec2.tag.kubernetes.io/cluster/"))
            .and_then(|kv| kv.key.split('/').nth(2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::s;

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
        // The cluster name from the cloud provider's attributes when k8s.cluster.name is absent.
        assert_eq!(
            host(&[
                s("cloud.provider", "azure"),
                s("k8s.node.name", "n"),
                s("azure.resourcegroup.name", "MC_rg_my-aks_japaneast"),
            ]),
            h("n-my-aks")
        );
        assert_eq!(
            host(&[
                s("cloud.provider", "azure"),
                s("k8s.node.name", "n"),
                s("azure.resourcegroup.name", "rg_my-aks_japaneast"),
            ]),
            h("n")
        );
        assert_eq!(
            host(&[
                s("cloud.provider", "aws"),
                s("k8s.node.name", "n"),
                s("ec2.tag.kubernetes.io/cluster/eks-1", "owned"),
            ]),
            h("n-eks-1")
        );
        assert_eq!(
            host(&[
                s("k8s.node.name", "n"),
                s("ec2.tag.kubernetes.io/cluster/eks-1", "owned")
            ]),
            h("n"),
            "only on AWS"
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
    }
}
