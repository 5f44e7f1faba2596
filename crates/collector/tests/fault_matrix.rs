//! The fault matrix (docs/reliability.md, "Fault matrix"): OTLP load from the loadgen through
//! kakehashi (otlp → [batch] → datadog) into the counting Datadog sink, with one fault injected
//! mid-run per case, once with the persistent queue and once with the in-memory queue. Every span
//! id is unique, so the sink tells what arrived once, twice or never.
//!
//! * persistent queue: 0 lost, in every case (duplicates allowed and counted);
//! * in-memory queue: 0 lost unless the queue overflows; the overflow case loses spans on
//!   purpose and every one of them must be counted in `otelcol_exporter_send_failed_spans` and
//!   logged. Spans refused to the client are not lost: the client knows, and the loadgen resends
//!   them as an SDK would.
//!
//! The table goes to `target/fault-matrix.md`:
//! `cargo test -p kakehashi-collector --test fault_matrix -- --nocapture`.

mod common;

use common::fault::*;
use common::*;
use kakehashi_loadgen::cli::Protocol;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// Offered load: modest, so the debug-built collector keeps up on two shared cores.
const RATE: u64 = 2_000;
const LOAD_FOR: Duration = Duration::from_secs(4);
/// The fault starts this long into the load and lasts `FAULT_FOR`.
const FAULT_AT: Duration = Duration::from_millis(1_000);
const FAULT_FOR: Duration = Duration::from_millis(2_000);
/// The exporter's per-request timeout (the "hang" case holds requests longer).
const EXPORT_TIMEOUT: &str = "1s";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Persistent,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The intake answers this status (with `Retry-After: 1` on 429/503).
    Status(u16),
    /// The intake holds every request longer than the exporter's timeout.
    Hang,
    /// Nothing listens on the intake's port; it comes back on the same port.
    Down,
    /// The intake resets every connection.
    Reset,
    /// The intake answers 503, so acknowledged spans wait in the queue; meanwhile the collector
    /// is killed with SIGKILL; it is started again, then the intake recovers.
    Kill9,
    /// A long 503 outage with a two-request queue and a 1 s retry budget: spans are dropped.
    Overflow,
}

impl Fault {
    fn describe(self) -> String {
        match self {
            Fault::Status(s @ (429 | 503)) => format!("intake {s} + Retry-After"),
            Fault::Status(s) => format!("intake {s}"),
            Fault::Hang => "intake hangs > timeout".into(),
            Fault::Down => "intake down, back on same port".into(),
            Fault::Reset => "intake resets connections".into(),
            Fault::Kill9 => "collector kill -9 during intake 503, restart".into(),
            Fault::Overflow => "queue overflow (2 requests, 1 s retry budget)".into(),
        }
    }
}

struct Row {
    fault: Fault,
    case: String,
    queue: Queue,
    sent: u64,
    accepted: u64,
    refused_to_client: u64,
    received: u64,
    duplicated: u64,
    lost: u64,
    counted_dropped: u64,
    /// Requests the exporter resent to the intake: proof that the fault was felt.
    retries: u64,
    peak_rss_mb: f64,
    seconds: f64,
}

fn config(queue: Queue, fault: Fault, recv: u16, metrics: u16, intake: u16, dir: &Path) -> String {
    let overflow = fault == Fault::Overflow;
    // Acknowledged means on disk only with nothing holding data in memory before the exporter:
    // no batch processor in front of a persistent queue. The in-memory rows keep the seed's
    // batch processor (what is lost there in a crash is lost anyway).
    let processors = if queue == Queue::Memory && !overflow {
        "[batch]"
    } else {
        "[]"
    };
    let max_elapsed = match (queue, overflow) {
        (_, true) => "1s",
        (Queue::Persistent, _) => "0s",
        (Queue::Memory, _) => "60s",
    };
    let sending_queue = match (queue, overflow) {
        (Queue::Persistent, _) => "storage: file_storage\n      num_consumers: 2".to_string(),
        (Queue::Memory, true) => "queue_size: 2\n      num_consumers: 1".to_string(),
        (Queue::Memory, false) => "num_consumers: 2".to_string(),
    };
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv}
processors:
  batch:
    send_batch_size: 500
    timeout: 200ms
exporters:
  datadog:
    api:
      key: {API_KEY}
    traces:
      endpoint: http://127.0.0.1:{intake}
    metrics:
      endpoint: http://127.0.0.1:{intake}
    host_metadata:
      enabled: false
    timeout: {EXPORT_TIMEOUT}
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 500ms
      max_elapsed_time: {max_elapsed}
    sending_queue:
      {sending_queue}
extensions:
  file_storage:
    directory: {dir}
    create_directory: true
service:
  extensions: [file_storage]
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
      processors: {processors}
      exporters: [datadog]
"#,
        dir = dir.join("queue").display()
    )
}

fn run_case(rt: &tokio::runtime::Runtime, queue: Queue, fault: Fault, seed: u64) -> Row {
    let started = Instant::now();
    let tag = format!("{fault:?}-{queue:?}")
        .to_lowercase()
        .replace(['(', ')'], "");
    let dir = tempfile::Builder::new()
        .prefix(&format!("kakehashi-fm-{tag}-"))
        .tempdir()
        .unwrap();
    let (recv, metrics, intake_port) = (free_port(), free_port(), free_port());
    let cfg = config(queue, fault, recv, metrics, intake_port, dir.path());
    let mut intake = Intake::start(rt, intake_port);
    let mut collector = start_kakehashi(dir.path(), &format!("{tag}-1"), &cfg, &[recv, metrics]);
    let mut peak_kb = 0;

    let load = Load {
        protocol: Protocol::Grpc,
        rate: RATE,
        connections: 4,
        duration: LOAD_FOR,
        seed,
        retry_for: Duration::from_secs(30),
    };
    let loadgen = start_load(rt, recv, &load);
    std::thread::sleep(FAULT_AT);
    match fault {
        Fault::Status(s) => {
            let retry_after = if matches!(s, 429 | 503) { 1 } else { 0 };
            intake.control(&format!(
                r#"{{"status": {s}, "retry_after_s": {retry_after}}}"#
            ));
        }
        Fault::Hang => intake.control(r#"{"delay_ms": 3000}"#),
        Fault::Reset => intake.control(r#"{"reset": true}"#),
        Fault::Down => intake.down(rt),
        Fault::Overflow => intake.control(r#"{"status": 503}"#),
        Fault::Kill9 => {
            intake.control(r#"{"status": 503}"#);
            std::thread::sleep(FAULT_FOR / 2);
            peak_kb = proc_status_kb(collector.pid(), "VmHWM");
            kill_9(&mut collector);
        }
    }
    let fault_for = match fault {
        Fault::Overflow => FAULT_FOR * 2,
        Fault::Kill9 => FAULT_FOR / 2,
        _ => FAULT_FOR,
    };
    std::thread::sleep(fault_for);
    match fault {
        Fault::Down => intake.up(rt),
        Fault::Kill9 => {
            collector = start_kakehashi(dir.path(), &format!("{tag}-2"), &cfg, &[recv, metrics]);
            intake.control(r#"{"status": 0}"#);
        }
        _ => intake.control(r#"{"status": 0}"#),
    }
    let report = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), loadgen).await })
        .expect("the loadgen finishes (its grace period is 10 s)")
        .expect("the loadgen task")
        .expect("the loadgen runs");

    let accepted = report.accepted_spans;
    let counts = settle(
        &intake,
        Duration::from_secs(30),
        Duration::from_secs(3),
        |c| c["unique_spans"].as_u64().unwrap_or(0) >= accepted,
    );
    peak_kb = peak_kb.max(proc_status_kb(collector.pid(), "VmHWM"));
    let send_failed = metric_sum(metrics, "otelcol_exporter_send_failed_spans");
    let received = counts["unique_spans"].as_u64().unwrap_or(0);
    let row = Row {
        fault,
        case: fault.describe(),
        queue,
        sent: report.sent_spans,
        accepted,
        refused_to_client: report.refused_spans + report.failed_spans,
        received,
        duplicated: counts["duplicate_spans"].as_u64().unwrap_or(0),
        lost: accepted.saturating_sub(received),
        counted_dropped: send_failed,
        retries: metric_sum(metrics, "kakehashi_datadog_retries"),
        peak_rss_mb: peak_kb as f64 / 1024.0,
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut resumed = 0;
    if fault == Fault::Kill9 {
        // What the killed process had acknowledged but not delivered was on disk.
        let log = common::strip_ansi(&collector.stderr());
        resumed = logged_sum(&log, "Resuming the persistent queue", "items");
        assert!(resumed > 0, "the restart resumes the queue\n{log}");
    }
    if fault == Fault::Overflow {
        let log = common::strip_ansi(&format!("{}{}", collector.stdout(), collector.stderr()));
        let logged = logged_sum(&log, "Exporting failed. Dropping data.", "dropped_items");
        assert_eq!(
            logged, row.lost,
            "every dropped span is logged (dropped_items) in {}",
            row.case
        );
    }
    intake.down(rt);
    eprintln!(
        "fault matrix: {:<45} {:<10} sent {:>6} accepted {:>6} received {:>6} dup {:>5} lost {:>5} counted {:>5} retries {:>4} rss {:>6.1} MB ({:.1} s) resumed from disk {resumed} client latency p99/max {:?}/{:?} ms errors {:?}",
        row.case,
        format!("{queue:?}"),
        row.sent,
        row.accepted,
        row.received,
        row.duplicated,
        row.lost,
        row.counted_dropped,
        row.retries,
        row.peak_rss_mb,
        row.seconds,
        report.latency_ms.p99,
        report.latency_ms.max,
        report.errors
    );
    row
}

/// The sum of the numeric field `key=` over the log lines that contain `message`.
fn logged_sum(log: &str, message: &str, key: &str) -> u64 {
    let key = format!(" {key}=");
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| {
            let v = l.split(key.as_str()).nth(1)?;
            v.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn table(rows: &[Row], total: Duration) -> String {
    let mut t = String::from(
        "| case | queue | spans sent | accepted | refused to client | received (unique) | duplicated | lost | counted as dropped | exporter retries | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let queue = match r.queue {
            Queue::Persistent => "persistent",
            Queue::Memory => "memory",
        };
        let _ = writeln!(
            t,
            "| {} | {queue} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            r.case,
            r.sent,
            r.accepted,
            r.refused_to_client,
            r.received,
            r.duplicated,
            r.lost,
            r.counted_dropped,
            r.retries,
            r.peak_rss_mb
        );
    }
    let _ = writeln!(
        t,
        "\n{} cases in {:.0} s; load {RATE} spans/s over gRPC for {} s, fault from {:.0} s to {:.0} s \
         (overflow: {:.0} s).",
        rows.len(),
        total.as_secs_f64(),
        LOAD_FOR.as_secs(),
        FAULT_AT.as_secs_f64(),
        (FAULT_AT + FAULT_FOR).as_secs_f64(),
        (FAULT_AT + FAULT_FOR * 2).as_secs_f64(),
    );
    t
}

#[test]
fn fault_matrix() {
    let started = Instant::now();
    let rt = runtime();
    let cases: &[(Fault, &[Queue])] = &[
        (Fault::Status(503), &[Queue::Persistent, Queue::Memory]),
        (Fault::Status(429), &[Queue::Persistent, Queue::Memory]),
        (Fault::Status(500), &[Queue::Persistent, Queue::Memory]),
        (Fault::Hang, &[Queue::Persistent, Queue::Memory]),
        (Fault::Down, &[Queue::Persistent, Queue::Memory]),
        (Fault::Reset, &[Queue::Persistent, Queue::Memory]),
        // With the in-memory queue what the process holds dies with it: persistent only.
        (Fault::Kill9, &[Queue::Persistent]),
        (Fault::Overflow, &[Queue::Memory]),
    ];
    let mut rows = Vec::new();
    let mut seed = 4_200;
    // FAULT_MATRIX_ONLY=kill9 (a case's tag, lowercase) runs a subset while debugging.
    let only = std::env::var("FAULT_MATRIX_ONLY").unwrap_or_default();
    for &(fault, queues) in cases {
        for &queue in queues {
            seed += 1;
            if !format!("{fault:?}").to_lowercase().contains(&only) {
                continue;
            }
            rows.push(run_case(&rt, queue, fault, seed));
        }
    }
    let md = table(&rows, started.elapsed());
    let out = workspace_root().join("target/fault-matrix.md");
    std::fs::write(&out, &md).unwrap();
    eprintln!("\n{md}\nwritten to {}", out.display());

    let mut failures = Vec::new();
    for r in &rows {
        let overflow = r.fault == Fault::Overflow;
        if r.retries == 0 && r.fault != Fault::Kill9 {
            failures.push(format!(
                "{} / {:?}: the exporter never retried: the fault did not happen",
                r.case, r.queue
            ));
        }
        if r.refused_to_client > 0 {
            failures.push(format!(
                "{} / {:?}: {} spans refused to the client for good (the loadgen retries for 30 s)",
                r.case, r.queue, r.refused_to_client
            ));
        }
        if overflow {
            if r.lost == 0 {
                failures.push(format!("{}: expected losses, saw none", r.case));
            }
            if r.lost != r.counted_dropped {
                failures.push(format!(
                    "{}: lost {} but otelcol_exporter_send_failed_spans counts {}",
                    r.case, r.lost, r.counted_dropped
                ));
            }
        } else if r.lost > 0 {
            failures.push(format!("{} / {:?}: lost {} spans", r.case, r.queue, r.lost));
        }
    }
    assert!(failures.is_empty(), "{}\n{md}", failures.join("\n"));
}
