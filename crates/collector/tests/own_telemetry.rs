//! The collector's own logs (`service.telemetry.logs`) and the resource on its metrics
//! (`service.telemetry.resource`), as the binary writes them.
//!
//! * Sampling (otelcol's zap sampler) on a line that repeats once per request under a fault: a
//!   Datadog intake that is down, a sending queue of one request, and a client that keeps
//!   sending. Every refused request logs "Exporting failed. Rejecting data."; sampled, only the
//!   first lines and then one in `thereafter` are written, and turned off every one is.
//! * `encoding: json`: every line is one JSON object with zap's keys, the `initial_fields` and
//!   the collector's `resource`.
//! * The debug exporter's output through the collector's logger is data, and is never sampled.
//! * `output_paths`: every line goes to each output, files appended to; an output that cannot be
//!   opened stops the start with a message naming it.
//! * `resource`: every series on the Prometheus endpoint carries it as labels, with otelcol's
//!   defaults (`service_name`, `service_version`, `service_instance_id`) unless replaced or
//!   removed.

mod common;

use common::*;
use std::time::Duration;

const REJECTED: &str = "Exporting failed. Rejecting data.";
const REQUESTS: usize = 60;

fn config(grpc: u16, metrics: u16, dead_intake: u16, sampling: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  datadog:
    api:
      key: a1b2c3d4e5f60718293a4b5c6d7e8f90
    traces:
      endpoint: http://127.0.0.1:{dead_intake}
    metrics:
      endpoint: http://127.0.0.1:{dead_intake}
    host_metadata:
      enabled: false
    timeout: 1s
    retry_on_failure:
      initial_interval: 1h
      max_interval: 1h
      max_elapsed_time: 2h
    sending_queue:
      num_consumers: 1
      queue_size: 1
service:
  telemetry:
    logs:
{sampling}
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [datadog]
"#
    )
}

/// Runs the collector with `sampling` (lines under `logs:`), sends [`REQUESTS`] requests and
/// returns how many were refused and how many rejection lines were written.
fn refused_and_logged(sampling: &str) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics, dead_intake) = (free_port(), free_port(), free_port());
    let mut collector = start_kakehashi(
        dir.path(),
        "log-sampling",
        &config(grpc, metrics, dead_intake, sampling),
        &[grpc],
    );
    let uri = format!("http://127.0.0.1:{grpc}");
    let refused = (0..REQUESTS)
        .filter(|i| {
            grpc_export(
                &uri,
                trace_request(&format!("req-{i}"), 2),
                Duration::from_secs(5),
            )
            .is_err()
        })
        .count();
    collector.assert_running();
    // Lines are written before the reply is sent; a moment for the pipe to be read.
    std::thread::sleep(Duration::from_millis(300));
    let logged = strip_ansi(&collector.stderr()).matches(REJECTED).count();
    eprintln!("{sampling:?}: {refused} refused, {logged} lines");
    (refused, logged)
}

#[test]
fn a_repeated_line_is_sampled_as_configured_and_every_line_is_written_when_sampling_is_off() {
    // `enabled` left out: on, as otelcol's default; a tick longer than the test.
    let (refused, logged) = refused_and_logged(
        "      sampling:\n        initial: 5\n        thereafter: 20\n        tick: 1h",
    );
    // The consumer holds the first request and the queue the second; every later one is refused.
    assert!(refused >= REQUESTS - 3, "refused {refused} of {REQUESTS}");
    assert_eq!(
        logged,
        5 + (refused - 5) / 20,
        "sampled: the first 5, then every 20th of {refused} refusals"
    );

    let (refused, logged) = refused_and_logged("      sampling:\n        enabled: false");
    assert!(refused >= REQUESTS - 3, "refused {refused} of {REQUESTS}");
    assert_eq!(logged, refused, "unsampled: one line per refused request");
}

#[test]
fn json_lines_carry_zaps_keys_and_the_initial_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics, dead_intake) = (free_port(), free_port(), free_port());
    let logs = "      encoding: json\n      initial_fields:\n        cluster: ap1-prod";
    let mut collector = start_kakehashi(
        dir.path(),
        "json-logs",
        &config(grpc, metrics, dead_intake, logs),
        &[grpc],
    );
    const READY: &str = "Everything is ready. Begin running and processing data.";
    let stderr = poll_until(Duration::from_secs(10), || {
        let s = collector.stderr();
        s.contains(READY).then_some(s)
    })
    .unwrap_or_else(|| panic!("not ready\n{}", collector.output_tail(4000)));
    collector.assert_running();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        for key in ["level", "ts", "caller", "msg"] {
            assert!(line[key].is_string(), "{key} missing: {line}");
        }
        assert_eq!(line["cluster"], "ap1-prod", "{line}");
        // The collector's own resource, as otelcol ≥ 0.134 puts it on every line.
        let resource = &line["resource"];
        assert_eq!(resource["service.name"], "kakehashi", "{line}");
        assert_eq!(
            resource["service.version"],
            env!("CARGO_PKG_VERSION"),
            "{line}"
        );
        assert_eq!(
            resource["service.instance.id"].as_str().map(str::len),
            Some(36),
            "a UUID: {line}"
        );
    }
    let ready = lines.iter().find(|l| l["msg"] == READY).unwrap();
    assert_eq!(ready["level"], "info", "{ready}");
}

#[test]
fn debug_exporter_output_is_not_sampled() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  debug: {{}}
service:
  telemetry:
    logs:
      encoding: json
      sampling:
        initial: 2
        thereafter: 1000
        tick: 1h
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
    );
    let mut collector = start_kakehashi(dir.path(), "debug-unsampled", &config, &[grpc]);
    let uri = format!("http://127.0.0.1:{grpc}");
    const BATCHES: usize = 30;
    for i in 0..BATCHES {
        grpc_export(
            &uri,
            trace_request(&format!("b-{i}"), 2),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("request {i}: {e}"));
    }
    let traces_lines = |s: &str| {
        s.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["msg"] == "Traces" && l["spans"] == 2)
            .count()
    };
    let seen = poll_until(Duration::from_secs(10), || {
        let n = traces_lines(&collector.stderr());
        (n >= BATCHES).then_some(n)
    });
    collector.assert_running();
    assert_eq!(
        seen,
        Some(BATCHES),
        "one line per batch despite `initial: 2`\n{}",
        collector.output_tail(3000)
    );
}

#[test]
fn lines_go_to_every_output_and_an_output_that_cannot_be_opened_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics, dead_intake) = (free_port(), free_port(), free_port());
    let file = dir.path().join("collector.log");
    std::fs::write(&file, "kept from before\n").unwrap();
    let logs = format!(
        "      encoding: json\n      output_paths: [stderr, \"file://{}\"]",
        file.display()
    );
    let mut collector = start_kakehashi(
        dir.path(),
        "file-logs",
        &config(grpc, metrics, dead_intake, &logs),
        &[grpc],
    );
    const READY: &str = "Everything is ready. Begin running and processing data.";
    let in_file = poll_until(Duration::from_secs(10), || {
        let s = std::fs::read_to_string(&file).unwrap();
        s.contains(READY).then_some(s)
    })
    .unwrap_or_else(|| panic!("not in the file\n{}", collector.output_tail(4000)));
    collector.assert_running();
    assert!(
        in_file.starts_with("kept from before\n"),
        "appended: {in_file}"
    );
    let file_lines: Vec<&str> = in_file.lines().skip(1).collect();
    let stderr = collector.stderr();
    let stderr_lines: Vec<&str> = stderr.lines().take(file_lines.len()).collect();
    assert_eq!(file_lines, stderr_lines, "the same lines in both outputs");

    let unopenable = dir.path().join("no-such-dir").join("x.log");
    let broken = config(
        free_port(),
        free_port(),
        dead_intake,
        &format!("      output_paths: [\"{}\"]", unopenable.display()),
    );
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config").arg(&path);
    let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(20));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("failed to get logger: cannot open the log output")
            && stderr.contains("no-such-dir"),
        "{stderr}"
    );
}

#[test]
fn the_resource_labels_every_series_of_the_prometheus_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics, dead_intake) = (free_port(), free_port(), free_port());
    let config = config(grpc, metrics, dead_intake, "      level: info").replace(
        "service:\n  telemetry:\n",
        "service:\n  telemetry:\n    resource:\n      service.name: otelcol-contrib\n      service.version: null\n      k8s.pod.name: collector-0\n",
    );
    assert!(config.contains("k8s.pod.name"), "{config}");
    let mut collector = start_kakehashi(dir.path(), "resource", &config, &[grpc, metrics]);
    let body = http_body(&http_get(metrics, "/metrics")).to_owned();
    collector.assert_running();
    let series: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(series.len() > 5, "{body}");
    let instance = series
        .iter()
        .find_map(|l| l.split("service_instance_id=\"").nth(1)?.split('"').next())
        .expect("service_instance_id");
    assert_eq!(instance.len(), 36, "a UUID: {instance}");
    for l in &series {
        for label in [
            "service_name=\"otelcol-contrib\"",
            "k8s_pod_name=\"collector-0\"",
            &format!("service_instance_id=\"{instance}\""),
        ] {
            assert!(l.contains(label), "{label} missing: {l}");
        }
        assert!(!l.contains("service_version"), "removed by null: {l}");
    }
    assert!(
        series.iter().any(|l| l.starts_with("target_info{")),
        "{body}"
    );
}

/// Every processor reports the items it was given and the items it passed on, as otelcol's
/// processorhelper does: a filter dropping one span of four shows 4 in, 3 out.
#[test]
fn processors_report_their_incoming_and_outgoing_items() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, metrics) = (free_port(), free_port());
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  filter/one:
    traces:
      span:
        - name == "items-2"
  resource:
    attributes:
      - {{key: env, value: test, action: upsert}}
exporters:
  nop:
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter/one, resource]
      exporters: [nop]
"#
    );
    let mut collector = start_kakehashi(dir.path(), "items", &config, &[grpc, metrics]);
    grpc_export(
        &format!("http://127.0.0.1:{grpc}"),
        trace_request("items", 4),
        Duration::from_secs(5),
    )
    .expect("exported");
    let body = http_body(&http_get(metrics, "/metrics")).to_owned();
    collector.assert_running();
    for (series, value) in [
        (
            "otelcol_processor_incoming_items{otel_signal=\"traces\",processor=\"filter/one\"",
            4,
        ),
        (
            "otelcol_processor_outgoing_items{otel_signal=\"traces\",processor=\"filter/one\"",
            3,
        ),
        (
            "otelcol_processor_incoming_items{otel_signal=\"traces\",processor=\"resource\"",
            3,
        ),
        (
            "otelcol_processor_outgoing_items{otel_signal=\"traces\",processor=\"resource\"",
            3,
        ),
    ] {
        let line = body
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} missing:\n{body}"));
        assert!(line.ends_with(&format!(" {value}")), "{line}");
    }
}
