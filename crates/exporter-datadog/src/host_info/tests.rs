//! The inventory's parsers on recorded system output, the EC2 identity against a fake IMDS on
//! 127.0.0.1, and one collection on this machine.

use super::gohai::{self, Interface};
use super::*;
use crate::source::Sources;
use axum::http::Method;
use kakehashi_cloud_metadata::testing::{closed_url, Fake};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// Two packages of two logical processors each, as x86 Linux lists them.
fn cpuinfo() -> String {
    (0..2)
        .map(|package| {
            format!(
                "processor\t: {package}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
                 model\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\nstepping\t: 2\n\
                 cpu MHz\t\t: 2300.000\ncache size\t: 266240 KB\nphysical id\t: {package}\n\
                 siblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\nflags\t\t: fpu vme\n"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn cpu_fields_under_gohais_names_counted_over_packages() {
    let cpu = gohai::cpu(&cpuinfo());
    assert_eq!(
        Value::Object(cpu),
        json!({
            "vendor_id": "GenuineIntel",
            "family": "6",
            "model": "207",
            "model_name": "Intel(R) Xeon(R) Processor",
            "stepping": "2",
            "mhz": "2300.000",
            "cache_size": "266240 KB",
            "cpu_cores": "4",
            "cpu_logical_processors": "4",
        })
    );
    // Another layout (arm64's): no fields. A count that is missing stays missing.
    assert!(gohai::cpu("processor\t: 0\nBogoMIPS\t: 50.00\n").is_empty());
    let no_cores = gohai::cpu("siblings\t: 4\nphysical id\t: 0\n");
    assert_eq!(
        Value::Object(no_cores),
        json!({"cpu_logical_processors": "4"})
    );
}

#[test]
fn memory_joins_value_and_unit() {
    let m =
        gohai::memory("MemTotal:       24683772 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n");
    assert_eq!(
        Value::Object(m.unwrap()),
        json!({"total": "24683772kB", "swap_total": "0kB"})
    );
}

#[test]
fn platform_from_uname() {
    let p = gohai::platform(
        "Linux vm 6.18.44 x86_64 unknown unknown GNU/Linux\n",
        "#1 SMP PREEMPT_DYNAMIC @0\n",
        "x86_64",
    );
    assert_eq!(p["kernel_name"], "Linux");
    assert_eq!(p["hostname"], "vm");
    assert_eq!(p["kernel_release"], "6.18.44");
    assert_eq!(p["machine"], "x86_64");
    assert_eq!(p["processor"], "unknown");
    assert_eq!(p["hardware_platform"], "unknown");
    assert_eq!(p["os"], "GNU/Linux");
    assert_eq!(p["kernel_version"], "#1 SMP PREEMPT_DYNAMIC @0");
    assert_eq!(p["GOOS"], std::env::consts::OS);
    assert_eq!(p["GOOARCH"], "amd64");
}

#[test]
fn filesystems_from_df() {
    let df = "Filesystem 1K-blocks Used Available Use% Mounted on
/dev/vda 264212084 46132224 49153664 49% /
tmpfs 24683772 84 24683688 1% /mnt/with space
";
    assert_eq!(
        gohai::filesystem(df),
        vec![
            json!({"name": "/dev/vda", "kb_size": "264212084", "mounted_on": "/"}),
            json!({"name": "tmpfs", "kb_size": "24683772", "mounted_on": "/mnt/with space"}),
        ]
    );
}

fn iface(name: &str, loopback: bool, mac: &str, addrs: &[(&str, u8)]) -> Interface {
    Interface {
        name: name.into(),
        loopback,
        mac: mac.into(),
        addrs: addrs
            .iter()
            .map(|(a, p)| (a.parse::<IpAddr>().unwrap(), *p))
            .collect(),
    }
}

#[test]
fn network_names_the_first_external_ipv4_and_its_interface() {
    let ifaces = [
        iface("lo", true, "", &[("127.0.0.1", 8), ("::1", 128)]),
        iface("tun0", false, "", &[("fe80::1", 64)]),
        iface(
            "eth0",
            false,
            "0a:1b:2c:3d:4e:5f",
            &[("10.1.2.3", 24), ("fe80::abcd", 64)],
        ),
    ];
    assert_eq!(
        gohai::network(&ifaces),
        json!({
            "ipaddress": "10.1.2.3",
            "macaddress": "0a:1b:2c:3d:4e:5f",
            "ipaddressv6": "fe80::1",
            "interfaces": [
                {"name": "tun0", "ipv4": [], "ipv6": ["fe80::1"], "ipv6-network": "fe80::/64"},
                {
                    "name": "eth0",
                    "ipv4": ["10.1.2.3"],
                    "ipv6": ["fe80::abcd"],
                    "ipv4-network": "10.1.2.0/24",
                    "ipv6-network": "fe80::/64",
                    "macaddress": "0a:1b:2c:3d:4e:5f",
                },
            ],
        })
    );
    // Without an IPv4 address, gohai reports no network at all.
    assert_eq!(gohai::network(&ifaces[..2]), Value::Null);
}

fn sources(imds: &str) -> Sources {
    let imds = imds.to_string();
    Sources {
        env: Arc::new(move |k| (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| imds.clone())),
        hostname_command: "/nonexistent/hostname".into(),
        kernel_hostname: Arc::new(|| Some("pod-7".into())),
        ..Sources::default()
    }
}

#[tokio::test]
async fn on_ec2_the_identity_comes_from_imds() {
    let imds = Fake::default();
    imds.route(Method::PUT, "/latest/api/token", 200, "t");
    imds.get("/latest/meta-data/instance-id", "i-0abc123");
    imds.get(
        "/latest/dynamic/instance-identity/document",
        r#"{"instanceId":"i-0abc123"}"#,
    );
    imds.get("/latest/meta-data/hostname", "ip-10-0-0-5.ec2.internal");
    let info = collect(&sources(&imds.start().await), true).await;
    assert_eq!(
        info.ec2,
        Ec2Identity {
            instance_id: "i-0abc123".into(),
            hostname: "ip-10-0-0-5.ec2.internal".into(),
        }
    );
    assert_eq!(info.socket_hostname, "pod-7");
    assert_eq!(info.socket_fqdn, "", "no hostname command");
    // Not asked when the first resource named the EC2 host.
    let info = collect(&sources(&imds.start().await), false).await;
    assert_eq!(info.ec2, Ec2Identity::default());
}

#[tokio::test]
async fn off_ec2_the_identity_is_empty() {
    let info = collect(&sources(&closed_url()), true).await;
    assert_eq!(info.ec2, Ec2Identity::default());
}

/// This machine's inventory: what Linux always has is there, as strings.
#[tokio::test]
async fn this_machines_inventory() {
    let info = collect(&sources(&closed_url()), false).await;
    let gohai: Value = serde_json::from_str(info.gohai.as_deref().unwrap()).unwrap();
    assert_eq!(gohai["platform"]["kernel_name"], "Linux");
    assert!(gohai["memory"]["total"].as_str().unwrap().ends_with("kB"));
    if cfg!(target_arch = "x86_64") {
        assert!(gohai["cpu"]["cpu_logical_processors"].is_string());
    }
    // `df` may be missing or fail on an unreadable mount: then `null`, as gohai.
    if let Some(filesystems) = gohai["filesystem"].as_array() {
        assert!(filesystems.iter().all(|f| f["kb_size"].is_string()));
    }
}
