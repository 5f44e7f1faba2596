//! Connectors end to end through the binary, the Python SDK as sender and the Python OTLP sink
//! downstream: `forward` feeds two pipelines from one, keeps signals apart, and nothing held
//! upstream of it is lost at shutdown.

mod common;

use common::*;
use std::time::Duration;

fn forward_config(recv_grpc: u16, sink: &Sink) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv_grpc}
processors:
  # Holds everything until shutdown: the flush must still pass through the connector and the
  # pipelines behind it.
  batch/hold:
    timeout: 1h
    send_batch_size: 10000
  # Behind the connector: must still take the upstream flush, so it shuts down after it.
  batch:
  attributes/in:
    actions: [{{key: stage.in, value: "yes", action: insert}}]
  attributes/main:
    actions: [{{key: branch, value: main, action: insert}}]
  attributes/copy:
    actions: [{{key: branch, value: copy, action: insert}}]
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{http}
connectors:
  forward:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces/in:
      receivers: [otlp]
      processors: [attributes/in, batch/hold]
      exporters: [forward]
    traces/main:
      receivers: [forward]
      processors: [attributes/main, batch]
      exporters: [otlphttp]
    traces/copy:
      receivers: [forward]
      processors: [attributes/copy]
      exporters: [otlphttp]
    logs:
      receivers: [otlp]
      exporters: [forward]
    logs/out:
      receivers: [forward]
      exporters: [otlphttp]
"#,
        http = sink.http_port
    )
}

#[test]
fn forward_branches_one_pipeline_into_two_and_flushes_through_at_shutdown() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-forward-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let mut collector = start_kakehashi(
        dir.path(),
        "kakehashi",
        &forward_config(recv_grpc, &sink),
        &[recv_grpc],
    );
    send_with_python_sdk(recv_grpc, "traces");
    send_with_python_sdk(recv_grpc, "logs");

    // Logs are not held: they pass the logs→logs forward at once, and never enter a traces
    // pipeline.
    let logs = poll_until(Duration::from_secs(15), || {
        let l = sink_items(&sink, "logs");
        (!l.is_empty()).then_some(l)
    })
    .unwrap_or_else(|| panic!("no logs\n{}", collector.output_tail(4000)));
    for l in &logs {
        assert!(
            attr(&l.item["attributes"], "branch").is_none(),
            "{}",
            l.item
        );
    }
    assert!(
        sink.records_of("traces").is_empty(),
        "spans passed batch/hold before shutdown"
    );

    collector.terminate(Duration::from_secs(30));

    sink.assert_no_errors();
    let spans = sink_items(&sink, "traces");
    let mut branches: Vec<(String, String)> = spans
        .iter()
        .map(|s| {
            let a = &s.item["attributes"];
            assert_eq!(
                attr(a, "stage.in").unwrap()["stringValue"],
                "yes",
                "{}",
                s.item
            );
            (
                s.item["spanId"].as_str().unwrap().to_owned(),
                attr(a, "branch").unwrap()["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    branches.sort();
    assert_eq!(spans.len(), 6, "3 spans, each through both branches");
    for pair in branches.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!((pair[0].1.as_str(), pair[1].1.as_str()), ("copy", "main"));
    }
}
