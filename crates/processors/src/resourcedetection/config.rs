//! The `resourcedetection` processor's configuration, in otelcol-contrib's shape.

use kakehashi_config::{AnyValue as ConfigValue, Duration, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Detectors otelcol-contrib has that kakehashi does not (they ask other cloud metadata
/// services, container runtimes or the Kubernetes API), by the names `detectors` lists them
/// with (each package's `TypeStr`). Listing one is an error.
pub(crate) const UNSUPPORTED_DETECTORS: &[&str] = &[
    "aks",
    "akamai",
    "alibaba_ecs",
    "azurecontainerapps",
    "consul",
    "digitalocean",
    "docker",
    "eks",
    "elastic_beanstalk",
    "heroku",
    "hetzner",
    "ibmcloud_classic",
    "ibmcloud_vpc",
    "k8s_api",
    "k8snode",
    "kubeadm",
    "lambda",
    "nova",
    "openshift",
    "oraclecloud",
    "scaleway",
    "tencent_cvm",
    "upcloud",
    "vultr",
];

/// Whether `key` is the section of a detector kakehashi does not run (otelcol's
/// `DetectorConfig` keys: the detectors' names, but `elasticbeanstalk` for `elastic_beanstalk`)
/// or the `env` detector's (it has no settings). Such a section is accepted unread, as otelcol
/// reads a section only for a listed detector.
fn is_unread_section(key: &str) -> bool {
    match key {
        "env" | "elasticbeanstalk" => true,
        "elastic_beanstalk" => false,
        _ => UNSUPPORTED_DETECTORS.contains(&key),
    }
}

/// otelcol's HTTP client keys (squashed into the processor's config; kakehashi honours only
/// `timeout`) and its detection retry block.
const UNSUPPORTED_KEYS: &[&str] = &[
    "auth",
    "compression",
    "cookies",
    "disable_keep_alives",
    "endpoint",
    "headers",
    "http2_ping_timeout",
    "http2_read_idle_timeout",
    "idle_conn_timeout",
    "max_conns_per_host",
    "max_idle_conns",
    "max_idle_conns_per_host",
    "proxy_url",
    "read_buffer_size",
    "retry",
    "tls",
    "write_buffer_size",
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
    /// How long detection may take, retries included (0: no limit, one attempt).
    pub timeout: Duration,
    /// Re-detect this often (0: once, at start).
    pub refresh_interval: Duration,
    /// Deprecated in otelcol: only these detected attributes are added.
    pub attributes: Option<Vec<String>>,
    /// Fail the detection when a cloud detector finds no metadata service (otelcol's
    /// top-level flag; the `ec2` section's own flag is its deprecated form).
    pub fail_on_missing_metadata: bool,
    pub system: SystemConfig,
    pub ec2: Ec2Config,
    pub ecs: EcsConfig,
    pub azure: AzureConfig,
    pub gcp: GcpConfig,
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
            fail_on_missing_metadata: false,
            system: SystemConfig::default(),
            ec2: Ec2Config::default(),
            ecs: EcsConfig::default(),
            azure: AzureConfig::default(),
            gcp: GcpConfig::default(),
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

/// A detector's `resource_attributes`: which of its attributes it sets.
pub type AttributeToggles = BTreeMap<String, AttributeToggle>;

/// Whether `name` is set: as configured, else the detector's default (`known`: name, on by
/// default).
pub(crate) fn attribute_enabled(
    toggles: &AttributeToggles,
    known: &[(&str, bool)],
    name: &str,
) -> bool {
    toggles.get(name).map_or_else(
        || known.iter().any(|(n, on)| *n == name && *on),
        |t| t.enabled,
    )
}

fn validate_toggles(
    detector: &str,
    toggles: &AttributeToggles,
    known: &[(&str, bool)],
    errs: &mut Vec<String>,
) {
    for name in toggles.keys() {
        if !known.iter().any(|(n, _)| n == name) {
            errs.push(format!(
                "{detector}::resource_attributes: has invalid keys: {name}"
            ));
        }
    }
}

/// The `ec2` detector's section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ec2Config {
    /// Regular expressions: instance tags whose key matches become `ec2.tag.<key>`.
    pub tags: Vec<String>,
    /// Read the tags from the instance metadata service instead of the EC2 API.
    pub tags_from_imds: bool,
    /// Attempts per metadata request (the AWS SDK's standard retryer).
    pub max_attempts: usize,
    pub max_backoff: Duration,
    /// Deprecated in otelcol for the top-level `fail_on_missing_metadata`; either turns it on
    /// for every cloud detector.
    pub fail_on_missing_metadata: bool,
    pub resource_attributes: AttributeToggles,
}

impl Default for Ec2Config {
    fn default() -> Self {
        Ec2Config {
            tags: Vec::new(),
            tags_from_imds: false,
            max_attempts: 3,
            max_backoff: Duration::from_secs(20),
            fail_on_missing_metadata: false,
            resource_attributes: AttributeToggles::new(),
        }
    }
}

/// The `ec2` detector's attributes, all on by default.
pub(crate) const EC2_ATTRIBUTES: &[(&str, bool)] = &[
    ("cloud.provider", true),
    ("cloud.platform", true),
    ("cloud.region", true),
    ("cloud.account.id", true),
    ("cloud.availability_zone", true),
    ("host.id", true),
    ("host.image.id", true),
    ("host.type", true),
    ("host.name", true),
];

/// The `ecs` detector's section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcsConfig {
    pub resource_attributes: AttributeToggles,
}

/// The `ecs` detector's attributes, all on by default.
pub(crate) const ECS_ATTRIBUTES: &[(&str, bool)] = &[
    ("cloud.provider", true),
    ("cloud.platform", true),
    ("cloud.account.id", true),
    ("cloud.region", true),
    ("cloud.availability_zone", true),
    ("aws.ecs.cluster.arn", true),
    ("aws.ecs.task.arn", true),
    ("aws.ecs.task.family", true),
    ("aws.ecs.task.id", true),
    ("aws.ecs.task.revision", true),
    ("aws.ecs.launchtype", true),
    ("aws.log.group.names", true),
    ("aws.log.group.arns", true),
    ("aws.log.stream.names", true),
    ("aws.log.stream.arns", true),
];

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

/// The `azure` detector's section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Regular expressions: VM tags whose name matches become `azure.tag.<name>`.
    pub tags: Vec<String>,
    pub resource_attributes: AttributeToggles,
}

/// The `azure` detector's attributes: all on by default but the availability zone.
pub(crate) const AZURE_ATTRIBUTES: &[(&str, bool)] = &[
    ("cloud.provider", true),
    ("cloud.platform", true),
    ("host.name", true),
    ("cloud.region", true),
    ("host.id", true),
    ("cloud.account.id", true),
    ("cloud.availability_zone", false),
    ("azure.vm.name", true),
    ("azure.vm.size", true),
    ("azure.vm.scaleset.name", true),
    ("azure.resourcegroup.name", true),
];

/// The `gcp` detector's section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpConfig {
    /// Instance labels to read through the Compute Engine API (not supported: a clear error).
    pub labels: Vec<String>,
    /// A GKE node's machine type through the Compute Engine API (not supported when true).
    pub gke_host_type: bool,
    pub resource_attributes: AttributeToggles,
}

/// The `gcp` detector's attributes: all on by default but the instance's hostname and name.
pub(crate) const GCP_ATTRIBUTES: &[(&str, bool)] = &[
    ("cloud.provider", true),
    ("cloud.platform", true),
    ("cloud.account.id", true),
    ("cloud.region", true),
    ("cloud.availability_zone", true),
    ("host.id", true),
    ("host.name", true),
    ("host.type", true),
    ("k8s.cluster.name", true),
    ("faas.name", true),
    ("faas.version", true),
    ("faas.instance", true),
    ("gcp.cloud_run.job.execution", true),
    ("gcp.cloud_run.job.task_index", true),
    ("gcp.gce.instance_group_manager.name", true),
    ("gcp.gce.instance_group_manager.zone", true),
    ("gcp.gce.instance_group_manager.region", true),
    ("gcp.gce.instance.hostname", false),
    ("gcp.gce.instance.name", false),
];

/// The detectors kakehashi runs.
pub(crate) const SUPPORTED_DETECTORS: &[&str] = &["env", "system", "ec2", "ecs", "gcp", "azure"];

impl ResourceDetectionConfig {
    /// The top-level flag or its deprecated per-detector form (otelcol ORs them).
    pub(crate) fn fail_on_missing(&self) -> bool {
        self.fail_on_missing_metadata || self.ec2.fail_on_missing_metadata
    }
}

impl Validate for ResourceDetectionConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for d in &self.detectors {
            match d.as_str() {
                d if SUPPORTED_DETECTORS.contains(&d) => {}
                d if UNSUPPORTED_DETECTORS.contains(&d) => errs.push(format!(
                    "detectors: the {d:?} detector is not supported by kakehashi yet (env, system, ec2, ecs, gcp and azure are)"
                )),
                d => errs.push(format!("invalid detector key: {d}")),
            }
        }
        for key in self.other_detectors.keys() {
            let key = key.as_str();
            if UNSUPPORTED_KEYS.contains(&key) {
                errs.push(format!(
                    "{key}: not supported by kakehashi yet (of the HTTP client settings, only timeout is)"
                ));
            } else if !is_unread_section(key) {
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
        // Like otelcol, a detector's section is only read when the detector is listed.
        let listed = |d: &str| self.detectors.iter().any(|x| x == d);
        if listed("ec2") {
            for re in &self.ec2.tags {
                if let Err(e) = regex::Regex::new(re) {
                    errs.push(format!("ec2::tags: invalid regular expression {re:?}: {e}"));
                }
            }
            if !self.ec2.tags.is_empty() && !self.ec2.tags_from_imds {
                errs.push(
                    "ec2::tags: reading instance tags through the EC2 API (signed with AWS credentials) is not supported by kakehashi yet; set ec2::tags_from_imds: true to read them from the instance metadata service".into(),
                );
            }
        }
        if listed("azure") {
            for re in &self.azure.tags {
                if let Err(e) = regex::Regex::new(re) {
                    errs.push(format!(
                        "azure::tags: invalid regular expression {re:?}: {e}"
                    ));
                }
            }
        }
        if listed("gcp") && !self.gcp.labels.is_empty() {
            errs.push("gcp::labels: reading instance labels through the Compute Engine API (with Google credentials) is not supported by kakehashi yet".into());
        }
        if listed("gcp") && self.gcp.gke_host_type {
            errs.push("gcp::gke_host_type: reading a node's machine type through the Compute Engine API (with Google credentials) is not supported by kakehashi yet".into());
        }
        validate_toggles(
            "ec2",
            &self.ec2.resource_attributes,
            EC2_ATTRIBUTES,
            &mut errs,
        );
        validate_toggles(
            "azure",
            &self.azure.resource_attributes,
            AZURE_ATTRIBUTES,
            &mut errs,
        );
        validate_toggles(
            "gcp",
            &self.gcp.resource_attributes,
            GCP_ATTRIBUTES,
            &mut errs,
        );
        validate_toggles(
            "ecs",
            &self.ecs.resource_attributes,
            ECS_ATTRIBUTES,
            &mut errs,
        );
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
