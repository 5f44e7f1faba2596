//! The processors beyond the seed's, end to end through the binary with the Python SDK as
//! sender and the Python OTLP sink downstream: `resourcedetection` adds the collector's own
//! environment and host; `filter` drops metrics and data points by OTTL conditions.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// otlp (gRPC) → `processors` → otlphttp (the sink), for `signal`.
fn config(
    recv_grpc: u16,
    sink: &Sink,
    processors_yaml: &str,
    pipeline: &str,
    signal: &str,
) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv_grpc}
processors:
{processors_yaml}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{http}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    {signal}:
      receivers: [otlp]
      processors: [{pipeline}]
      exporters: [otlphttp]
"#,
        http = sink.http_port
    )
}

/// With `override: false` the SDK's `service.name` stays; the detected `host.name` is the
/// kernel's (`hostname_sources: [os]`); the collector's `OTEL_RESOURCE_ATTRIBUTES` arrive
/// query-unescaped.
#[test]
fn resource_detection_adds_the_collectors_environment_and_host() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-rd-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let processors = "  resourcedetection:\n    detectors: [env, system]\n    override: false\n    system:\n      hostname_sources: [os]";
    let config_path = dir.path().join("kakehashi.yaml");
    std::fs::write(
        &config_path,
        config(recv_grpc, &sink, processors, "resourcedetection", "traces"),
    )
    .unwrap();
    let mut cmd = Command::new(kakehashi_bin());
    cmd.arg("--config").arg(&config_path).env(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=prod-e2e,service.name=from-collector,k8s.cluster.name=c%2D1",
    );
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir.path());
    wait_for_port(recv_grpc, Duration::from_secs(20), Some(&mut collector));

    send_with_python_sdk(recv_grpc, "traces");
    let items = poll_until(Duration::from_secs(15), || {
        let items = sink_items(&sink, "traces");
        (items.len() == 3).then_some(items)
    })
    .unwrap_or_else(|| panic!("3 spans\n{}", collector.output_tail(4000)));
    let kernel_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for item in &items {
        let a = |k: &str| attr(&item.resource["attributes"], k).map(|v| v["stringValue"].clone());
        assert_eq!(a("deployment.environment").unwrap(), "prod-e2e");
        assert_eq!(a("k8s.cluster.name").unwrap(), "c-1");
        assert_eq!(
            a("service.name").unwrap(),
            "interop-test",
            "override: false"
        );
        assert_eq!(a("host.name").unwrap(), kernel_hostname.as_str());
        assert_eq!(a("os.type").unwrap(), "linux");
    }
    assert!(collector.stderr().contains("detected resource information"));
}

/// `metric_conditions` drop a whole metric (its context inferred from `metric.`) and single
/// data points (`datapoint.`): the SDK's gauge is gone, its counter keeps one route; then
/// `metric_statements` rename the metrics and label every data point.
#[test]
fn filter_and_transform_metrics() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-fm-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let processors = r#"  filter:
    metric_conditions:
      - 'metric.name == "interop.temperature"'
      - 'datapoint.attributes["route"] == "/b" and metric.type == METRIC_DATA_TYPE_SUM'
  transform:
    metric_statements:
      - 'replace_pattern(metric.name, "^interop\\.", "app.")'
      - 'set(datapoint.attributes["collector"], "kakehashi")'"#;
    let mut collector = start_kakehashi(
        dir.path(),
        "kakehashi",
        &config(recv_grpc, &sink, processors, "filter, transform", "metrics"),
        &[recv_grpc],
    );
    send_with_python_sdk(recv_grpc, "metrics");
    let items = poll_until(Duration::from_secs(15), || {
        let items = sink_items(&sink, "metrics");
        (!items.is_empty()).then_some(items)
    })
    .unwrap_or_else(|| panic!("metrics\n{}", collector.output_tail(4000)));
    let mut names: Vec<&str> = items
        .iter()
        .map(|i| i.item["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["app.latency", "app.queue_depth", "app.requests"]);
    let requests = items
        .iter()
        .find(|i| i.item["name"] == "app.requests")
        .unwrap();
    let routes: Vec<&str> = requests.item["sum"]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            attr(&p["attributes"], "route").unwrap()["stringValue"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(routes, ["/a"]);
    for item in &items {
        let data = ["sum", "gauge", "histogram"]
            .iter()
            .find_map(|k| item.item.get(*k))
            .unwrap();
        for point in data["dataPoints"].as_array().unwrap() {
            let collector = attr(&point["attributes"], "collector").unwrap();
            assert_eq!(collector["stringValue"], "kakehashi", "{point}");
        }
    }
    collector.assert_running();
}
