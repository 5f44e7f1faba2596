//! The validated configuration compiled into what extraction and lookups use: which
//! attributes to compute, the label/annotation rules with their regexes, the excluded pod
//! names and the association rules.

use crate::config::{FieldExtractConfig, K8sAttributesConfig};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// Where a label or annotation rule reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Pod,
    Namespace,
    Node,
    ReplicaSet,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl From {
    fn parse(s: &str) -> From {
        match s {
            "namespace" => From::Namespace,
            "node" => From::Node,
            "replicaset" => From::ReplicaSet,
            "deployment" => From::Deployment,
            "statefulset" => From::StatefulSet,
            "daemonset" => From::DaemonSet,
            "job" => From::Job,
            "cronjob" => From::CronJob,
            _ => From::Pod,
        }
    }
    fn name(self) -> &'static str {
        match self {
            From::Pod => "pod",
            From::Namespace => "namespace",
            From::Node => "node",
            From::ReplicaSet => "replicaset",
            From::Deployment => "deployment",
            From::StatefulSet => "statefulset",
            From::DaemonSet => "daemonset",
            From::Job => "job",
            From::CronJob => "cronjob",
        }
    }
    /// Pods, namespaces and nodes name their attributes `k8s.<kind>.labels.<key>` (otelcol's
    /// default, pre-1.0 conventions); the workload kinds came later and only have the singular
    /// `k8s.<kind>.label.<key>` of the semantic conventions.
    fn plural(self) -> bool {
        matches!(self, From::Pod | From::Namespace | From::Node)
    }
}

/// One compiled `extract::labels` / `extract::annotations` entry.
#[derive(Debug, Clone)]
pub struct FieldRule {
    pub from: From,
    tag_name: String,
    key: Option<String>,
    key_regex: Option<Regex>,
    /// `labels` or `annotations`: the default attribute name's middle part.
    kind: &'static str,
}

impl FieldRule {
    fn compile(kind: &'static str, c: &FieldExtractConfig) -> FieldRule {
        FieldRule {
            from: From::parse(&c.from),
            tag_name: c.tag_name.clone(),
            key: (!c.key.is_empty()).then(|| c.key.clone()),
            // Validated at config load.
            key_regex: (!c.key_regex.is_empty())
                .then(|| Regex::new(&format!("^(?:{})$", c.key_regex)).expect("validated")),
            kind,
        }
    }

    /// The rule `otel_annotations` adds: `resource.opentelemetry.io/<key>` → `<key>`.
    fn otel_annotations() -> FieldRule {
        FieldRule {
            from: From::Pod,
            tag_name: "$1".into(),
            key: None,
            key_regex: Some(Regex::new(r"^(?:resource\.opentelemetry\.io/(.+))$").expect("valid")),
            kind: "annotations",
        }
    }

    fn default_name(&self, key: &str) -> String {
        let kind = if self.from.plural() {
            self.kind
        } else {
            self.kind.trim_end_matches('s')
        };
        format!("k8s.{}.{kind}.{key}", self.from.name())
    }

    /// Adds what this rule takes from `fields` (an object's labels or annotations) to `out`.
    /// An exact key is copied even when its value is empty; regex matches only with a value.
    pub fn extract(&self, fields: &BTreeMap<String, String>, out: &mut BTreeMap<String, String>) {
        if let Some(key) = &self.key {
            if let Some(v) = fields.get(key) {
                let name = if self.tag_name.is_empty() {
                    self.default_name(key)
                } else {
                    self.tag_name.clone()
                };
                out.insert(name, v.clone());
            }
            return;
        }
        let Some(re) = &self.key_regex else { return };
        for (k, v) in fields {
            if v.is_empty() {
                continue;
            }
            let Some(caps) = re.captures(k) else { continue };
            // otelcol expands `tag_name` when the regex has capture groups; otherwise (or
            // without a `tag_name`) each key gets its default name.
            let name = if !self.tag_name.is_empty() && re.captures_len() > 1 {
                let mut name = String::new();
                caps.expand(&self.tag_name, &mut name);
                name
            } else {
                self.default_name(k)
            };
            out.insert(name, v.clone());
        }
    }
}

/// Where one part of a pod identifier comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The client's IP address.
    Connection,
    /// A resource attribute, by name.
    Resource(String),
}

/// One `pod_association` entry: the sources that together identify a pod.
pub type Association = Vec<Source>;

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    metadata: BTreeSet<String>,
    /// `deployment_name_from_replicaset: false`: the Deployment's name from the ReplicaSet
    /// object's owner rather than from the ReplicaSet's name.
    deployment_from_replicaset_object: bool,
    pub labels: Vec<FieldRule>,
    pub annotations: Vec<FieldRule>,
    pub excluded_pods: Vec<Regex>,
    /// Empty: otelcol's fallback (`k8s.pod.ip`, `ip`, the connection, an IP-valued `host.name`).
    pub associations: Vec<Association>,
}

impl Rules {
    pub fn new(cfg: &K8sAttributesConfig) -> Rules {
        let mut annotations: Vec<FieldRule> = cfg
            .extract
            .annotations
            .iter()
            .map(|c| FieldRule::compile("annotations", c))
            .collect();
        if cfg.extract.otel_annotations {
            annotations.push(FieldRule::otel_annotations());
        }
        let excluded_pods = if cfg.exclude.pods.is_empty() {
            vec!["jaeger-agent", "jaeger-collector"]
                .into_iter()
                .map(|n| Regex::new(n).expect("valid"))
                .collect()
        } else {
            cfg.exclude
                .pods
                .iter()
                .map(|p| Regex::new(&p.name).expect("validated"))
                .collect()
        };
        Rules {
            metadata: cfg.metadata().into_iter().collect(),
            deployment_from_replicaset_object: cfg.extract.deployment_name_from_replicaset
                == Some(false),
            labels: cfg
                .extract
                .labels
                .iter()
                .map(|c| FieldRule::compile("labels", c))
                .collect(),
            annotations,
            excluded_pods,
            associations: cfg
                .pod_association
                .iter()
                .map(|a| {
                    a.sources
                        .iter()
                        .map(|s| match s.from.as_str() {
                            "connection" => Source::Connection,
                            _ => Source::Resource(s.name.clone()),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// Whether `extract::metadata` asks for this attribute.
    pub fn wants(&self, attribute: &str) -> bool {
        self.metadata.contains(attribute)
    }

    /// Whether any label/annotation rule reads objects of this kind.
    pub fn reads(&self, from: From) -> bool {
        self.labels
            .iter()
            .chain(&self.annotations)
            .any(|r| r.from == from)
    }

    pub fn rules_for(&self, from: From) -> impl Iterator<Item = (&FieldRule, bool)> {
        self.labels
            .iter()
            .map(|r| (r, true))
            .chain(self.annotations.iter().map(|r| (r, false)))
            .filter(move |(r, _)| r.from == from)
    }

    /// Whether pods need their containers kept (any container-level attribute).
    pub fn wants_containers(&self) -> bool {
        [
            "k8s.container.name",
            "container.id",
            "container.image.name",
            "container.image.tag",
            "container.image.repo_digests",
            "service.version",
            "service.instance.id",
        ]
        .iter()
        .any(|a| self.wants(a))
    }

    /// Namespaces are watched for their labels/annotations, or just `kube-system` for
    /// `k8s.cluster.uid`.
    pub fn namespaces_needed(&self) -> NamespaceWatch {
        if self.reads(From::Namespace) {
            NamespaceWatch::All
        } else if self.wants("k8s.cluster.uid") {
            NamespaceWatch::KubeSystem
        } else {
            NamespaceWatch::None
        }
    }

    /// Nodes are watched for their labels/annotations or `k8s.node.uid`.
    pub fn nodes_needed(&self) -> bool {
        self.reads(From::Node) || self.wants("k8s.node.uid")
    }

    /// ReplicaSets are watched for their Deployment: its uid, its labels/annotations (found by
    /// that uid), or its name with `deployment_name_from_replicaset: false`.
    pub fn replicasets_needed(&self) -> bool {
        self.wants("k8s.deployment.uid")
            || self.reads(From::ReplicaSet)
            || self.reads(From::Deployment)
            || (self.deployment_from_replicaset_object && self.wants("k8s.deployment.name"))
    }

    /// Jobs are watched for their CronJob's uid, their own labels/annotations, or their
    /// CronJob's (found by the Job's owner).
    pub fn jobs_needed(&self) -> bool {
        self.wants("k8s.cronjob.uid") || self.reads(From::Job) || self.reads(From::CronJob)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceWatch {
    None,
    KubeSystem,
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rule(from: &str, tag: &str, key: &str, re: &str) -> FieldRule {
        FieldRule::compile(
            "labels",
            &FieldExtractConfig {
                tag_name: tag.into(),
                key: key.into(),
                key_regex: re.into(),
                from: from.into(),
            },
        )
    }

    #[test]
    fn exact_keys_copy_even_empty_values_under_the_default_or_given_name() {
        let f = fields(&[("app", "shop"), ("tier", "")]);
        let mut out = BTreeMap::new();
        rule("", "", "app", "").extract(&f, &mut out);
        rule("namespace", "", "tier", "").extract(&f, &mut out);
        rule("pod", "team", "missing", "").extract(&f, &mut out);
        rule("node", "my.app", "app", "").extract(&f, &mut out);
        assert_eq!(
            out,
            fields(&[
                ("k8s.pod.labels.app", "shop"),
                ("k8s.namespace.labels.tier", ""),
                ("my.app", "shop"),
            ])
        );
    }

    #[test]
    fn workload_kinds_use_the_singular_convention() {
        let f = fields(&[("app", "shop")]);
        let mut out = BTreeMap::new();
        rule("deployment", "", "app", "").extract(&f, &mut out);
        rule("job", "", "", "a.*").extract(&f, &mut out);
        let mut ann = FieldRule::compile(
            "annotations",
            &FieldExtractConfig {
                key: "app".into(),
                from: "statefulset".into(),
                ..Default::default()
            },
        );
        ann.extract(&f, &mut out);
        ann.from = From::DaemonSet;
        ann.extract(&f, &mut out);
        assert_eq!(
            out,
            fields(&[
                ("k8s.daemonset.annotation.app", "shop"),
                ("k8s.deployment.label.app", "shop"),
                ("k8s.job.label.app", "shop"),
                ("k8s.statefulset.annotation.app", "shop"),
            ])
        );
    }

    #[test]
    fn regex_keys_match_whole_keys_and_expand_capture_groups() {
        let f = fields(&[
            ("app.kubernetes.io/name", "shop"),
            ("app.kubernetes.io/part-of", "store"),
            ("xapp.kubernetes.io/name", "no"),
            ("app.kubernetes.io/empty", ""),
        ]);
        let mut out = BTreeMap::new();
        rule("", "k.$1", "", r"app\.kubernetes\.io/(.*)").extract(&f, &mut out);
        assert_eq!(out, fields(&[("k.name", "shop"), ("k.part-of", "store")]));

        let mut out = BTreeMap::new();
        rule("", "", "", r"app\.kubernetes\.io/n.*").extract(&f, &mut out);
        assert_eq!(
            out,
            fields(&[("k8s.pod.labels.app.kubernetes.io/name", "shop")])
        );

        let mut out = BTreeMap::new();
        rule("", "${part}_x", "", r"app\.kubernetes\.io/(?P<part>name)").extract(&f, &mut out);
        assert_eq!(out, fields(&[("name_x", "shop")]));

        // No capture group: default names, whatever `tag_name` says; a group and a literal
        // `tag_name`: every match under that one name.
        let mut out = BTreeMap::new();
        rule("", "$1", "", r"app\.kubernetes\.io/name").extract(&f, &mut out);
        assert_eq!(
            out,
            fields(&[("k8s.pod.labels.app.kubernetes.io/name", "shop")])
        );
        let mut out = BTreeMap::new();
        rule("", "app.part", "", r"app\.kubernetes\.io/(na)me").extract(&f, &mut out);
        assert_eq!(out, fields(&[("app.part", "shop")]));
    }

    #[test]
    fn otel_annotations_become_attributes_of_their_own_name() {
        let f = fields(&[
            ("resource.opentelemetry.io/service.name", "checkout"),
            (
                "resource.opentelemetry.io/deployment.environment.name",
                "prod",
            ),
            ("other", "x"),
        ]);
        let mut out = BTreeMap::new();
        FieldRule::otel_annotations().extract(&f, &mut out);
        assert_eq!(
            out,
            fields(&[
                ("deployment.environment.name", "prod"),
                ("service.name", "checkout")
            ])
        );
    }

    #[test]
    fn defaults_and_what_is_watched() {
        let cfg = K8sAttributesConfig::default();
        let r = Rules::new(&cfg);
        assert!(r.wants("k8s.pod.name") && r.wants("container.image.tag"));
        assert!(!r.wants("k8s.pod.ip"));
        assert!(r.wants_containers());
        assert_eq!(r.namespaces_needed(), NamespaceWatch::None);
        assert!(!r.nodes_needed());
        assert!(r.excluded_pods[0].is_match("my-jaeger-agent-1"));

        let mut cfg = K8sAttributesConfig::default();
        cfg.extract.metadata = Some(vec!["k8s.cluster.uid".into(), "k8s.node.uid".into()]);
        let r = Rules::new(&cfg);
        assert_eq!(r.namespaces_needed(), NamespaceWatch::KubeSystem);
        assert!(r.nodes_needed());
        assert!(!r.wants_containers());
        assert!(!r.replicasets_needed() && !r.jobs_needed());

        let mut cfg = K8sAttributesConfig::default();
        assert!(
            !Rules::new(&cfg).replicasets_needed(),
            "the name is derived"
        );
        cfg.extract.deployment_name_from_replicaset = Some(false);
        assert!(Rules::new(&cfg).replicasets_needed());
        cfg.extract.metadata = Some(vec!["k8s.cronjob.uid".into()]);
        let r = Rules::new(&cfg);
        assert!(!r.replicasets_needed() && r.jobs_needed());
    }
}
