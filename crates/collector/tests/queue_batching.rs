//! Exporter-side batching (`sending_queue::batch`) through the binary: small OTLP/gRPC requests
//! reach the Python OTLP sink merged up to `min_size`, cut at `max_size`, and a batch below
//! `min_size` goes out after `flush_timeout`.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn the_sending_queue_merges_and_cuts_requests_into_batches() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-qb-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let config = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv_grpc}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{http}
    sending_queue:
      batch:
        min_size: 10
        max_size: 12
        flush_timeout: 1s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
"#,
        http = sink.http_port
    );
    let mut collector = start_kakehashi(dir.path(), "kakehashi", &config, &[recv_grpc]);
    let uri = format!("http://127.0.0.1:{recv_grpc}");
    let send = |n: usize| grpc_export(&uri, trace_request("qb", n), Duration::from_secs(5));

    // 4 + 4 is below min_size; the third request makes 12: one batch.
    for _ in 0..3 {
        send(4).expect("accepted");
    }
    let requests = |want: usize| {
        poll_until(Duration::from_secs(10), || {
            let recs = sink.records_of("traces");
            (recs.len() >= want).then_some(recs)
        })
        .unwrap_or_else(|| {
            panic!(
                "{want} requests at the sink\n{}",
                collector.output_tail(4000)
            )
        })
    };
    let spans_per_request = |recs: &[serde_json::Value]| -> Vec<usize> {
        recs.iter()
            .map(|r| flatten("traces", r.get("request")).len())
            .collect()
    };
    assert_eq!(spans_per_request(&requests(1)), vec![12]);

    // 30 spans in one request: cut at 12, and the last 6 (below min_size) follow after 1s.
    send(30).expect("accepted");
    let recs = requests(4);
    let mut sizes = spans_per_request(&recs);
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        vec![6, 12, 12, 12],
        "in any order: batches export concurrently"
    );
    sink.assert_no_errors();
    collector.assert_running();
    let shutdown = collector.terminate(Duration::from_secs(10));
    assert!(!shutdown.contains("Dropping data"), "{shutdown}");
}
