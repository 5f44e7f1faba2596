//! Bodies of the side requests the traces exporter makes (§1.6): the "traces running" usage gauge
//! for `/api/v2/series` and the host metadata for `/intake`. Pure functions; the client gzips and
//! sends them.

use serde_json::json;
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The gauge the exporter reports after every batch of traces, once per host seen.
pub const TRACES_RUNNING_METRIC: &str = "otel.datadog_exporter.traces.running";
/// `command:` tag value and host metadata flavour source.
pub const COMMAND: &str = "kakehashi";
/// v2 series metric type code for a gauge (0 unspecified, 1 count, 2 rate, 3 gauge).
const GAUGE: u8 = 3;
/// `agent-flavor` of host metadata sent by OpenTelemetry collectors.
const FLAVOR: &str = "opentelemetry-collector";

/// `POST /api/v2/series` JSON: `otel.datadog_exporter.traces.running` = 1 at `now`, tagged
/// `version:<version>`, `command:kakehashi`, one series per distinct host (sorted), each with the
/// host as resource `{name, type: "host"}`. Empty host names are skipped; with no host left the
/// series list is empty (callers may then skip the request).
pub fn traces_running_series<'a>(
    hosts: impl IntoIterator<Item = &'a str>,
    version: &str,
    now: SystemTime,
) -> Vec<u8> {
    let timestamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let tags = [format!("version:{version}"), format!("command:{COMMAND}")];
    let hosts: BTreeSet<&str> = hosts.into_iter().filter(|h| !h.is_empty()).collect();
    let series: Vec<_> = hosts
        .into_iter()
        .map(|host| {
            json!({
                "metric": TRACES_RUNNING_METRIC,
                "type": GAUGE,
                "points": [{"timestamp": timestamp, "value": 1.0}],
                "resources": [{"name": host, "type": "host"}],
                "tags": tags,
            })
        })
        .collect();
    json!({ "series": series }).to_string().into_bytes()
}

/// `POST /intake` JSON: the subset of the contrib exporter's `HostMetadata` that kakehashi can
/// state truthfully — hostname (as `internalHostname` and `meta.hostname`), collector version,
/// flavour, and the configured `host_metadata.tags` under `host-tags.otel` (omitted when empty,
/// as Go's `omitempty` does). No gohai system inventory, processes, EC2/GCP identity or host
/// aliases are reported.
pub fn host_metadata(hostname: &str, version: &str, tags: &[String]) -> Vec<u8> {
    let host_tags = if tags.is_empty() {
        json!({})
    } else {
        json!({ "otel": tags })
    };
    json!({
        "internalHostname": hostname,
        "otel_version": version,
        "agent-flavor": FLAVOR,
        "meta": { "hostname": hostname },
        "host-tags": host_tags,
    })
    .to_string()
    .into_bytes()
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
    fn one_gauge_series_per_distinct_host() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_123);
        let body = traces_running_series(["h2", "h1", "h2", ""], "0.1.0", now);
        let v = parse(&body);
        let series = v["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
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
        assert_eq!(series[1]["resources"][0]["name"], "h2");
    }

    #[test]
    fn no_hosts_no_series() {
        let v = parse(&traces_running_series([], "0.1.0", SystemTime::now()));
        assert_eq!(v, json!({"series": []}));
    }

    #[test]
    fn host_metadata_is_minimal() {
        let v = parse(&host_metadata(
            "collector-1",
            "0.1.0",
            &["team:a".to_string(), "env:prod".to_string()],
        ));
        assert_eq!(
            v,
            json!({
                "internalHostname": "collector-1",
                "otel_version": "0.1.0",
                "agent-flavor": "opentelemetry-collector",
                "meta": {"hostname": "collector-1"},
                "host-tags": {"otel": ["team:a", "env:prod"]},
            })
        );
        let v = parse(&host_metadata("h", "0.1.0", &[]));
        assert_eq!(v["host-tags"], json!({}));
    }
}
