use serde_json::json;

use super::fixtures::*;
use super::*;

/// A body as kakehashi's exporter sends it (the inventory is a JSON string, as Go's).
fn body(host: &str, version: &str) -> serde_json::Value {
    let gohai = json!({
        "cpu": {"model_name": "Intel(R) Xeon(R) Processor", "cpu_logical_processors": "2"},
        "memory": {"total": "24683772kB"},
        "network": {"ipaddress": "10.1.2.3"},
        "platform": {"os": "GNU/Linux", "kernel_name": "Linux", "kernel_release": "6.18.44", "machine": "x86_64"},
    });
    json!({
        "internalHostname": host,
        "otel_version": version,
        "agent-flavor": "kakehashi",
        "meta": {
            "hostname": host,
            "socket-hostname": "pod-7",
            "socket-fqdn": "pod-7.cluster.local",
            "instance-id": "i-0abc",
            "ec2-hostname": "ip-10-1-2-3.ec2.internal",
        },
        "host-tags": {"otel": ["team:a"]},
        "gohai": gohai.to_string(),
    })
}

#[test]
fn each_host_from_its_latest_metadata() {
    let (_d, store) = temp_store();
    store
        .insert_host_metadata(&body("web-1", "0.1.0"), T0)
        .unwrap();
    store
        .insert_host_metadata(&body("web-1", "0.2.0"), T0 + 1_000_000)
        .unwrap();
    store
        .insert_host_metadata(&json!({"internalHostname": "bare"}), T0)
        .unwrap();
    let hosts = store.hosts().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        hosts[0],
        Host {
            hostname: "bare".into(),
            last_seen_ms: T0 as f64 / 1e6,
            reports: 1,
            ..Host::default()
        },
        "what is not sent stays empty"
    );
    assert_eq!(
        hosts[1],
        Host {
            hostname: "web-1".into(),
            last_seen_ms: (T0 + 1_000_000) as f64 / 1e6,
            reports: 2,
            flavor: "kakehashi".into(),
            version: "0.2.0".into(),
            socket_hostname: "pod-7".into(),
            socket_fqdn: "pod-7.cluster.local".into(),
            instance_id: "i-0abc".into(),
            ec2_hostname: "ip-10-1-2-3.ec2.internal".into(),
            tags: vec!["team:a".into()],
            os: "GNU/Linux".into(),
            kernel: "Linux 6.18.44".into(),
            machine: "x86_64".into(),
            cpu_model: "Intel(R) Xeon(R) Processor".into(),
            logical_cpus: "2".into(),
            memory_total: "24683772kB".into(),
            ip_address: "10.1.2.3".into(),
        },
        "the latest body"
    );
}

#[test]
fn an_inventory_that_is_not_json_is_left_out() {
    let mut b = body("h", "1");
    b["gohai"] = json!("{not json");
    let host = Host::from_body(&b);
    assert_eq!(host.os, "");
    assert_eq!(host.socket_hostname, "pod-7");
}
