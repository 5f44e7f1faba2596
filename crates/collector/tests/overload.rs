//! Overload (docs/reliability.md, "Overload"): about ten times the load the pipeline sustains
//! (a Datadog intake that takes 100 ms per request, two exporter consumers) from many loadgen
//! connections at full speed, over gRPC and HTTP, with `memory_limiter` and a bounded queue.
//!
//! * the collector's peak RSS stays under `limit_mib` (RSS is what the limiter measures, so the
//!   binary's own baseline counts against the limit; it is measured and printed);
//! * clients are refused with retryable errors: gRPC `UNAVAILABLE`, HTTP 503 with `Retry-After`;
//! * when the load stops the collector recovers by itself: what it accepted is delivered, and
//!   new data is accepted and delivered.

mod common;

use common::fault::*;
use common::*;
use kakehashi_loadgen::cli::Protocol;
use prost::Message;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const LIMIT_MIB: u64 = 150;
const SPIKE_MIB: u64 = 40;
/// Per request at the intake: with two consumers and 100-span requests, ~2,000 spans/s.
const INTAKE_DELAY_MS: u64 = 100;
const SUSTAINED: u64 = 2 * 100 * 1000 / INTAKE_DELAY_MS;
const OVERLOAD_FOR: Duration = Duration::from_secs(8);

fn config(grpc: u16, http: u16, metrics: u16, intake: u16) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: {LIMIT_MIB}
    spike_limit_mib: {SPIKE_MIB}
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
    timeout: 5s
    sending_queue:
      num_consumers: 2
      queue_size: 1000
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
      processors: [memory_limiter]
      exporters: [datadog]
"#
    )
}

/// One OTLP/HTTP protobuf request; returns the status and the `Retry-After` header.
fn http_export(port: u16) -> (u16, Option<String>) {
    let body = trace_request("overload-probe", 10).encode_to_vec();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let retry_after = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().to_string())
    });
    (status, retry_after)
}

#[test]
fn overload_keeps_rss_under_the_limit_refuses_retryably_and_recovers() {
    let started = Instant::now();
    let rt = runtime();
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-overload-")
        .tempdir()
        .unwrap();
    let (grpc, http, metrics, intake_port) = (free_port(), free_port(), free_port(), free_port());
    let intake = Intake::start(&rt, intake_port);
    intake.control(&format!(r#"{{"delay_ms": {INTAKE_DELAY_MS}}}"#));
    let cfg = config(grpc, http, metrics, intake_port);
    let collector = start_kakehashi(dir.path(), "kakehashi", &cfg, &[grpc, http, metrics]);
    std::thread::sleep(Duration::from_millis(500));
    let baseline_kb = proc_status_kb(collector.pid(), "VmRSS");

    // ~10x what the pipeline sustains, from 32 connections; no client-side retries, so every
    // refusal shows in the reports.
    let offered = SUSTAINED * 10;
    let load = |protocol, rate, connections, seed| Load {
        protocol,
        rate,
        connections,
        duration: OVERLOAD_FOR,
        seed,
        retry_for: Duration::ZERO,
    };
    let grpc_load = start_load(&rt, grpc, &load(Protocol::Grpc, offered * 3 / 4, 24, 7_001));
    let http_load = start_load(&rt, http, &load(Protocol::Http, offered / 4, 8, 7_002));

    // Meanwhile, a plain OTLP/HTTP client must see a 503 with Retry-After.
    let mut seen_503 = None;
    let (mut probe_accepted, mut probe_refused) = (0, 0);
    let mut peak_rss_kb = 0;
    let deadline = Instant::now() + OVERLOAD_FOR;
    while Instant::now() < deadline {
        peak_rss_kb = peak_rss_kb.max(proc_status_kb(collector.pid(), "VmRSS"));
        if seen_503.is_none() {
            match http_export(http) {
                (200, _) => probe_accepted += 10,
                (503, retry_after) => {
                    probe_refused += 10;
                    seen_503 = Some(retry_after);
                }
                (status, _) => panic!("unexpected OTLP/HTTP status {status}"),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let wait = |h: tokio::task::JoinHandle<Result<_, String>>| {
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(40), h).await })
            .expect("the loadgen finishes")
            .expect("the loadgen task")
            .expect("the loadgen runs")
    };
    let (g, h) = (wait(grpc_load), wait(http_load));
    let load_ended = Instant::now();
    let peak_hwm_kb = proc_status_kb(collector.pid(), "VmHWM");
    let accepted = g.accepted_spans + h.accepted_spans + probe_accepted;
    let sent = g.sent_spans + h.sent_spans;
    let refused_receiver = metric_sum(metrics, "otelcol_receiver_refused_spans");
    let refused_limiter = metric_sum(metrics, "otelcol_processor_memory_limiter_refused_spans");
    let report = format!(
        "overload: offered {offered} spans/s for {:?} (pipeline sustains ~{SUSTAINED}); sent {sent}, \
         accepted {accepted}, refused by the receiver {refused_receiver} (memory_limiter \
         {refused_limiter}); gRPC errors {:?}, HTTP errors {:?}; baseline RSS {:.1} MB, peak RSS \
         {:.1} MB (VmHWM), limit {LIMIT_MIB} MiB (soft {} MiB)",
        OVERLOAD_FOR,
        g.errors,
        h.errors,
        baseline_kb as f64 / 1024.0,
        peak_hwm_kb.max(peak_rss_kb) as f64 / 1024.0,
        LIMIT_MIB - SPIKE_MIB,
    );
    eprintln!("{report}");

    // Bounded: RSS is what the limiter measures, so the whole process stays under limit_mib.
    assert!(
        peak_hwm_kb <= LIMIT_MIB * 1024,
        "peak RSS over the memory limit\n{report}"
    );
    // Retryable refusals, and the receiver counted them.
    assert!(
        g.errors.contains_key("UNAVAILABLE"),
        "gRPC clients get UNAVAILABLE\n{report}"
    );
    assert!(
        h.errors.contains_key("http 503"),
        "HTTP clients get 503\n{report}"
    );
    assert!(refused_limiter > 0, "memory_limiter refused data\n{report}");
    assert_eq!(
        refused_receiver,
        g.refused_spans + h.refused_spans + probe_refused,
        "every refused span is counted by the receiver\n{report}"
    );
    let retry_after = seen_503.expect("an OTLP/HTTP client saw a 503 during the overload");
    assert!(retry_after.is_some(), "a 503 carries Retry-After\n{report}");

    // Recovery, without a restart: everything accepted is delivered, then new data flows.
    let counts = settle(
        &intake,
        Duration::from_secs(60),
        Duration::from_secs(5),
        |c| c["unique_spans"].as_u64().unwrap_or(0) >= accepted,
    );
    assert_eq!(
        counts["unique_spans"].as_u64().unwrap_or(0),
        accepted,
        "every accepted span is delivered after the overload\n{report}\n{counts}"
    );
    eprintln!(
        "overload: everything accepted was delivered {:.1} s after the load stopped",
        load_ended.elapsed().as_secs_f64()
    );
    let probe = start_load(
        &rt,
        grpc,
        &Load {
            protocol: Protocol::Grpc,
            rate: 500,
            connections: 2,
            duration: Duration::from_secs(1),
            seed: 7_003,
            retry_for: Duration::from_secs(10),
        },
    );
    let p = wait(probe);
    assert!(
        p.accepted_spans > 0 && p.refused_spans + p.failed_spans == 0,
        "{p:?}"
    );
    let total = accepted + p.accepted_spans;
    let counts = settle(
        &intake,
        Duration::from_secs(20),
        Duration::from_secs(5),
        |c| c["unique_spans"].as_u64().unwrap_or(0) >= total,
    );
    assert_eq!(
        counts["unique_spans"].as_u64().unwrap_or(0),
        total,
        "new data is delivered after the overload\n{counts}"
    );
    eprintln!(
        "overload test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// RSS is what Kubernetes limits and `memory_limiter` measure, and 2 MiB transparent huge pages
/// inflate it for a heap of many short-lived batches (78 → 26–31 MB peak at 20k spans/s,
/// docs/performance.md), so the binary opts out at start-up unless `MIMALLOC_ALLOW_THP` says
/// otherwise.
#[test]
fn transparent_huge_pages_are_off_unless_mimalloc_allow_thp_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}\n\
         exporters:\n  nop:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [nop]\n"
    );
    let config_path = dir.path().join("thp.yaml");
    std::fs::write(&config_path, config).unwrap();
    let thp_enabled = |allow: Option<&str>| {
        let mut cmd = kakehashi_command();
        cmd.arg("--config").arg(&config_path);
        if let Some(v) = allow {
            cmd.env("MIMALLOC_ALLOW_THP", v);
        }
        let mut guard = ProcessGuard::spawn("thp", cmd, dir.path());
        wait_for_port(port, Duration::from_secs(20), Some(&mut guard));
        let status = std::fs::read_to_string(format!("/proc/{}/status", guard.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .map(|v| v.trim().to_string())
    };
    let Some(default) = thp_enabled(None) else {
        eprintln!("this kernel does not report THP_enabled; nothing to check");
        return;
    };
    assert_eq!(default, "0", "THP must be disabled by default");
    assert_eq!(
        thp_enabled(Some("1")).as_deref(),
        Some("1"),
        "MIMALLOC_ALLOW_THP=1 leaves the system setting"
    );
}
