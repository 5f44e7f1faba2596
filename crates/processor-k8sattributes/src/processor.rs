//! What happens to each resource: find the pod it came from (by the association rules, or
//! the client's IP), then add the pod's, its container's, its namespace's and its node's
//! attributes — never replacing a value the resource already has, as otelcol.

use crate::pod::{PodId, PodInfo};
use crate::rules::{Rules, Source};
use crate::store::Store;
use kakehashi_pdata::attrs::{put, str_value};
use kakehashi_pdata::go_text::as_string;
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use std::net::IpAddr;

/// otelcol's `setResourceAttribute`: sets the value unless the resource has a non-empty one.
fn set_if_unset(attrs: &mut Vec<KeyValue>, key: &str, value: &str) {
    let unset = attrs
        .iter()
        .find(|kv| kv.key == key)
        .is_none_or(|kv| as_string(kv.value.as_ref()).is_empty());
    if unset {
        put(attrs, key, any_value::Value::StringValue(value.to_string()));
    }
}

/// The pod identifier of a resource: the first association whose sources all have a value.
/// With no associations configured, otelcol's fallback: `k8s.pod.ip`, `ip`, the connection,
/// then `host.name` if it is an IP address — each looked up as a connection IP.
pub fn pod_identifier(attrs: &[KeyValue], conn: Option<&str>, rules: &Rules) -> PodId {
    if rules.associations.is_empty() {
        let candidates = [
            str_value(attrs, "k8s.pod.ip"),
            str_value(attrs, "ip"),
            conn.unwrap_or(""),
        ];
        if let Some(v) = candidates.into_iter().find(|v| !v.is_empty()) {
            return vec![(Source::Connection, v.to_string())];
        }
        let host = str_value(attrs, "host.name");
        if host.parse::<IpAddr>().is_ok() {
            return vec![(Source::Connection, host.to_string())];
        }
        return Vec::new();
    }
    'rules: for assoc in &rules.associations {
        let mut id = Vec::with_capacity(assoc.len());
        for source in assoc {
            let value = match source {
                Source::Connection => conn.unwrap_or(""),
                Source::Resource(name) => {
                    let v = str_value(attrs, name);
                    // In Kubernetes `host.name` may hold the pod's IP; any other value is not one.
                    if name == "host.name" && v.parse::<IpAddr>().is_err() {
                        continue 'rules;
                    }
                    v
                }
            };
            if value.is_empty() {
                continue 'rules;
            }
            id.push((source.clone(), value.to_string()));
        }
        return id;
    }
    Vec::new()
}

/// How a resource's pod was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Passthrough mode: no lookup.
    Skipped,
    /// No association rule had all its values.
    NoIdentifier,
    /// Looked up and not found (a miss, as otelcol's `ip_lookup_miss` counts them).
    NotFound,
    /// Found an excluded pod: not attributed, and not a miss.
    Excluded,
    Found,
}

/// Adds what is known about the resource's pod, namespace and node. `store` is `None` in
/// passthrough mode.
pub fn annotate(
    attrs: &mut Vec<KeyValue>,
    conn: Option<&str>,
    rules: &Rules,
    store: Option<&Store>,
) -> Lookup {
    let id = pod_identifier(attrs, conn, rules);
    if let Some((_, ip)) = id.iter().find(|(s, _)| *s == Source::Connection) {
        if store.is_none() || rules.wants("k8s.pod.ip") {
            set_if_unset(attrs, "k8s.pod.ip", ip);
        }
    }
    let Some(store) = store else {
        return Lookup::Skipped;
    };
    let pod = (!id.is_empty())
        .then(|| store.pods.get(&id))
        .flatten()
        .cloned();
    let lookup = match (&pod, id.is_empty()) {
        (Some(_), _) => Lookup::Found,
        (None, true) => Lookup::NoIdentifier,
        (None, false) if store.pods.holds(&id) => Lookup::Excluded,
        (None, false) => Lookup::NotFound,
    };
    if let Some(pod) = &pod {
        add_controller_attributes(attrs, pod, rules, store);
        for (k, v) in &pod.attributes {
            set_if_unset(attrs, k, v);
        }
        if rules.wants("k8s.cluster.uid") {
            if let Some(ns) = store.namespaces.get("kube-system") {
                set_if_unset(attrs, "k8s.cluster.uid", &ns.uid);
            }
        }
        add_container_attributes(attrs, pod);
    }

    let namespace = match pod.as_ref().map(|p| p.namespace.as_str()) {
        Some(ns) if !ns.is_empty() => ns.to_string(),
        _ => str_value(attrs, "k8s.namespace.name").to_string(),
    };
    if !namespace.is_empty() {
        if let Some(ns) = store.namespaces.get(&namespace) {
            for (k, v) in &ns.attributes {
                set_if_unset(attrs, k, v);
            }
        }
        if rules.wants("service.namespace") {
            set_if_unset(attrs, "service.namespace", &namespace);
        }
    }

    let node = match pod.as_ref().map(|p| p.node_name.as_str()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => str_value(attrs, "k8s.node.name").to_string(),
    };
    if let Some(n) = (!node.is_empty()).then(|| store.nodes.get(&node)).flatten() {
        for (k, v) in &n.attributes {
            set_if_unset(attrs, k, v);
        }
        if rules.wants("k8s.node.uid") && !n.uid.is_empty() {
            set_if_unset(attrs, "k8s.node.uid", &n.uid);
        }
    }

    // The workloads' own labels/annotations, found by the pod's owners (a Deployment through
    // its ReplicaSet), else by the uid attributes the resource carries.
    let owner = |kind: &str| pod.as_ref().and_then(|p| p.owners.get(kind).cloned());
    // The uid of what controls the pod's `kind` owner (a ReplicaSet's Deployment, a Job's
    // CronJob), from the owner's object.
    let controller = |kind: &str, table: &crate::store::Table, parent: &str| {
        owner(kind)
            .and_then(|uid| table.get(&uid).cloned())
            .and_then(|o| o.controller.clone())
            .filter(|c| c.kind == parent)
            .map(|c| c.uid)
    };
    let deployment = controller("ReplicaSet", &store.replicasets, "Deployment");
    let cronjob = controller("Job", &store.jobs, "CronJob");
    for (uid, attr, table) in [
        (
            owner("ReplicaSet"),
            "k8s.replicaset.uid",
            &store.replicasets,
        ),
        (deployment, "k8s.deployment.uid", &store.deployments),
        (
            owner("StatefulSet"),
            "k8s.statefulset.uid",
            &store.statefulsets,
        ),
        (owner("DaemonSet"), "k8s.daemonset.uid", &store.daemonsets),
        (owner("Job"), "k8s.job.uid", &store.jobs),
        (cronjob, "k8s.cronjob.uid", &store.cronjobs),
    ] {
        let uid = uid.unwrap_or_else(|| str_value(attrs, attr).to_string());
        if let Some(w) = (!uid.is_empty()).then(|| table.get(&uid)).flatten() {
            for (k, v) in &w.attributes {
                set_if_unset(attrs, k, v);
            }
        }
    }
    lookup
}

/// What the ReplicaSet and Job objects say, when they are watched: the Deployment's and the
/// CronJob's name and uid. Set before the pod's own attributes, so the object's word beats the
/// name derived from the owner's name.
fn add_controller_attributes(
    attrs: &mut Vec<KeyValue>,
    pod: &PodInfo,
    rules: &Rules,
    store: &Store,
) {
    for (kind, table, parent, prefix) in [
        (
            "ReplicaSet",
            &store.replicasets,
            "Deployment",
            "k8s.deployment",
        ),
        ("Job", &store.jobs, "CronJob", "k8s.cronjob"),
    ] {
        let controller = pod
            .owners
            .get(kind)
            .and_then(|uid| table.get(uid))
            .and_then(|o| o.controller.as_ref())
            .filter(|c| c.kind == parent);
        if let Some(c) = controller {
            for (suffix, value) in [("name", &c.name), ("uid", &c.uid)] {
                let attr = format!("{prefix}.{suffix}");
                if rules.wants(&attr) && !value.is_empty() {
                    set_if_unset(attrs, &attr, value);
                }
            }
        }
    }
}

/// The container the resource names (`k8s.container.name`, else `container.id`, else the
/// pod's only container) and its image, instance id and the id of the run the resource's
/// `k8s.container.restart_count` names (else the latest run).
fn add_container_attributes(attrs: &mut Vec<KeyValue>, pod: &PodInfo) {
    let by_name = str_value(attrs, "k8s.container.name").to_string();
    let by_id = str_value(attrs, "container.id").to_string();
    let c = &pod.containers;
    let container = if !by_name.is_empty() {
        c.by_name.get(&by_name)
    } else if !by_id.is_empty() {
        c.by_id.get(&by_id).and_then(|n| c.by_name.get(n))
    } else if c.by_id.len() == 1 {
        c.by_id.values().next().and_then(|n| c.by_name.get(n))
    } else if c.by_name.len() == 1 {
        c.by_name.values().next()
    } else {
        None
    };
    let Some(container) = container else { return };
    for (key, value) in [
        ("k8s.container.name", &container.name),
        ("container.image.name", &container.image_name),
        ("container.image.tag", &container.image_tag),
        ("service.instance.id", &container.service_instance_id),
        ("service.version", &container.service_version),
    ] {
        if !value.is_empty() {
            set_if_unset(attrs, key, value);
        }
    }
    let run = match attrs
        .iter()
        .find(|kv| kv.key == "k8s.container.restart_count")
    {
        Some(kv) => match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            Some(any_value::Value::StringValue(s)) => s.parse().ok(),
            _ => None,
        },
        None => container.statuses.keys().next_back().copied(),
    };
    let Some((id, digest)) = run.and_then(|r| container.statuses.get(&r)) else {
        return;
    };
    let absent = |attrs: &[KeyValue], key: &str| !attrs.iter().any(|kv| kv.key == key);
    if !id.is_empty() && absent(attrs, "container.id") {
        put(
            attrs,
            "container.id",
            any_value::Value::StringValue(id.clone()),
        );
    }
    if !digest.is_empty() && absent(attrs, "container.image.repo_digests") {
        let list = ArrayValue {
            values: vec![AnyValue {
                value: Some(any_value::Value::StringValue(digest.clone())),
            }],
        };
        put(
            attrs,
            "container.image.repo_digests",
            any_value::Value::ArrayValue(list),
        );
    }
}

#[cfg(test)]
#[path = "processor_tests.rs"]
mod tests;
