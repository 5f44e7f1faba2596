//! The hosts the exporters described in their host metadata (`POST /intake`): for each
//! hostname the latest description, read the way Datadog's infrastructure list shows it.

use serde::Serialize;
use serde_json::Value;

use super::{lock, ns_to_ms, Result, Store};

/// One host, from its latest host metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Host {
    pub hostname: String,
    pub last_seen_ms: f64,
    /// How many host metadata bodies this host sent.
    pub reports: i64,
    /// The collector that reported it (`agent-flavor`) and its version.
    pub flavor: String,
    pub version: String,
    pub socket_hostname: String,
    pub socket_fqdn: String,
    pub instance_id: String,
    pub ec2_hostname: String,
    /// `host-tags.otel`.
    pub tags: Vec<String>,
    /// From the `gohai` inventory; empty when it was not sent.
    pub os: String,
    pub kernel: String,
    pub machine: String,
    pub cpu_model: String,
    pub logical_cpus: String,
    pub memory_total: String,
    pub ip_address: String,
}

impl Host {
    /// Reads a host metadata body; unknown or missing fields stay empty.
    pub fn from_body(body: &Value) -> Host {
        let text = |v: &Value, path: &str| {
            v.pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        // Go's exporter sends the inventory as a JSON document inside a string.
        let gohai = body
            .get("gohai")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null);
        let hostname = Some(text(body, "/internalHostname"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| text(body, "/meta/hostname"));
        Host {
            hostname,
            flavor: text(body, "/agent-flavor"),
            version: text(body, "/otel_version"),
            socket_hostname: text(body, "/meta/socket-hostname"),
            socket_fqdn: text(body, "/meta/socket-fqdn"),
            instance_id: text(body, "/meta/instance-id"),
            ec2_hostname: text(body, "/meta/ec2-hostname"),
            tags: body
                .pointer("/host-tags/otel")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            os: text(&gohai, "/platform/os"),
            kernel: [
                text(&gohai, "/platform/kernel_name"),
                text(&gohai, "/platform/kernel_release"),
            ]
            .join(" ")
            .trim()
            .to_string(),
            machine: text(&gohai, "/platform/machine"),
            cpu_model: text(&gohai, "/cpu/model_name"),
            logical_cpus: text(&gohai, "/cpu/cpu_logical_processors"),
            memory_total: text(&gohai, "/memory/total"),
            ip_address: text(&gohai, "/network/ipaddress"),
            ..Host::default()
        }
    }
}

impl Store {
    /// Every host that sent host metadata, by hostname, from its latest body.
    pub fn hosts(&self) -> Result<Vec<Host>> {
        let conn = lock(&self.reader);
        // SQLite returns the bare column of the row that holds the max().
        let mut stmt = conn.prepare_cached(
            "SELECT hostname, body, max(received_at_ns), count(*) FROM host_metadata
             GROUP BY hostname ORDER BY hostname",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(hostname, body, received_ns, reports)| {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                Host {
                    hostname,
                    last_seen_ms: ns_to_ms(received_ns),
                    reports,
                    ..Host::from_body(&body)
                }
            })
            .collect())
    }
}
