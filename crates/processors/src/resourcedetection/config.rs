//! The `resourcedetection` processor's configuration, in otelcol-contrib's shape.

use kakehashi_config::{AnyValue as ConfigValue, Duration, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Detectors otelcol-contrib has that kakehashi does not (they ask cloud metadata services,
/// container runtimes or the Kubernetes API). Listing one is an error; their config sections are
/// accepted unused, as otelcol accepts a section for a detector that is not listed.
pub(crate) const UNSUPPORTED_DETECTORS: &[&str] = &[
    "aks",
    "akamai",
    "alibaba_ecs",
    "azure",
    "consul",
    "digitalocean",
    "docker",
    "dynatrace",
    "ec2",
    "ecs",
    "eks",
    "elasticbeanstalk",
    "gcp",
    "heroku",
    "hetzner",
    "k8snode",
    "kubeadm",
    "lambda",
    "openshift",
    "openstacknova",
    "oraclecloud",
    "scaleway",
    "upcloud",
    "vultr",
];

/// Unknown keys land in `other_detectors` and are refused by validation (serde cannot deny
/// unknown fields next to a flattened map).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResourceDetectionConfig {
    pub detectors: Vec<String>,
    /// Whether detected attributes replace ones the resource already has (otelcol: `true`).
    #[serde(rename = "override")]
    pub override_: bool,
    /// How long detection may take; env and system read local files only.
    pub timeout: Duration,
    /// Re-detect this often (0: once, at start).
    pub refresh_interval: Duration,
    /// Deprecated in otelcol: only these detected attributes are added.
    pub attributes: Option<Vec<String>>,
    pub system: SystemConfig,
    #[serde(flatten)]
    pub other_detectors: BTreeMap<String, ConfigValue>,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig {
            detectors: Vec::new(),
            override_: true,
            timeout: Duration::from_secs(5),
            refresh_interval: Duration::ZERO,
            attributes: None,
            system: SystemConfig::default(),
            other_detectors: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Tried in order until one gives a name (otelcol's default: `dns`, then `os`).
    pub hostname_sources: Vec<String>,
    pub resource_attributes: BTreeMap<String, AttributeToggle>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeToggle {
    pub enabled: bool,
}

/// The system detector's attributes: name, whether on by default, whether kakehashi can read it.
pub(crate) const SYSTEM_ATTRIBUTES: &[(&str, bool, bool)] = &[
    ("host.name", true, true),
    ("os.type", true, true),
    ("host.id", false, true),
    ("host.arch", false, true),
    ("os.description", false, true),
    ("host.cpu.vendor.id", false, true),
    ("host.cpu.family", false, true),
    ("host.cpu.model.id", false, true),
    ("host.cpu.model.name", false, true),
    ("host.cpu.stepping", false, true),
    ("host.cpu.cache.l2.size", false, true),
    ("host.ip", false, false),
    ("host.mac", false, false),
    ("host.interface", false, false),
    ("os.version", false, false),
    ("os.build.id", false, false),
];

impl SystemConfig {
    /// The attributes to detect, defaults overridden by `resource_attributes`.
    pub(crate) fn enabled(&self, name: &str) -> bool {
        self.resource_attributes.get(name).map_or_else(
            || SYSTEM_ATTRIBUTES.iter().any(|(n, on, _)| *n == name && *on),
            |t| t.enabled,
        )
    }

    pub(crate) fn sources(&self) -> Vec<String> {
        if self.hostname_sources.is_empty() {
            vec!["dns".into(), "os".into()]
        } else {
            self.hostname_sources.clone()
        }
    }
}

impl Validate for ResourceDetectionConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for d in &self.detectors {
            match d.as_str() {
                "env" | "system" => {}
                d if UNSUPPORTED_DETECTORS.contains(&d) => errs.push(format!(
                    "detectors: the {d:?} detector is not supported by kakehashi yet (env and system are)"
                )),
                d => errs.push(format!("invalid detector key: {d}")),
            }
        }
        for key in self.other_detectors.keys() {
            if !UNSUPPORTED_DETECTORS.contains(&key.as_str()) {
                errs.push(format!("has invalid keys: {key}"));
            }
        }
        for s in &self.system.hostname_sources {
            match s.as_str() {
                "os" | "dns" => {}
                "cname" | "lookup" => errs.push(format!(
                    "system::hostname_sources: {s:?} (a DNS query) is not supported by kakehashi yet (os and dns are)"
                )),
                other => errs.push(format!(
                    "system::hostname_sources: invalid hostname source: {other}"
                )),
            }
        }
        for (name, toggle) in &self.system.resource_attributes {
            match SYSTEM_ATTRIBUTES.iter().find(|(n, _, _)| n == name) {
                None => errs.push(format!(
                    "system::resource_attributes: has invalid keys: {name}"
                )),
                Some((_, _, false)) if toggle.enabled => errs.push(format!(
                    "system::resource_attributes::{name}: detecting {name} is not supported by kakehashi yet"
                )),
                _ => {}
            }
        }
        errs
    }
}
