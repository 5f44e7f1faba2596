//! The `k8s_attributes` processor's configuration, in otelcol-contrib's shape, with its
//! validation. What kakehashi cannot do yet is refused by name, never ignored.

use kakehashi_config::{Duration, Validate};
use serde::Deserialize;

/// `extract::metadata` when the key is absent (otelcol's enabled-by-default attributes).
pub const DEFAULT_METADATA: &[&str] = &[
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.pod.start_time",
    "k8s.deployment.name",
    "k8s.node.name",
    "container.image.name",
    "container.image.tag",
];

/// Every `extract::metadata` value kakehashi computes.
pub const SUPPORTED_METADATA: &[&str] = &[
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.pod.hostname",
    "k8s.pod.ip",
    "k8s.pod.start_time",
    "k8s.deployment.name",
    "k8s.deployment.uid",
    "k8s.replicaset.name",
    "k8s.replicaset.uid",
    "k8s.daemonset.name",
    "k8s.daemonset.uid",
    "k8s.statefulset.name",
    "k8s.statefulset.uid",
    "k8s.job.name",
    "k8s.job.uid",
    "k8s.cronjob.name",
    "k8s.cronjob.uid",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.cluster.uid",
    "k8s.container.name",
    "container.id",
    "container.image.name",
    "container.image.tag",
    "container.image.repo_digests",
    "service.namespace",
    "service.name",
    "service.version",
    "service.instance.id",
];

/// Values otelcol accepts only with its semantic-convention feature gates.
const UNSUPPORTED_METADATA: &[&str] = &["container.image.tags"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sAttributesConfig {
    /// `serviceAccount` (in-cluster credentials) or `kubeConfig` (`$KUBECONFIG`, else
    /// `~/.kube/config`).
    pub auth_type: String,
    /// The kubeconfig context to use with `auth_type: kubeConfig` (empty: the current one).
    pub context: String,
    /// client-go's client-side rate limit. kakehashi makes one list and one long-lived watch
    /// per kind (and a new pair after a dropped watch), so there is nothing to limit; the
    /// values are checked and kept for otelcol compatibility.
    pub kube_api_qps: f64,
    pub kube_api_burst: i64,
    /// Only set `k8s.pod.ip` from the connection; no Kubernetes API access at all.
    pub passthrough: bool,
    pub extract: ExtractConfig,
    pub filter: FilterConfig,
    pub pod_association: Vec<PodAssociationConfig>,
    pub exclude: ExcludeConfig,
    /// Refuse to start until the pods have been listed (at most `wait_for_metadata_timeout`).
    pub wait_for_metadata: bool,
    pub wait_for_metadata_timeout: Duration,
    /// client-go's informer resync. A watch here keeps its table current from the events
    /// themselves (and lists again whenever a watch is lost), so a resync has nothing to
    /// repair; accepted for compatibility.
    pub watch_sync_period: Duration,
    /// How long a deleted pod stays known, for data that arrives after the pod is gone.
    pub pod_delete_grace_period: Duration,
}

impl Default for K8sAttributesConfig {
    fn default() -> Self {
        K8sAttributesConfig {
            auth_type: "serviceAccount".into(),
            context: String::new(),
            kube_api_qps: 5.0,
            kube_api_burst: 10,
            passthrough: false,
            extract: ExtractConfig::default(),
            filter: FilterConfig::default(),
            pod_association: Vec::new(),
            exclude: ExcludeConfig::default(),
            wait_for_metadata: false,
            wait_for_metadata_timeout: Duration::from_secs(10),
            watch_sync_period: Duration::from_secs(300),
            pod_delete_grace_period: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractConfig {
    /// `None`: [`DEFAULT_METADATA`]; an empty list extracts none of them.
    pub metadata: Option<Vec<String>>,
    pub labels: Vec<FieldExtractConfig>,
    pub annotations: Vec<FieldExtractConfig>,
    /// Every pod annotation `resource.opentelemetry.io/<key>` becomes the attribute `<key>`.
    pub otel_annotations: bool,
    /// Deprecated in otelcol (and `true` by default there): the Deployment's name is the
    /// ReplicaSet's without the pod's `pod-template-hash` suffix. `false` reads it from the
    /// ReplicaSet object's owner instead (a watch of ReplicaSets).
    pub deployment_name_from_replicaset: Option<bool>,
}

/// One label or annotation to copy onto the resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldExtractConfig {
    /// The attribute name (default `k8s.<from>.labels.<key>` / `...annotations.<key>`); with
    /// `key_regex`, `$1` or `${name}` refer to its capture groups.
    pub tag_name: String,
    pub key: String,
    /// Matched against whole keys (as if wrapped in `^(?:...)$`).
    pub key_regex: String,
    /// `pod` (default), `namespace`, `node`, `deployment`, `statefulset`, `daemonset`, `job`.
    pub from: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Only pods on this node (`spec.nodeName`).
    pub node: String,
    /// The node's name from this environment variable (wins over `node`).
    pub node_from_env_var: String,
    /// Only this namespace.
    pub namespace: String,
    pub fields: Vec<FieldFilterConfig>,
    pub labels: Vec<FieldFilterConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldFilterConfig {
    pub key: String,
    pub value: String,
    /// `equals` (default), `not-equals`; for labels also `exists`, `does-not-exist`.
    pub op: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodAssociationConfig {
    pub sources: Vec<AssociationSourceConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssociationSourceConfig {
    /// `resource_attribute` or `connection`.
    pub from: String,
    /// The resource attribute (with `from: resource_attribute`).
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExcludeConfig {
    /// Empty: otelcol's default, the `jaeger-agent` and `jaeger-collector` pods.
    pub pods: Vec<ExcludePodConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExcludePodConfig {
    /// A regular expression, matched anywhere in the pod's name (as otelcol's).
    pub name: String,
}

/// The most sources one association may combine (otelcol's fixed-size identifier).
pub const MAX_ASSOCIATION_SOURCES: usize = 4;

impl K8sAttributesConfig {
    /// The metadata to extract: the configured list or the defaults.
    pub fn metadata(&self) -> Vec<String> {
        match &self.extract.metadata {
            Some(list) => list.clone(),
            None => DEFAULT_METADATA.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The node name to filter on: `node_from_env_var` wins over `node`.
    pub fn filter_node(&self, env: impl Fn(&str) -> Option<String>) -> String {
        if self.filter.node_from_env_var.is_empty() {
            self.filter.node.clone()
        } else {
            env(&self.filter.node_from_env_var).unwrap_or_default()
        }
    }
}

fn validate_field_extract(kind: &str, i: usize, r: &FieldExtractConfig, errs: &mut Vec<String>) {
    let at = format!("extract::{kind}::{i}");
    if !r.key.is_empty() && !r.key_regex.is_empty() {
        errs.push(format!(
            "{at}: Out of Key or KeyRegex only one option is expected to be configured at a time, currently Key:{} and KeyRegex:{}",
            r.key, r.key_regex
        ));
    }
    if !r.key_regex.is_empty() {
        if let Err(e) = regex::Regex::new(&format!("^(?:{})$", r.key_regex)) {
            errs.push(format!("{at}::key_regex: {e}"));
        }
    }
    match r.from.as_str() {
        "" | "pod" | "namespace" | "node" | "replicaset" | "deployment" | "statefulset"
        | "daemonset" | "job" | "cronjob" => {}
        other => errs.push(format!(
            "{at}::from: {other} is not a valid choice for From. Must be one of: pod, namespace, node, replicaset, deployment, statefulset, daemonset, job, cronjob"
        )),
    }
}

impl Validate for K8sAttributesConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        match self.auth_type.as_str() {
            "serviceAccount" | "kubeConfig" => {}
            "none" | "tls" => errs.push(format!(
                "auth_type: {:?} is not supported by kakehashi yet (serviceAccount and kubeConfig are)",
                self.auth_type
            )),
            other => errs.push(format!("invalid authType for kubernetes: {other}")),
        }
        if self.kube_api_qps < 0.0 {
            errs.push(format!(
                "kube_api_qps: must not be negative, got {}",
                self.kube_api_qps
            ));
        }
        if self.kube_api_burst < 0 {
            errs.push(format!(
                "kube_api_burst: must not be negative, got {}",
                self.kube_api_burst
            ));
        }
        for m in self.metadata() {
            if SUPPORTED_METADATA.contains(&m.as_str()) {
                continue;
            }
            if UNSUPPORTED_METADATA.contains(&m.as_str()) {
                errs.push(format!(
                    "extract::metadata: {m:?} is not supported by kakehashi yet"
                ));
            } else {
                errs.push(format!(
                    "extract::metadata: \"{m}\" is not a supported metadata field"
                ));
            }
        }
        for (i, r) in self.extract.labels.iter().enumerate() {
            validate_field_extract("labels", i, r, &mut errs);
        }
        for (i, r) in self.extract.annotations.iter().enumerate() {
            validate_field_extract("annotations", i, r, &mut errs);
        }
        for (i, f) in self.filter.fields.iter().enumerate() {
            if !matches!(f.op.as_str(), "" | "equals" | "not-equals") {
                errs.push(format!(
                    "filter::fields::{i}: '{}' is not a valid field filter operation for key={}, value={}",
                    f.op, f.key, f.value
                ));
            }
        }
        for (i, f) in self.filter.labels.iter().enumerate() {
            if !matches!(
                f.op.as_str(),
                "" | "equals" | "not-equals" | "exists" | "does-not-exist"
            ) {
                errs.push(format!(
                    "filter::labels::{i}: '{}' is not a valid label filter operation for key={}, value={}",
                    f.op, f.key, f.value
                ));
            }
        }
        // As otelcol's os.LookupEnv: unset is an error, set but empty is not.
        if !self.filter.node_from_env_var.is_empty()
            && std::env::var_os(&self.filter.node_from_env_var).is_none()
        {
            errs.push(format!(
                "filter::node_from_env_var: {} is not set",
                self.filter.node_from_env_var
            ));
        }
        for (i, a) in self.pod_association.iter().enumerate() {
            if a.sources.is_empty() {
                errs.push(format!("pod_association::{i}: sources must not be empty"));
            }
            if a.sources.len() > MAX_ASSOCIATION_SOURCES {
                errs.push(format!(
                    "pod_association::{i}: too many association sources. limit is {MAX_ASSOCIATION_SOURCES}"
                ));
            }
            for (j, s) in a.sources.iter().enumerate() {
                match s.from.as_str() {
                    "connection" => {}
                    "resource_attribute" if s.name.is_empty() => errs.push(format!(
                        "pod_association::{i}::sources::{j}: name is required with from: resource_attribute"
                    )),
                    "resource_attribute" => {}
                    other => errs.push(format!(
                        "pod_association::{i}::sources::{j}: from: {other:?} is not one of resource_attribute, connection"
                    )),
                }
            }
        }
        for (i, p) in self.exclude.pods.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&p.name) {
                errs.push(format!("exclude::pods::{i}::name: {e}"));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_config::decode_yaml;

    fn errors(yaml: &str) -> String {
        match decode_yaml::<K8sAttributesConfig>("processors::k8sattributes", yaml) {
            Ok(c) => c.validate().join("\n"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn otelcols_documented_example_is_accepted() {
        let yaml = r#"
auth_type: "serviceAccount"
passthrough: false
filter:
  node_from_env_var: PATH
  labels: [{key: app, op: exists}]
extract:
  metadata: [k8s.pod.name, k8s.pod.uid, k8s.deployment.name, k8s.namespace.name, k8s.node.name, k8s.pod.start_time]
  labels:
    - tag_name: a1
      key: label1
      from: pod
    - tag_name: $$1
      key_regex: kubernetes.io/(.*)
      from: namespace
  annotations:
    - key: annotation-one
  otel_annotations: true
pod_association:
  - sources:
      - from: resource_attribute
        name: k8s.pod.ip
  - sources:
      - from: resource_attribute
        name: k8s.pod.uid
  - sources:
      - from: connection
exclude:
  pods: [{name: jaeger-agent}, {name: "^istio-.*"}]
wait_for_metadata: true
wait_for_metadata_timeout: 30s
pod_delete_grace_period: 60s
"#;
        assert_eq!(errors(yaml), "");
        let cfg: K8sAttributesConfig = decode_yaml("p", yaml).unwrap();
        // `$$` → `$` is the config loader's expansion, before decoding.
        assert_eq!(cfg.extract.labels[1].tag_name, "$$1");
        assert_eq!(cfg.wait_for_metadata_timeout, Duration::from_secs(30));
        assert_eq!(cfg.filter_node(|_| Some("node-7".into())), "node-7");
        assert_eq!(cfg.metadata().len(), 6);
        // What otelcol accepts although it does nothing: a context without kubeConfig, rules
        // without a key, filters without a key, from: replicaset / cronjob.
        assert_eq!(
            errors(
                "context: other\nextract: {labels: [{}, {key: a, from: replicaset}, {key: b, from: cronjob}]}\nfilter: {fields: [{value: x}]}"
            ),
            ""
        );
        let default: K8sAttributesConfig = decode_yaml("p", "{}").unwrap();
        assert_eq!(default, K8sAttributesConfig::default());
        assert_eq!(default.metadata().len(), DEFAULT_METADATA.len());
    }

    #[test]
    fn every_mistake_is_named() {
        for (yaml, want) in [
            ("auth_type: certs", "invalid authType for kubernetes: certs"),
            ("auth_type: tls", "\"tls\" is not supported by kakehashi yet"),
            (
                "extract: {metadata: [k8s.pod.nam]}",
                "\"k8s.pod.nam\" is not a supported metadata field",
            ),
            (
                "extract: {metadata: [container.image.tags]}",
                "\"container.image.tags\" is not supported by kakehashi yet",
            ),
            (
                "extract: {labels: [{key: a, key_regex: b}]}",
                "Out of Key or KeyRegex only one option",
            ),
            ("extract: {labels: [{key_regex: '('}]}", "extract::labels::0::key_regex"),
            (
                "extract: {labels: [{key: a, from: cluster}]}",
                "cluster is not a valid choice for From",
            ),
            (
                "filter: {fields: [{key: a, op: exists}]}",
                "'exists' is not a valid field filter operation for key=a, value=",
            ),
            (
                "filter: {labels: [{key: a, value: b, op: like}]}",
                "'like' is not a valid label filter operation for key=a, value=b",
            ),
            (
                "filter: {node_from_env_var: KAKEHASHI_TEST_SURELY_UNSET}",
                "KAKEHASHI_TEST_SURELY_UNSET is not set",
            ),
            (
                "pod_association: [{sources: [{from: connection}, {from: connection}, {from: connection}, {from: connection}, {from: connection}]}]",
                "too many association sources. limit is 4",
            ),
            (
                "pod_association: [{sources: [{from: resource_attribute}]}]",
                "name is required with from: resource_attribute",
            ),
            (
                "pod_association: [{sources: [{from: header}]}]",
                "from: \"header\" is not one of",
            ),
            (
                "pod_association: [{from: connection}]",
                "pod_association::0::from: unknown key \"from\"; valid keys: sources",
            ),
            ("exclude: {pods: [{name: '['}]}", "exclude::pods::0::name"),
            ("kube_api_qps: -1", "kube_api_qps: must not be negative"),
            ("extract: {metdata: []}", "metdata"),
        ] {
            let got = errors(yaml);
            assert!(got.contains(want), "{yaml}: {got:?} lacks {want:?}");
        }
    }
}
