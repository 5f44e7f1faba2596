//! The persistent sending queue end to end (`file_storage` + `sending_queue::storage`), with the
//! datadog exporter and a Datadog intake double on 127.0.0.1:
//!
//! * the intake is down, spans are acknowledged (so they are on disk), the collector is killed
//!   with SIGKILL and started again, the intake comes up: every span id arrives;
//! * a garbage queue file at start is set aside with an error log, and new data flows.

mod common;

use common::dd_intake::FakeIntake;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn config(recv: u16, metrics: u16, intake: u16, queue_dir: &Path) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv}
exporters:
  datadog:
    api:
      key: {API_KEY}
    traces:
      endpoint: http://127.0.0.1:{intake}
    metrics:
      endpoint: http://127.0.0.1:{intake}
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 500ms
      max_elapsed_time: 0s
    sending_queue:
      storage: file_storage/queue
      num_consumers: 2
extensions:
  file_storage/queue:
    directory: {dir}
    create_directory: true
service:
  extensions: [file_storage/queue]
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
      exporters: [datadog]
"#,
        dir = queue_dir.display()
    )
}

/// Sends `requests` requests of `spans` spans each; every one must be acknowledged. Returns the
/// span ids sent.
fn send(recv: u16, requests: usize, spans: usize) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for i in 0..requests {
        let req = trace_request(&format!("pq-{i}"), spans);
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    ids.insert(u64::from_be_bytes(s.span_id.clone().try_into().unwrap()));
                }
            }
        }
        grpc_export(
            &format!("http://127.0.0.1:{recv}"),
            req,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("request {i} refused: {e}"));
    }
    ids
}

fn received(intake: &FakeIntake) -> BTreeSet<u64> {
    intake.accepted_spans().iter().map(|s| s.span_id).collect()
}

fn output(p: &ProcessGuard) -> String {
    format!("{}{}", p.stdout(), p.stderr())
}

#[test]
fn spans_acknowledged_before_a_kill_9_are_delivered_after_restart() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-pq-")
        .tempdir()
        .unwrap();
    let queue_dir = dir.path().join("queue");
    let (recv, metrics, intake_port) = (free_port(), free_port(), free_port());
    let cfg = config(recv, metrics, intake_port, &queue_dir);

    // The intake is down: everything acknowledged now exists only in the queue file.
    let mut first = start_kakehashi(dir.path(), "kakehashi-1", &cfg, &[recv]);
    let sent = send(recv, 30, 10);
    assert_eq!(sent.len(), 300);
    std::thread::sleep(Duration::from_millis(300)); // let the workers retry a few times
    let killed = Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    first.wait_exit(Duration::from_secs(5));

    let second = start_kakehashi(dir.path(), "kakehashi-2", &cfg, &[recv]);
    let intake = FakeIntake::start_on(intake_port);
    let all = poll_until(Duration::from_secs(20), || {
        received(&intake).is_superset(&sent).then_some(())
    });
    let got = received(&intake);
    assert!(
        all.is_some(),
        "lost {} of {} spans\n{}",
        sent.difference(&got).count(),
        sent.len(),
        second.output_tail(4000)
    );
    let log = output(&second);
    assert!(
        log.contains("Resuming the persistent queue"),
        "the restart should resume the queue\n{log}"
    );
}

#[test]
fn a_garbage_queue_file_is_set_aside_and_new_data_flows() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-pq-")
        .tempdir()
        .unwrap();
    let queue_dir = dir.path().join("queue");
    std::fs::create_dir(&queue_dir).unwrap();
    let file = queue_dir.join("exporter_datadog__traces.sqlite");
    std::fs::write(
        &file,
        b"this is not a database, just a torn write".repeat(100),
    )
    .unwrap();
    let intake = FakeIntake::start();
    let (recv, metrics) = (free_port(), free_port());
    let cfg = config(recv, metrics, intake.port, &queue_dir);

    let collector = start_kakehashi(dir.path(), "kakehashi", &cfg, &[recv]);
    let sent = send(recv, 3, 5);
    let all = poll_until(Duration::from_secs(15), || {
        received(&intake).is_superset(&sent).then_some(())
    });
    assert!(all.is_some(), "{}", collector.output_tail(4000));
    let log = output(&collector);
    assert!(
        log.contains("Persistent queue file is damaged"),
        "an error log names the damaged file\n{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(&queue_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("exporter_datadog__traces.sqlite.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept aside");
}
