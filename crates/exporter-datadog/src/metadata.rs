//! Bodies of the side requests the traces exporter makes (§1.6): the "traces running" usage gauge
//! for `/api/v2/series` and the host metadata for `/intake`. Pure functions; the client gzips and
//! sends them.

use crate::host_info::HostInfo;
use kakehashi_datadog_translate::{source_from_attributes, Source};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The gauge the exporter reports after every batch of traces, once per host seen.
pub const TRACES_RUNNING_METRIC: &str = "otel.datadog_exporter.traces.running";
/// The gauge that says whether the collector serves several hosts (a gateway): 1 once two
/// different hostnames came from resource attributes, else 0; reported next to each host's
/// [`TRACES_RUNNING_METRIC`].
pub const GATEWAY_METRIC: &str = "datadog.otel.gateway";
/// `command:` tag value and host metadata flavour source.
pub const COMMAND: &str = "kakehashi";
/// v2 series metric type code for a gauge (0 unspecified, 1 count, 2 rate, 3 gauge).
const GAUGE: u8 = 3;

/// What the usage series report: the hosts and Fargate tasks seen since the last series.
#[derive(Debug, Default)]
pub struct Usage<'a> {
    /// Hostnames (empty ones are skipped).
    pub hosts: Vec<&'a str>,
    /// ECS Fargate task ARNs (no host): one series each, tagged `task_arn:<arn>`.
    pub fargate_tasks: Vec<&'a str>,
    /// The gateway gauge's value, sent with each host's series.
    pub gateway: f64,
}

/// `POST /api/v2/series` JSON, as the contrib exporter's `exportUsageMetrics`: per distinct
/// host (sorted), `otel.datadog_exporter.traces.running` = 1 with the host as resource
/// `{name, type: "host"}`, followed by `datadog.otel.gateway`; per Fargate task, the running
/// gauge with an empty host and the `task_arn:<arn>` tag. Tags `version:<version>`,
/// `command:kakehashi`. With nothing seen the series list is empty (callers may skip it).
pub fn traces_running_series(usage: &Usage<'_>, version: &str, now: SystemTime) -> Vec<u8> {
    let timestamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let tags = vec![format!("version:{version}"), format!("command:{COMMAND}")];
    let gauge = |metric: &str, value: f64, host: &str, tags: &[String]| {
        json!({
            "metric": metric,
            "type": GAUGE,
            "points": [{"timestamp": timestamp, "value": value}],
            "resources": [{"name": host, "type": "host"}],
            "tags": tags,
        })
    };
    let hosts: BTreeSet<&str> = usage
        .hosts
        .iter()
        .copied()
        .filter(|h| !h.is_empty())
        .collect();
    let tasks: BTreeSet<&str> = usage.fargate_tasks.iter().copied().collect();
    let mut series = Vec::with_capacity(2 * hosts.len() + tasks.len());
    for host in hosts {
        series.push(gauge(TRACES_RUNNING_METRIC, 1.0, host, &tags));
        series.push(gauge(GATEWAY_METRIC, usage.gateway, host, &tags));
    }
    for arn in tasks {
        let mut tags = tags.clone();
        tags.push(format!("task_arn:{arn}"));
        series.push(gauge(TRACES_RUNNING_METRIC, 1.0, "", &tags));
    }
    json!({ "series": series }).to_string().into_bytes()
}

/// Go's `GatewayUsage`: remembers the first hostname that came from resource attributes; a
/// different one later means the collector is a gateway, for good. As in Go, an empty first
/// hostname leaves the first unset, while an empty one after a first counts as different
/// (`datadog.host.name: ""` names an empty host).
#[derive(Debug, Default)]
pub struct GatewayUsage {
    first: String,
    detected: bool,
}

impl GatewayUsage {
    /// A hostname found in resource attributes, in the order the resources came.
    pub fn on_host(&mut self, host: &str) {
        if self.first.is_empty() {
            self.first = host.to_string();
        } else if self.first != host {
            self.detected = true;
        }
    }

    /// 1 once a gateway was detected, else 0.
    pub fn gauge(&self) -> f64 {
        if self.detected {
            1.0
        } else {
            0.0
        }
    }
}

/// What the first resource tells about its host (`host_metadata::hostname_source:
/// first_resource`, Go's `metadataFromAttributes`): its hostname, and on AWS the EC2 identity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResourceHost {
    /// The resource's hostname (empty: none, the configured or system host is used).
    pub hostname: String,
    /// `host.id` on AWS.
    pub instance_id: String,
    /// `host.name` on AWS.
    pub ec2_hostname: String,
    /// `ec2.tag.<key>` attributes on AWS, as `<key>:<value>`.
    pub ec2_tags: Vec<String>,
    /// On GCP: `instance-id`, `zone`, `instance-type` and `project` from `host.id`,
    /// `cloud.availability_zone`, `host.type` and `cloud.account.id`, each when present.
    pub gcp_tags: Vec<String>,
}

/// Go's `metadataFromAttributes` for one resource: the hostname its attributes name (Fargate
/// and "no host" give none), on AWS `host.id`, `host.name` and the `ec2.tag.*` tags, on GCP
/// the instance's tags.
pub fn resource_host(attrs: &[KeyValue]) -> ResourceHost {
    // pcommon's `Str()`: the string, or "" for another type.
    let str_of = |kv: &KeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        _ => String::new(),
    };
    let get = |key: &str| attrs.iter().find(|kv| kv.key == key).map(str_of);
    let mut host = ResourceHost::default();
    if let Some(Source::Hostname(name)) = source_from_attributes(attrs) {
        host.hostname = name;
    }
    if get("cloud.provider").as_deref() == Some("gcp") {
        host.gcp_tags = [
            ("instance-id", "host.id"),
            ("zone", "cloud.availability_zone"),
            ("instance-type", "host.type"),
            ("project", "cloud.account.id"),
        ]
        .into_iter()
        .filter_map(|(tag, key)| Some(format!("{tag}:{}", get(key)?)))
        .collect();
    }
    if get("cloud.provider").as_deref() == Some("aws") {
        host.instance_id = get("host.id").unwrap_or_default();
        host.ec2_hostname = get("host.name").unwrap_or_default();
        host.ec2_tags = attrs
            .iter()
            .filter_map(|kv| {
                let key = kv.key.strip_prefix("ec2.tag.")?;
                Some(format!("{key}:{}", str_of(kv)))
            })
            .collect();
    }
    host
}

/// `POST /intake` JSON, as the contrib exporter's `HostMetadata`: the hostname (as
/// `internalHostname` and `meta.hostname`; the resource's when given one, else
/// `fallback_hostname`), collector version, flavour (the command, as Go's
/// `BuildInfo.Command`), the socket hostname and FQDN, the EC2 identity (the resource's when it
/// named an EC2 hostname, else IMDS's, as Go's `fillHostMetadata`), the `gohai` inventory as a
/// JSON string, the EC2 tags then the configured `host_metadata.tags` under `host-tags.otel`
/// and a GCP resource's tags under `host-tags."google cloud platform"` (empty fields left out,
/// as Go's `omitempty`). No process list or host aliases. `None` when there is no hostname at all (Go's pusher skips those).
pub fn host_metadata(
    fallback_hostname: &str,
    version: &str,
    tags: &[String],
    resource: Option<&ResourceHost>,
    machine: &HostInfo,
) -> Option<Vec<u8>> {
    let empty = ResourceHost::default();
    let resource = resource.unwrap_or(&empty);
    let hostname = if resource.hostname.is_empty() {
        fallback_hostname
    } else {
        &resource.hostname
    };
    if hostname.is_empty() {
        return None;
    }
    let otel_tags: Vec<&String> = resource.ec2_tags.iter().chain(tags).collect();
    let mut host_tags = json!({});
    if !otel_tags.is_empty() {
        host_tags["otel"] = json!(otel_tags);
    }
    if !resource.gcp_tags.is_empty() {
        host_tags["google cloud platform"] = json!(resource.gcp_tags);
    }
    // Go asks IMDS only when the resource gave no EC2 hostname, and then takes both answers.
    let (instance_id, ec2_hostname) = if resource.ec2_hostname.is_empty() {
        (&machine.ec2.instance_id, &machine.ec2.hostname)
    } else {
        (&resource.instance_id, &resource.ec2_hostname)
    };
    let mut meta = json!({ "hostname": hostname });
    for (key, value) in [
        ("instance-id", instance_id),
        ("ec2-hostname", ec2_hostname),
        ("socket-hostname", &machine.socket_hostname),
        ("socket-fqdn", &machine.socket_fqdn),
    ] {
        if !value.is_empty() {
            meta[key] = json!(value);
        }
    }
    let mut body = json!({
        "internalHostname": hostname,
        "otel_version": version,
        "agent-flavor": COMMAND,
        "meta": meta,
        "host-tags": host_tags,
    });
    if let Some(gohai) = &machine.gohai {
        body["gohai"] = json!(gohai);
    }
    Some(body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn running_and_gateway_gauges_per_distinct_host() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_123);
        let usage = Usage {
            hosts: vec!["h2", "h1", "h2", ""],
            gateway: 1.0,
            ..Usage::default()
        };
        let v = parse(&traces_running_series(&usage, "0.1.0", now));
        let series = v["series"].as_array().unwrap();
        assert_eq!(series.len(), 4);
        assert_eq!(
            series[0],
            json!({
                "metric": "otel.datadog_exporter.traces.running",
                "type": 3,
                "points": [{"timestamp": 1_700_000_123u64, "value": 1.0}],
                "resources": [{"name": "h1", "type": "host"}],
                "tags": ["version:0.1.0", "command:kakehashi"],
            })
        );
        assert_eq!(series[1]["metric"], "datadog.otel.gateway");
        assert_eq!(series[1]["points"][0]["value"], 1.0);
        assert_eq!(series[1]["resources"][0]["name"], "h1");
        assert_eq!(series[2]["resources"][0]["name"], "h2");
    }

    #[test]
    fn fargate_tasks_get_a_tagged_series_without_host() {
        let usage = Usage {
            fargate_tasks: vec!["arn:aws:ecs:t/1"],
            ..Usage::default()
        };
        let v = parse(&traces_running_series(&usage, "0.1.0", SystemTime::now()));
        let series = v["series"].as_array().unwrap();
        assert_eq!(series.len(), 1, "no gateway gauge without a host");
        assert_eq!(series[0]["metric"], "otel.datadog_exporter.traces.running");
        assert_eq!(
            series[0]["resources"],
            json!([{"name": "", "type": "host"}])
        );
        assert_eq!(
            series[0]["tags"],
            json!([
                "version:0.1.0",
                "command:kakehashi",
                "task_arn:arn:aws:ecs:t/1"
            ])
        );
    }

    #[test]
    fn no_hosts_no_series() {
        let v = parse(&traces_running_series(
            &Usage::default(),
            "0.1.0",
            SystemTime::now(),
        ));
        assert_eq!(v, json!({"series": []}));
    }

    #[test]
    fn a_second_attribute_host_makes_a_gateway() {
        let mut g = GatewayUsage::default();
        assert_eq!(g.gauge(), 0.0);
        g.on_host("a");
        g.on_host("a");
        assert_eq!(g.gauge(), 0.0);
        g.on_host("b");
        assert_eq!(g.gauge(), 1.0);
        g.on_host("a");
        assert_eq!(g.gauge(), 1.0, "for good");
    }

    #[test]
    fn an_empty_attribute_host_counts_only_after_a_first() {
        let mut g = GatewayUsage::default();
        g.on_host("");
        g.on_host("a");
        assert_eq!(g.gauge(), 0.0, "an empty first host is no first host");
        g.on_host("");
        assert_eq!(g.gauge(), 1.0, "empty differs from the first");
    }

    #[test]
    fn host_metadata_without_machine_information() {
        let v = parse(
            &host_metadata(
                "collector-1",
                "0.1.0",
                &["team:a".to_string(), "env:prod".to_string()],
                None,
                &HostInfo::default(),
            )
            .unwrap(),
        );
        assert_eq!(
            v,
            json!({
                "internalHostname": "collector-1",
                "otel_version": "0.1.0",
                "agent-flavor": "kakehashi",
                "meta": {"hostname": "collector-1"},
                "host-tags": {"otel": ["team:a", "env:prod"]},
            })
        );
        let v = parse(&host_metadata("h", "0.1.0", &[], None, &HostInfo::default()).unwrap());
        assert_eq!(v["host-tags"], json!({}));
        assert!(
            host_metadata("", "0.1.0", &[], None, &HostInfo::default()).is_none(),
            "no host, no payload"
        );
    }

    #[test]
    fn resource_host_reads_the_ec2_identity_on_aws_only() {
        let s = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(kakehashi_pdata::proto::common::v1::AnyValue {
                value: Some(super::Value::StringValue(v.into())),
            }),
            ..KeyValue::default()
        };
        let aws = [
            s("cloud.provider", "aws"),
            s("host.id", "i-0abc"),
            s("host.name", "ip-10-0-0-1.ec2.internal"),
            s("ec2.tag.team", "payments"),
        ];
        assert_eq!(
            resource_host(&aws),
            ResourceHost {
                hostname: "i-0abc".into(),
                instance_id: "i-0abc".into(),
                ec2_hostname: "ip-10-0-0-1.ec2.internal".into(),
                ec2_tags: vec!["team:payments".into()],
                gcp_tags: vec![],
            }
        );
        let plain = [s("host.name", "web-1"), s("ec2.tag.team", "payments")];
        assert_eq!(
            resource_host(&plain),
            ResourceHost {
                hostname: "web-1".into(),
                ..ResourceHost::default()
            }
        );
        assert_eq!(resource_host(&[]), ResourceHost::default());
        let gcp = [
            s("cloud.provider", "gcp"),
            s("host.id", "1234567"),
            s("host.name", "vm-1"),
            s("host.type", "e2-medium"),
            s("cloud.account.id", "my-project"),
        ];
        let host = resource_host(&gcp);
        assert_eq!(host.hostname, "vm-1.my-project");
        assert_eq!(
            host.gcp_tags,
            [
                "instance-id:1234567",
                "instance-type:e2-medium",
                "project:my-project"
            ],
            "the zone is absent"
        );
        let v =
            parse(&host_metadata("c", "0.1.0", &[], Some(&host), &HostInfo::default()).unwrap());
        assert_eq!(
            v["host-tags"],
            json!({"google cloud platform": ["instance-id:1234567", "instance-type:e2-medium", "project:my-project"]})
        );
    }

    #[test]
    fn a_resource_host_and_its_ec2_identity() {
        let resource = ResourceHost {
            hostname: "i-0abc".into(),
            instance_id: "i-0abc".into(),
            ec2_hostname: "ip-10-0-0-1.ec2.internal".into(),
            ec2_tags: vec!["team:payments".into()],
            gcp_tags: vec![],
        };
        let v = parse(
            &host_metadata(
                "collector-1",
                "0.1.0",
                &["env:prod".into()],
                Some(&resource),
                &machine(),
            )
            .unwrap(),
        );
        assert_eq!(v["internalHostname"], "i-0abc");
        assert_eq!(
            v["meta"],
            json!({
                "hostname": "i-0abc",
                "instance-id": "i-0abc",
                "ec2-hostname": "ip-10-0-0-1.ec2.internal",
                "socket-hostname": "pod-7",
                "socket-fqdn": "pod-7.example",
            }),
            "the resource's EC2 identity, not IMDS's"
        );
        assert_eq!(v["host-tags"]["otel"], json!(["team:payments", "env:prod"]));
        // A resource without a host falls back to the configured or system host.
        let v = parse(
            &host_metadata(
                "collector-1",
                "0.1.0",
                &[],
                Some(&ResourceHost::default()),
                &machine(),
            )
            .unwrap(),
        );
        assert_eq!(v["internalHostname"], "collector-1");
        assert_eq!(
            v["meta"],
            json!({
                "hostname": "collector-1",
                "instance-id": "i-imds",
                "ec2-hostname": "ip-imds.ec2.internal",
                "socket-hostname": "pod-7",
                "socket-fqdn": "pod-7.example",
            }),
            "IMDS's EC2 identity"
        );
        assert_eq!(v["gohai"], r#"{"platform":{"os":"GNU/Linux"}}"#, "a string");
    }

    fn machine() -> HostInfo {
        HostInfo {
            socket_hostname: "pod-7".into(),
            socket_fqdn: "pod-7.example".into(),
            ec2: crate::host_info::Ec2Identity {
                instance_id: "i-imds".into(),
                hostname: "ip-imds.ec2.internal".into(),
            },
            gohai: Some(r#"{"platform":{"os":"GNU/Linux"}}"#.into()),
        }
    }
}
