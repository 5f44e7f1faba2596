//! The `datadog` connector end to end through the binary, with the Python SDK as sender and the
//! Datadog intake double: the configurations Datadog's documentation gives for it. The stats are
//! computed once, from every span, and sent to `/api/v0.2/stats` by the exporter's metrics side;
//! the exporter does not count the same spans again.

mod common;

use common::dd_intake::{get, grouped_stats, FakeIntake};
use common::*;
use std::process::Command;
use std::time::Duration;

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// Runs kakehashi with `pipelines` (the `service::pipelines` body) and a `datadog/connector`:
/// the six web spans (one the application drops), then SIGTERM. The intake and the output.
fn run(pipelines: &str) -> (FakeIntake, String) {
    run_with(pipelines, &[], &[])
}

/// [`run`] with extra command-line arguments for the collector and environment for the sender.
fn run_with(pipelines: &str, args: &[&str], sender_env: &[(&str, &str)]) -> (FakeIntake, String) {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-ddconn-")
        .tempdir()
        .unwrap();
    let intake = FakeIntake::start();
    let recv = free_port();
    let mut collector = start(dir.path(), &intake, recv, pipelines, args);
    let output = send_and_stop(recv, &mut collector, sender_env);
    (intake, output)
}

fn start(
    dir: &std::path::Path,
    intake: &FakeIntake,
    recv: u16,
    pipelines: &str,
    args: &[&str],
) -> ProcessGuard {
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv}
processors:
  batch:
  probabilistic_sampler:
    sampling_percentage: 0
  tail_sampling:
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
connectors:
  datadog/connector:
exporters:
  datadog:
    api:
      key: ${{env:DD_API_KEY}}
    traces:
      endpoint: {url}
    metrics:
      endpoint: {url}
    hostname: e2e-collector
    host_metadata:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
  pipelines:
{pipelines}"#,
        url = intake.url()
    );
    let path = dir.join("kakehashi.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(&path)
        .args(args)
        .env("DD_API_KEY", API_KEY);
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir);
    wait_for_port(recv, Duration::from_secs(20), Some(&mut collector));
    collector
}

/// Sends the six web spans, then SIGTERM; a clean exit, the key never printed.
fn send_and_stop(recv: u16, collector: &mut ProcessGuard, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(python());
    cmd.envs(env.iter().copied());
    cmd.arg(python_script("send_web_traces.py")).args([
        "--endpoint",
        &format!("127.0.0.1:{recv}"),
        "--user-drop",
    ]);
    let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(120));
    assert!(status.success(), "send_web_traces.py failed: {stderr}");
    let output = collector.terminate(Duration::from_secs(40));
    assert!(!output.contains(API_KEY), "the API key leaked");
    output
}

fn key(svc: &str, name: &str, res: &str) -> (String, String, String) {
    (svc.to_string(), name.to_string(), res.to_string())
}

/// Every span once in the stats, whatever happened to the traces.
fn assert_every_span_counted_once(intake: &FakeIntake) {
    let stats = grouped_stats(&intake.accepted_stats());
    for (name, res, errors) in [
        ("http.server.request", "GET /health", 0),
        ("http.server.request", "POST /checkout", 1),
        ("http.server.request", "GET /admin", 0),
    ] {
        assert_eq!(
            stats.get(&key("e2e-web", name, res)),
            Some(&(1, errors, 1)),
            "{res}: {stats:#?}"
        );
    }
    assert_eq!(
        stats.get(&key(
            "e2e-web",
            "postgresql.query",
            "SELECT * FROM users WHERE id = ?"
        )),
        Some(&(1, 0, 0)),
        "client span by span kind, SQL obfuscated: {stats:#?}"
    );
    for p in intake.accepted_stats() {
        let version = get(&p, "AgentVersion").and_then(|v| v.as_str());
        assert_eq!(version, Some("datadogexporter-kakehashi-0.1.0"));
        // Sent as the Go exporter's agent sends client-computed stats: under its own host.
        let host = get(&p, "AgentHostname").and_then(|v| v.as_str());
        assert_eq!(host, Some("e2e-collector"));
        let client_computed = get(&p, "ClientComputed").and_then(|v| v.as_bool());
        assert_eq!(client_computed, Some(true));
    }
}

#[test]
fn the_documented_setup_sends_traces_and_stats_computed_once() {
    let (intake, output) = run(r#"    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [datadog/connector, datadog]
    metrics:
      receivers: [datadog/connector]
      processors: [batch]
      exporters: [datadog]
"#);
    // The traces as without the connector (the dropped one is not sent).
    let spans = intake.accepted_spans();
    assert_eq!(spans.len(), 5, "{spans:?}");
    assert_every_span_counted_once(&intake);
    assert!(
        output.contains("Feature gate exporter.datadogexporter.DisableAPMStats enabled"),
        "{output}"
    );
}

#[test]
fn stats_count_the_spans_a_sampler_behind_the_connector_drops() {
    let (intake, output) = run(r#"    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [datadog/connector]
    traces/sampled:
      receivers: [datadog/connector]
      processors: [probabilistic_sampler]
      exporters: [datadog]
    metrics:
      receivers: [datadog/connector]
      exporters: [datadog]
"#);
    assert!(!output.contains("ERROR"), "{output}");
    assert!(intake.accepted_spans().is_empty(), "sampled at 0 %");
    assert_every_span_counted_once(&intake);
}

/// Datadog's documented tail-sampling setup: the connector counts every span, `tail_sampling`
/// behind it keeps the trace with an error. The collector stops long before the default 30 s
/// `decision_wait`, so the pending traces are decided at shutdown.
#[test]
fn stats_count_every_span_and_tail_sampling_keeps_the_error_trace() {
    let (intake, output) = run(r#"    traces:
      receivers: [otlp]
      exporters: [datadog/connector]
    traces/sampled:
      receivers: [datadog/connector]
      processors: [tail_sampling, batch]
      exporters: [datadog]
    metrics:
      receivers: [datadog/connector]
      exporters: [datadog]
"#);
    assert!(!output.contains("ERROR"), "{output}");
    let spans = intake.accepted_spans();
    let resources: Vec<&str> = spans.iter().map(|s| s.resource.as_str()).collect();
    assert_eq!(resources, vec!["POST /checkout"], "{spans:?}");
    assert_every_span_counted_once(&intake);
}

#[test]
fn a_gate_switched_off_by_the_user_stays_off_and_both_count() {
    let (intake, output) = run_with(
        r#"    traces:
      receivers: [otlp]
      exporters: [datadog/connector, datadog]
    metrics:
      receivers: [datadog/connector]
      exporters: [datadog]
"#,
        &["--feature-gates=-exporter.datadogexporter.DisableAPMStats"],
        &[],
    );
    assert!(
        output.contains(
            "Feature gate exporter.datadogexporter.DisableAPMStats stays disabled as asked"
        ),
        "{output}"
    );
    // As the Go collector with that gate off: the exporter and the connector both count.
    let stats = grouped_stats(&intake.accepted_stats());
    assert_eq!(
        stats.get(&key("e2e-web", "http.server.request", "GET /health")),
        Some(&(2, 0, 2)),
        "{stats:#?}"
    );
}

#[test]
fn spans_whose_tracer_computed_the_stats_are_left_out() {
    // The tracer says it computed its stats (`_dd.stats_computed` on the resource): neither the
    // exporter nor the connector counts its spans again; the traces still arrive.
    let tracer_stats = [("OTEL_RESOURCE_ATTRIBUTES", "_dd.stats_computed=true")];
    for pipelines in [
        "    traces:\n      receivers: [otlp]\n      exporters: [datadog]\n",
        "    traces:\n      receivers: [otlp]\n      exporters: [datadog/connector, datadog]\n    metrics:\n      receivers: [datadog/connector]\n      exporters: [datadog]\n",
    ] {
        let (intake, _) = run_with(pipelines, &[], &tracer_stats);
        assert_eq!(intake.accepted_spans().len(), 5, "{pipelines}");
        let stats = grouped_stats(&intake.accepted_stats());
        assert!(stats.is_empty(), "{pipelines}: {stats:#?}");
    }
    // Without the attribute the exporter alone counts them (the control).
    let (intake, _) = run_with(
        "    traces:\n      receivers: [otlp]\n      exporters: [datadog]\n",
        &[],
        &[],
    );
    assert!(!grouped_stats(&intake.accepted_stats()).is_empty());
}
