//! The seed pipeline end to end, with the Python SDK as sender and the Python OTLP sink in place of
//! Datadog: `resource` insert semantics, the batch processor's 10/100/20s numbers, and that
//! SIGTERM flushes every pending span (otelcol flushes only one chunk).

mod common;

use common::*;
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

    send_with_python_sdk(recv_grpc, "traces");

    // 3 spans < send_batch_size 10: the batch processor holds them for up to 20 s.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        sink.records_of("traces").is_empty(),
        "spans left before the 20 s batch timeout"
    );

    // SIGTERM: everything pending leaves before the process exits, and it exits 0.
    collector.terminate(Duration::from_secs(15));
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
