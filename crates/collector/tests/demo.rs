//! `kakehashi demo` end to end: the real binary runs the intake, the collector on the seed
//! pipeline, the sample app and traffic; the intake's JSON API must show the sample app's
//! `/health` traces, mapped as Datadog would show them, within seconds.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn get_json(port: u16, path: &str) -> Value {
    let resp = http_get(port, path);
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "GET {path}: {}",
        &resp[..resp.len().min(500)]
    );
    serde_json::from_str(http_body(&resp)).unwrap_or_else(|e| panic!("GET {path}: {e}: {resp}"))
}

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

#[test]
fn demo_delivers_health_check_traces_to_the_intake_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, otlp, app, metrics) = (free_port(), free_port(), free_port(), free_port());
    let mut cmd = kakehashi_command();
    cmd.args(["demo", "--rate", "20", "--data"])
        .arg(dir.path().join("data"))
        .args(["--intake-port", &intake.to_string()])
        .args(["--otlp-port", &otlp.to_string()])
        .args(["--app-port", &app.to_string()])
        .args(["--metrics-port", &metrics.to_string()]);
    let mut demo = ProcessGuard::spawn("demo", cmd, dir.path());
    for port in [intake, otlp, app] {
        wait_for_port(port, Duration::from_secs(20), Some(&mut demo));
    }
    // The banner is printed once everything listens: the ports can open just before it.
    let banner = format!("trace explorer   http://127.0.0.1:{intake}/");
    assert!(
        poll_until(Duration::from_secs(10), || demo
            .stdout()
            .contains(&banner)
            .then_some(()))
        .is_some(),
        "{}",
        demo.output_tail(4000)
    );

    // A /health trace of the sample app, with its HealthCheck Local child.
    let trace = poll_until(Duration::from_secs(30), || {
        let list = get_json(
            intake,
            "/api/traces?service=sample-app&q=%2Fhealth&limit=20",
        );
        list["traces"].as_array()?.iter().find_map(|t| {
            let id = str_field(t, "trace_id");
            let detail = get_json(intake, &format!("/api/traces/{id}"));
            let spans = detail["spans"].as_array()?;
            spans
                .iter()
                .any(|s| str_field(s, "resource") == "HealthCheck Local")
                .then_some(detail)
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "no /health trace with HealthCheck Local in the intake within 30 s\n{}",
            demo.output_tail(8000)
        )
    });

    let spans = trace["spans"].as_array().unwrap();
    let server = spans
        .iter()
        .find(|s| str_field(s, "resource") == "GET /health")
        .unwrap_or_else(|| panic!("no GET /health server span: {trace:#}"));
    let check = spans
        .iter()
        .find(|s| str_field(s, "resource") == "HealthCheck Local")
        .unwrap();
    // The SDK's resource service.name wins over the resource processor's `insert` (vote-app);
    // the HealthCheck span's own `service.name` attribute (the seed's `vote-app`) comes before
    // the resource's in the Datadog mapping; env comes from the processor. As with otelcol.
    assert_eq!(str_field(server, "service"), "sample-app", "{server:#}");
    assert_eq!(str_field(check, "service"), "vote-app", "{check:#}");
    for s in [server, check] {
        assert_eq!(str_field(s, "env"), "staging", "{s:#}");
    }
    assert_eq!(
        str_field(server, "name"),
        "http.server.request",
        "{server:#}"
    );
    assert_eq!(str_field(server, "type"), "web");
    assert_eq!(
        str_field(check, "parent_id"),
        str_field(server, "span_id"),
        "HealthCheck Local is the server span's child"
    );
    let meta = &check["meta"];
    for (k, v) in [
        ("custom.tag", "🚀 This is a test trace! 🚀"),
        ("custom.debugTag", "🐛 This is a debug trace! 🐛"),
        ("endpoint", "/health"),
        ("environment", "local"),
        ("debug_mode", "true"),
    ] {
        assert_eq!(meta[k].as_str(), Some(v), "meta {k}: {check:#}");
    }
    assert_eq!(
        check["metrics"]["random_number"].as_f64(),
        Some(42.0),
        "random_number is a metric: {check:#}"
    );

    // APM stats reach the services page (the exporter flushes 10 s buckets).
    let services = poll_until(Duration::from_secs(40), || {
        let v = get_json(intake, "/api/services");
        let s = v["services"].as_array()?.iter().find(|s| {
            str_field(s, "service") == "sample-app" && s["hits"].as_u64().unwrap_or(0) > 0
        })?;
        Some(s.clone())
    })
    .unwrap_or_else(|| panic!("no APM stats for sample-app\n{}", demo.output_tail(8000)));
    assert_eq!(str_field(&services, "env"), "staging");
    assert!(services["errors"].as_u64().is_some(), "{services:#}");

    // The collector's host metadata reaches the hosts page, with the machine's inventory.
    let host = poll_until(Duration::from_secs(20), || {
        let v = get_json(intake, "/api/hosts");
        let h = v["hosts"]
            .as_array()?
            .iter()
            .find(|h| str_field(h, "hostname") == "kakehashi-demo")?;
        Some(h.clone())
    })
    .unwrap_or_else(|| panic!("no host metadata\n{}", demo.output_tail(8000)));
    assert_eq!(str_field(&host, "flavor"), "kakehashi");
    assert!(str_field(&host, "kernel").starts_with("Linux "), "{host:#}");
    assert!(str_field(&host, "memory_total").ends_with("kB"), "{host:#}");
    assert!(!str_field(&host, "socket_hostname").is_empty(), "{host:#}");

    // Ctrl-C stops everything in order and exits 0.
    let status = Command::new("kill")
        .args(["-INT", &demo.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = demo.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}\n{}", demo.output_tail(8000));
    let log = demo.stderr();
    assert!(log.contains("Shutdown complete."), "{log}");
}

#[test]
fn demo_print_config_is_a_valid_seed_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let out = kakehashi_command()
        .args(["demo", "--print-config", "--otlp-port", "24317"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("endpoint: 127.0.0.1:24317"), "{yaml}");
    let path = dir.path().join("demo.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let validate = kakehashi_command()
        .arg("validate")
        .arg(format!("--config={}", path.display()))
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
}
