//! The seed pipeline end to end, with the Python SDK as sender and the Python OTLP sink in place of
//! Datadog: `resource` insert semantics, the batch processor's 10/100/20s numbers, and that
//! SIGTERM flushes every pending span (otelcol flushes only one chunk).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn seed_config(recv_grpc: u16, sink: &Sink) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv_grpc}
processors:
  batch/datadog:
    send_batch_size: 10
    send_batch_max_size: 100
    timeout: 20s
  resource:
    attributes:
      - key: service.name
        action: insert
        value: vote-app
      - key: env
        action: insert
        value: staging
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{}
service:
  telemetry:
    logs:
      level: debug
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, batch/datadog]
      exporters: [otlphttp]
"#,
        sink.http_port
    )
}

/// The Python SDK's three spans (tests/python/send.py) over OTLP/gRPC.
fn send_three_spans(recv_grpc: u16) {
    let mut cmd = Command::new(python());
    cmd.arg(python_script("send.py")).args([
        "--protocol",
        "grpc",
        "--endpoint",
        &format!("http://127.0.0.1:{recv_grpc}"),
        "--signal",
        "traces",
    ]);
    let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(60));
    assert!(status.success(), "send.py failed: {stderr}");
}

#[test]
fn seed_pipeline_holds_small_batches_and_flushes_all_on_sigterm() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-seed-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let mut collector = start_kakehashi(
        dir.path(),
        "kakehashi",
        &seed_config(recv_grpc, &sink),
        &[recv_grpc],
    );

    send_three_spans(recv_grpc);

    // 3 spans < send_batch_size 10: the batch processor holds them for up to 20 s.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        sink.records_of("traces").is_empty(),
        "spans left before the 20 s batch timeout"
    );

    // SIGTERM: everything pending leaves before the process exits, and it exits 0.
    let killed = Command::new("kill")
        .args(["-TERM", &collector.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = collector.wait_exit(Duration::from_secs(15));
    assert!(
        exit.success(),
        "exit {exit:?}\n{}",
        collector.output_tail(4000)
    );
    let log = collector.stderr();
    for line in [
        "Received signal from OS",
        "Starting shutdown...",
        "Shutdown complete.",
    ] {
        assert!(log.contains(line), "missing log line {line:?}:\n{log}");
    }

    sink.assert_no_errors();
    let items = sink_items(&sink, "traces");
    assert_eq!(items.len(), 3, "all pending spans flushed on SIGTERM");
    for item in &items {
        // `insert` never overwrites the SDK's service.name; `env` was absent, so it is added.
        let service = attr(&item.resource["attributes"], "service.name").unwrap();
        assert_eq!(service["stringValue"], "interop-test");
        let env = attr(&item.resource["attributes"], "env").unwrap();
        assert_eq!(env["stringValue"], "staging");
    }
}

/// `resourcedetection` with `env` and `system` in front of the seed's processors: the
/// collector's own `OTEL_RESOURCE_ATTRIBUTES` and its host's name reach every resource; with
/// `override: false` the SDK's `service.name` stays, and the detected `host.name` is the
/// kernel's (`hostname_sources: [os]`).
#[test]
fn resource_detection_adds_the_collectors_environment_and_host() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-rd-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let config = seed_config(recv_grpc, &sink)
        .replace(
            "processors:\n",
            "processors:\n  resourcedetection:\n    detectors: [env, system]\n    override: false\n    system:\n      hostname_sources: [os]\n",
        )
        .replace(
            "processors: [resource, batch/datadog]",
            "processors: [resourcedetection, resource, batch/datadog]",
        )
        .replace("send_batch_size: 10\n", "send_batch_size: 1\n");
    let config_path = dir.path().join("kakehashi.yaml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(kakehashi_bin());
    cmd.arg("--config").arg(&config_path).env(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=prod-e2e,service.name=from-collector,k8s.cluster.name=c%2D1",
    );
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir.path());
    wait_for_port(recv_grpc, Duration::from_secs(20), Some(&mut collector));

    send_three_spans(recv_grpc);
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
        assert_eq!(
            a("env").unwrap(),
            "staging",
            "the resource processor still runs after"
        );
    }
    let log = collector.stderr();
    assert!(log.contains("detected resource information"), "{log}");
}
