//! What kakehashi keeps of a pod: the attributes it gives a resource (computed once, when the
//! pod is listed or changes), its containers, and the identifiers it is found by.

use crate::image;
use crate::rules::{From, Rules, Source};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// One part of a pod identifier: where the value came from, and the value.
pub type IdPart = (Source, String);
/// The key a pod is found by: the values of one association's sources, in order.
pub type PodId = Vec<IdPart>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInfo {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub node_name: String,
    pub ip: String,
    pub host_network: bool,
    /// `status.startTime`: of two pods with one identifier, the later-started one wins.
    pub start_time: Option<Timestamp>,
    /// Excluded by name or by the `opentelemetry.io/k8s-processor/ignore` annotation: known,
    /// but never attributed.
    pub ignore: bool,
    pub attributes: BTreeMap<String, String>,
    pub containers: Containers,
    /// The owners' uids by kind (`ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job`): the keys to
    /// the workload tables.
    pub owners: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Containers {
    pub by_name: BTreeMap<String, Container>,
    /// Container id (runtime prefix removed) → container name.
    pub by_id: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Container {
    pub name: String,
    pub image_name: String,
    pub image_tag: String,
    pub service_version: String,
    pub service_instance_id: String,
    /// Restart count → (container id, image repo digest).
    pub statuses: BTreeMap<i64, (String, String)>,
}

/// How far a CronJob's Job-name suffix (minutes since the epoch) may be from the pod's
/// creation for the prefix to be taken as the CronJob's name.
const CRONJOB_SUFFIX_SKEW_MINUTES: i64 = 24 * 60;

/// `<deployment>-<pod-template-hash>` → `<deployment>`, when the pod carries the hash label.
fn deployment_from_replicaset(rs: &str, template_hash: &str) -> Option<String> {
    if rs.is_empty() || template_hash.is_empty() {
        return None;
    }
    rs.strip_suffix(template_hash)
        .and_then(|p| p.strip_suffix('-'))
        .map(str::to_string)
}

/// `<cronjob>-<minutes>` → `<cronjob>`, when the 8-digit suffix is within a day of the pod's
/// creation (Kubernetes names a CronJob's Jobs by their scheduled minute).
fn cronjob_from_job(job: &str, created: Option<Timestamp>) -> Option<String> {
    let (prefix, suffix) = job.rsplit_once('-')?;
    if prefix.is_empty() || suffix.len() != 8 || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let minutes: i64 = suffix.parse().ok()?;
    let pod_minutes = created.map_or(0, |t| t.as_second().div_euclid(60));
    ((pod_minutes - minutes).abs() <= CRONJOB_SUFFIX_SKEW_MINUTES).then(|| prefix.to_string())
}

fn strip_runtime(id: &str) -> &str {
    id.split_once("://").map_or(id, |(_, rest)| rest)
}

impl PodInfo {
    /// Computes what `rules` ask of this pod (`k8s.cluster.uid` is added at lookup: the
    /// `kube-system` namespace may be listed after the pods).
    pub fn new(pod: &Pod, rules: &Rules) -> PodInfo {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let name = meta.name.clone().unwrap_or_default();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let uid = meta.uid.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let annotations = meta.annotations.clone().unwrap_or_default();
        let created = meta.creation_timestamp.as_ref().map(|t| t.0);
        // Kept only when asked for, as otelcol: otherwise node labels are found through the
        // resource's own `k8s.node.name`.
        let node_name = if rules.wants("k8s.node.name") || rules.wants("k8s.node.uid") {
            spec.and_then(|s| s.node_name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        let ip = status.and_then(|s| s.pod_ip.clone()).unwrap_or_default();

        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            a.insert(k.to_string(), v.to_string());
        };
        if rules.wants("k8s.pod.name") {
            put("k8s.pod.name", &name);
        }
        if rules.wants("service.name") {
            put("service.name", &name);
        }
        if rules.wants("k8s.pod.hostname") {
            put(
                "k8s.pod.hostname",
                spec.and_then(|s| s.hostname.as_deref()).unwrap_or(""),
            );
        }
        if rules.wants("k8s.pod.ip") {
            put("k8s.pod.ip", &ip);
        }
        if rules.wants("k8s.namespace.name") {
            put("k8s.namespace.name", &namespace);
        }
        if rules.wants("service.namespace") {
            put("service.namespace", &namespace);
        }
        if let (true, Some(t)) = (rules.wants("k8s.pod.start_time"), created) {
            // RFC 3339 in UTC, whole seconds as Kubernetes keeps them (Go's MarshalText).
            put("k8s.pod.start_time", &t.to_string());
        }
        if rules.wants("k8s.pod.uid") {
            put("k8s.pod.uid", &uid);
        }
        let service_name = rules.wants("service.name");
        let mut owners = BTreeMap::new();
        for owner in meta.owner_references.iter().flatten() {
            let (kind, oname, ouid) = (owner.kind.as_str(), &owner.name, &owner.uid);
            let lower = match kind {
                "ReplicaSet" => "replicaset",
                "DaemonSet" => "daemonset",
                "StatefulSet" => "statefulset",
                "Job" => "job",
                _ => continue,
            };
            owners.insert(kind.to_string(), ouid.clone());
            if rules.wants(&format!("k8s.{lower}.uid")) {
                put(&format!("k8s.{lower}.uid"), ouid);
            }
            if rules.wants(&format!("k8s.{lower}.name")) {
                put(&format!("k8s.{lower}.name"), oname);
            }
            if service_name {
                put("service.name", oname);
            }
            let parent = match kind {
                "ReplicaSet" => deployment_from_replicaset(
                    oname,
                    labels
                        .get("pod-template-hash")
                        .map(String::as_str)
                        .unwrap_or(""),
                )
                .map(|d| ("k8s.deployment.name", d)),
                "Job" => cronjob_from_job(oname, created).map(|c| ("k8s.cronjob.name", c)),
                _ => None,
            };
            if let Some((attr, parent)) = parent {
                if rules.wants(attr) {
                    put(attr, &parent);
                }
                if service_name {
                    put("service.name", &parent);
                }
            }
        }
        if rules.wants("k8s.node.name") {
            put("k8s.node.name", &node_name);
        }
        for (r, _) in rules.rules_for(From::Pod).filter(|(_, label)| *label) {
            r.extract(&labels, &mut a);
        }
        if service_name {
            for key in ["app.kubernetes.io/name", "app.kubernetes.io/instance"] {
                if let Some(v) = labels.get(key) {
                    a.insert("service.name".into(), v.clone());
                }
            }
        }
        if rules.wants("service.version") {
            if let Some(v) = labels.get("app.kubernetes.io/version") {
                a.insert("service.version".into(), v.clone());
            }
        }
        // Annotations last: `resource.opentelemetry.io/service.name` beats the labels.
        for (r, _) in rules.rules_for(From::Pod).filter(|(_, label)| !*label) {
            r.extract(&annotations, &mut a);
        }

        let excluded = rules.excluded_pods.iter().any(|re| re.is_match(&name))
            || annotations
                .get("opentelemetry.io/k8s-processor/ignore")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        PodInfo {
            containers: if rules.wants_containers() {
                containers(pod, rules, &namespace, &name)
            } else {
                Containers::default()
            },
            uid,
            name,
            namespace,
            node_name,
            ip,
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            start_time: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            ignore: excluded,
            attributes: a,
            owners,
        }
    }

    /// The keys this pod is found by: one per association rule whose sources all have a value
    /// here, plus its uid, and its IP (unless it shares the node's network).
    pub fn identifiers(&self, rules: &Rules) -> Vec<PodId> {
        let mut ids: Vec<PodId> = Vec::new();
        for assoc in &rules.associations {
            // `container.id` gives one key per container; otherwise there is one key.
            let mut keys: Vec<PodId> = vec![Vec::new()];
            for source in assoc {
                let values: Vec<String> = match source {
                    Source::Connection if self.host_network => Vec::new(),
                    Source::Connection => vec![self.ip.clone()],
                    Source::Resource(n) => match n.as_str() {
                        "k8s.namespace.name" => vec![self.namespace.clone()],
                        "k8s.pod.name" => vec![self.name.clone()],
                        "k8s.pod.uid" => vec![self.uid.clone()],
                        "host.name" | "k8s.pod.ip" => vec![self.ip.clone()],
                        "container.id" => self.containers.by_id.keys().cloned().collect(),
                        other => vec![self.attributes.get(other).cloned().unwrap_or_default()],
                    },
                };
                let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
                keys = keys
                    .into_iter()
                    .flat_map(|k| {
                        values.iter().map(move |v| {
                            let mut k = k.clone();
                            k.push((source.clone(), v.clone()));
                            k
                        })
                    })
                    .collect();
            }
            ids.extend(keys.into_iter().filter(|k| k.len() == assoc.len()));
        }
        if !self.uid.is_empty() {
            ids.push(vec![(
                Source::Resource("k8s.pod.uid".into()),
                self.uid.clone(),
            )]);
        }
        if !self.ip.is_empty() && !self.host_network {
            ids.push(vec![(Source::Connection, self.ip.clone())]);
            ids.push(vec![(
                Source::Resource("k8s.pod.ip".into()),
                self.ip.clone(),
            )]);
        }
        ids.sort();
        ids.dedup();
        ids
    }
}

fn containers(pod: &Pod, rules: &Rules, namespace: &str, pod_name: &str) -> Containers {
    let mut out = Containers::default();
    let spec = pod.spec.as_ref();
    let images = rules.wants("container.image.name")
        || rules.wants("container.image.tag")
        || rules.wants("service.version")
        || rules.wants("service.instance.id");
    if images {
        let specs = spec
            .map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .into_iter()
            .flatten();
        for c in specs {
            let mut container = Container::default();
            if let Some((name, tag)) = c.image.as_deref().and_then(image::name_and_tag) {
                if rules.wants("container.image.name") {
                    container.image_name = name;
                }
                if rules.wants("container.image.tag") {
                    container.image_tag = tag;
                }
                if rules.wants("service.version") {
                    container.service_version = c
                        .image
                        .as_deref()
                        .and_then(image::service_version)
                        .unwrap_or_default();
                }
            }
            out.by_name.insert(c.name.clone(), container);
        }
    }
    let status = pod.status.as_ref();
    let statuses = status
        .map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .into_iter()
        .flatten();
    for s in statuses {
        let container = out.by_name.entry(s.name.clone()).or_default();
        if rules.wants("k8s.container.name") {
            container.name = s.name.clone();
        }
        if rules.wants("service.instance.id") {
            container.service_instance_id = format!("{namespace}.{pod_name}.{}", s.name);
        }
        let id = strip_runtime(s.container_id.as_deref().unwrap_or("")).to_string();
        if rules.wants("container.id") || rules.wants("container.image.repo_digests") {
            let digest = if rules.wants("container.image.repo_digests") {
                image::canonical(&s.image_id).unwrap_or_default()
            } else {
                String::new()
            };
            let shown_id = if rules.wants("container.id") {
                id.clone()
            } else {
                String::new()
            };
            container
                .statuses
                .insert(i64::from(s.restart_count), (shown_id, digest));
        }
        // An empty id (a container not started yet) is a key too, as in otelcol: it decides
        // whether the pod has "only one" container to fall back to.
        out.by_id.insert(id, s.name.clone());
    }
    out
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
