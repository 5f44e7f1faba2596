//! The seed system end to end: the Python OpenTelemetry SDK sends a web service's traces over
//! OTLP/gRPC to kakehashi running the seed configuration (tests/fixtures/seed-collector.yaml,
//! verbatim, plus an overlay that takes the API key from the environment and points the endpoints
//! at a local Datadog intake double). The double gunzips and decodes every AgentPayload and stats
//! payload; the assertions below are written from the Datadog mapping spec, not computed with the
//! exporter's code.
//!
//! Also: intake faults (500/503/429/hang, then recovery → every span exactly once), a 403 (one
//! clear log line, counted drops), a 10k-span batch split into payloads under 3.2 MB, and the API
//! key never appearing in the collector's output at debug level.

mod common;

use common::dd_intake::{grouped_stats, FakeIntake, Reply};
use common::*;
use libdd_trace_protobuf::pb;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const API_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const MAX_PAYLOAD: usize = 3_200_000;

struct Harness {
    _dir: tempfile::TempDir,
    intake: FakeIntake,
    recv: u16,
    metrics: u16,
    collector: ProcessGuard,
}

fn seed_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-collector.yaml")
}

/// Starts the intake double (with `script` for its trace endpoint) and kakehashi on the seed
/// config plus an overlay (`extra_exporter` is YAML merged under `exporters::datadog`).
fn start(script: Vec<Reply>, extra_exporter: &str, extra_overlay: &str) -> Harness {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-dd-")
        .tempdir()
        .unwrap();
    let intake = FakeIntake::start();
    intake.script_traces(script);
    let recv = free_port();
    let metrics = free_port();
    let overlay = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{recv}
exporters:
  datadog:
    api:
      key: ${{env:DD_API_KEY}}
    traces:
      endpoint: {url}
    metrics:
      endpoint: {url}
{extra_exporter}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics}
{extra_overlay}
"#,
        url = intake.url()
    );
    let overlay_path = dir.path().join("overlay.yaml");
    std::fs::write(&overlay_path, overlay).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(seed_fixture())
        .arg("--config")
        .arg(&overlay_path)
        .env("DD_API_KEY", API_KEY);
    let mut collector = ProcessGuard::spawn("kakehashi", cmd, dir.path());
    wait_for_port(recv, Duration::from_secs(20), Some(&mut collector));
    Harness {
        _dir: dir,
        intake,
        recv,
        metrics,
        collector,
    }
}

/// Runs tests/python/send_web_traces.py; returns its summary of the spans sent, by span id.
fn send(h: &Harness, extra: usize, blob_bytes: usize) -> HashMap<u64, Value> {
    send_args(h, extra, blob_bytes, &[], &[])
}

/// [`send`] with more arguments for the script (e.g. `--user-drop`) and environment (e.g.
/// `OTEL_RESOURCE_ATTRIBUTES`, which the SDK merges into the resource).
fn send_args(
    h: &Harness,
    extra: usize,
    blob_bytes: usize,
    more: &[&str],
    env: &[(&str, &str)],
) -> HashMap<u64, Value> {
    let mut cmd = Command::new(python());
    cmd.envs(env.iter().copied());
    cmd.arg(python_script("send_web_traces.py"))
        .args([
            "--endpoint",
            &format!("127.0.0.1:{}", h.recv),
            "--extra",
            &extra.to_string(),
            "--extra-attr-bytes",
            &blob_bytes.to_string(),
        ])
        .args(more);
    let (status, stdout, stderr) = run_bounded(cmd, Duration::from_secs(120));
    assert!(status.success(), "send_web_traces.py failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("summary JSON");
    summary["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (hex_u64(s["span_id"].as_str().unwrap()), s.clone()))
        .collect()
}

fn hex_u64(h: &str) -> u64 {
    u64::from_str_radix(h, 16).unwrap()
}

/// SIGTERM (flushes the batch processor and the exporter), then wait for a clean exit.
fn stop(h: &mut Harness) -> String {
    h.collector.terminate(Duration::from_secs(40))
}

fn metric_value(h: &Harness, name: &str) -> f64 {
    let body = http_get(h.metrics, "/metrics");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains("exporter=\"datadog\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn span_ids(spans: &[pb::Span]) -> Vec<u64> {
    let mut ids: Vec<u64> = spans.iter().map(|s| s.span_id).collect();
    ids.sort();
    ids
}

fn meta<'a>(s: &'a pb::Span, k: &str) -> Option<&'a str> {
    s.meta.get(k).map(String::as_str)
}

/// The fallback host the collector resolved (its `Resolved source` log line), checked to be
/// this machine's: no cloud answers in the tests, so the `system` provider's, which is the
/// kernel's hostname or an FQDN starting with it.
fn system_hostname(output: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.contains("Resolved source"))
        .unwrap_or_else(|| panic!("no resolved source in {output}"));
    assert!(line.contains("provider=\"system\""), "{line}");
    let host = line
        .split("source=Host(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no host in {line}"))
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let kernel = kernel.trim();
    assert!(
        host == kernel || host.starts_with(&format!("{kernel}.")),
        "{host} is not this machine ({kernel})"
    );
    host
}

/// Navigates an rmpv map by string keys.
#[test]
fn seed_config_delivers_every_span_with_datadog_fields_and_stats() {
    let mut h = start(vec![], "", "");
    let mut sent = send_args(&h, 0, 0, &["--user-drop"], &[]);
    assert_eq!(sent.len(), 6);
    // The application dropped this one (sampling.priority -1): in the stats only.
    sent.retain(|_, s| s["name"] != "GET /admin");
    // 6 spans < send_batch_size 10: held by batch/datadog until SIGTERM flushes them.
    std::thread::sleep(Duration::from_secs(1));
    assert!(h.intake.accepted_traces().is_empty());
    let output = stop(&mut h);
    assert!(
        !output.contains(API_KEY),
        "the API key leaked into the output"
    );
    let host = system_hostname(&output);

    let payloads = h.intake.accepted_traces();
    assert!(!payloads.is_empty());
    for (req, p) in &payloads {
        assert_eq!(req.method, "POST");
        let hd = |k: &str| req.headers.get(k).map(String::as_str);
        assert_eq!(hd("content-type"), Some("application/x-protobuf"));
        assert_eq!(hd("content-encoding"), Some("gzip"));
        assert_eq!(hd("dd-api-key"), Some(API_KEY));
        assert_eq!(hd("x-datadog-reported-languages"), Some("python"));
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            hd("user-agent"),
            Some(format!("Datadog Trace Agent/datadogexporter-kakehashi-{version}/").as_str())
        );
        assert_eq!(
            p.agent_version,
            format!("datadogexporter-kakehashi-{version}")
        );
        assert_eq!(p.host_name, host);
        assert_eq!(p.env, "none");
        assert_eq!(p.target_tps, 10.0);
        assert_eq!(p.error_tps, 10.0);
        assert!(!p.rare_sampler_enabled);
        for tp in &p.tracer_payloads {
            assert_eq!(tp.language_name, "python");
            assert_eq!(tp.tracer_version, "otlp-1.45.2");
            assert_eq!(tp.env, "staging", "back-filled from the root span's env");
            assert_eq!(tp.app_version, "1.4.0");
            assert_eq!(tp.hostname, host);
            for chunk in &tp.chunks {
                assert_eq!(chunk.priority, 1);
                assert_eq!(
                    chunk.tags.get("_dd.otlp_sr").map(String::as_str),
                    Some("1.00")
                );
                assert_eq!(meta(&chunk.spans[0], "_dd.p.dm"), Some("-9"));
                assert_eq!(
                    chunk.tags.get("_dd.p.dm").map(String::as_str),
                    Some("-9"),
                    "the decision maker promoted to a chunk tag"
                );
                let trace = chunk.spans[0].trace_id;
                assert!(chunk.spans.iter().all(|s| s.trace_id == trace));
            }
        }
    }

    let spans = h.intake.accepted_spans();
    let mut want: Vec<u64> = sent.keys().copied().collect();
    want.sort();
    assert_eq!(span_ids(&spans), want, "every span exactly once");

    for s in &spans {
        let src = &sent[&s.span_id];
        let name = src["name"].as_str().unwrap();
        let trace_hex = src["trace_id"].as_str().unwrap();
        assert_eq!(s.trace_id, hex_u64(&trace_hex[16..]), "{name}: low 64 bits");
        assert_eq!(meta(s, "otel.trace_id"), Some(trace_hex));
        let parent = src["parent_span_id"].as_str().unwrap();
        assert_eq!(
            s.parent_id,
            if parent.is_empty() {
                0
            } else {
                hex_u64(parent)
            }
        );
        assert_eq!(s.start, src["start"].as_i64().unwrap());
        assert_eq!(
            s.duration,
            src["end"].as_i64().unwrap() - src["start"].as_i64().unwrap()
        );
        assert_eq!(
            meta(s, "env"),
            Some("staging"),
            "{name}: resource env inserted by the resource processor"
        );
        assert_eq!(meta(s, "version"), Some("1.4.0"));
        assert_eq!(meta(s, "otel.library.name"), Some("e2e.web"));
        assert_eq!(meta(s, "otel.library.version"), Some("0.1.0"));
        assert_eq!(meta(s, "otel.scope.name"), Some("e2e.web"));
        assert_eq!(meta(s, "otel.scope.version"), Some("0.1.0"));
        assert_eq!(meta(s, "telemetry.sdk.language"), Some("python"));
        assert!(!s.meta.contains_key("service.name"));
        match name {
            "GET /health" => {
                assert_eq!(s.service, "e2e-web");
                assert_eq!(s.name, "http.server.request");
                assert_eq!(s.resource, "GET /health");
                assert_eq!(s.r#type, "web");
                assert_eq!(s.error, 0);
                assert_eq!(meta(s, "http.method"), Some("GET"));
                assert_eq!(meta(s, "http.route"), Some("/health"));
                assert_eq!(meta(s, "span.kind"), Some("server"));
                assert_eq!(meta(s, "otel.status_code"), Some("Unset"));
                assert_eq!(s.metrics.get("http.status_code"), Some(&200.0));
                assert_eq!(s.metrics.get("_top_level"), Some(&1.0));
            }
            "HealthCheck Local" => {
                // The span's own service.name attribute wins over the resource's.
                assert_eq!(s.service, "sample-app");
                assert_eq!(s.name, "Internal");
                assert_eq!(s.resource, "HealthCheck Local");
                assert_eq!(s.r#type, "custom");
                assert_eq!(meta(s, "custom.tag"), Some("health-check"));
                assert_eq!(meta(s, "custom.debugTag"), Some("debug-on"));
                assert_eq!(meta(s, "endpoint"), Some("/health"));
                assert_eq!(meta(s, "environment"), Some("local"));
                assert_eq!(meta(s, "debug_mode"), Some("true"));
                assert_eq!(s.metrics.get("random_number"), Some(&42.0));
                assert_eq!(meta(s, "span.kind"), Some("internal"));
                assert_eq!(
                    s.metrics.get("_top_level"),
                    Some(&1.0),
                    "service differs from its parent"
                );
            }
            "GET /users/{id}" => {
                assert_eq!(s.name, "http.server.request");
                assert_eq!(s.resource, "GET /users/{id}");
            }
            "SELECT app.users" => {
                assert_eq!(s.service, "e2e-web");
                assert_eq!(s.name, "postgresql.query");
                assert_eq!(s.r#type, "sql");
                assert_eq!(
                    s.resource, "SELECT * FROM users WHERE id = ?",
                    "SQL obfuscated"
                );
                assert_eq!(
                    meta(s, "db.statement"),
                    Some("SELECT * FROM users WHERE id = ?"),
                    "the query attribute obfuscated with the resource"
                );
                assert_eq!(meta(s, "db.name"), Some("app"));
                assert_eq!(meta(s, "span.kind"), Some("client"));
                assert!(!s.metrics.contains_key("_top_level"));
            }
            "POST /checkout" => {
                assert_eq!(s.resource, "POST /checkout");
                assert_eq!(s.error, 1);
                assert_eq!(meta(s, "otel.status_code"), Some("Error"));
                assert_eq!(meta(s, "otel.status_description"), Some("payment failed"));
                assert_eq!(
                    meta(s, "app.order_number"),
                    Some("4111111111111111"),
                    "no credit-card scan, as the Go exporter's trace-agent"
                );
                assert_eq!(meta(s, "error.msg"), Some("payment failed"));
                assert_eq!(meta(s, "_dd.span_events.has_exception"), Some("true"));
                let events: Value = serde_json::from_str(meta(s, "events").unwrap()).unwrap();
                assert_eq!(events[0]["name"], "exception");
                assert_eq!(events[0]["attributes"]["exception.type"], "RuntimeError");
                assert_eq!(
                    events[0]["attributes"]["exception.message"],
                    "card declined"
                );
                assert_eq!(s.metrics.get("http.status_code"), Some(&500.0));
            }
            other => panic!("unexpected span {other}"),
        }
    }

    // APM stats: computed by the exporter, flushed on shutdown.
    let stats = grouped_stats(&h.intake.accepted_stats());
    let key =
        |svc: &str, name: &str, res: &str| (svc.to_string(), name.to_string(), res.to_string());
    assert_eq!(
        stats.get(&key("e2e-web", "http.server.request", "GET /health")),
        Some(&(1, 0, 1)),
        "{stats:#?}"
    );
    assert_eq!(
        stats.get(&key("e2e-web", "http.server.request", "POST /checkout")),
        Some(&(1, 1, 1)),
        "{stats:#?}"
    );
    assert_eq!(
        stats.get(&key("e2e-web", "http.server.request", "GET /admin")),
        Some(&(1, 0, 1)),
        "a trace sampled out is still counted, as the agent does: {stats:#?}"
    );
    assert_eq!(
        stats.get(&key("sample-app", "Internal", "HealthCheck Local")),
        Some(&(1, 0, 1)),
        "{stats:#?}"
    );
    // A client span is not top-level but has stats by span kind (compute_stats_by_span_kind).
    assert_eq!(
        stats.get(&key(
            "e2e-web",
            "postgresql.query",
            "SELECT * FROM users WHERE id = ?"
        )),
        Some(&(1, 0, 0)),
        "{stats:#?}"
    );
    for r in h.intake.requests_to("/api/v0.2/stats") {
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/msgpack")
        );
        assert_eq!(
            r.headers.get("dd-api-key").map(String::as_str),
            Some(API_KEY)
        );
    }

    // Host metadata at start (host_metadata.enabled defaults to true), gzip'd JSON.
    let intake = h.intake.requests_to("/intake");
    assert_eq!(intake.len(), 1, "sent once at start, then every 30 m");
    match &intake[0].decoded {
        common::dd_intake::Decoded::Json(v) => {
            assert_eq!(v["internalHostname"], host);
            assert_eq!(v["meta"]["hostname"], host);
            // The machine, as Go's exporter describes it: the kernel's hostname, and the
            // inventory Datadog's infrastructure list shows, as a JSON string. No EC2 identity:
            // the tests' metadata service knows nothing.
            let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
            assert_eq!(v["meta"]["socket-hostname"], kernel.trim());
            assert!(v["meta"].get("instance-id").is_none());
            let gohai: serde_json::Value =
                serde_json::from_str(v["gohai"].as_str().expect("gohai is a string")).unwrap();
            assert_eq!(gohai["platform"]["kernel_name"], "Linux");
            assert!(gohai["memory"]["total"].is_string());
        }
        other => panic!("host metadata is not JSON: {other:?}"),
    }
    assert_eq!(
        intake[0].headers.get("dd-api-key").map(String::as_str),
        Some(API_KEY)
    );

    // The API key is checked once at start.
    let validate = h.intake.requests_to("/api/v1/validate");
    assert_eq!(validate.len(), 1);
    assert_eq!(
        validate[0].headers.get("dd-api-key").map(String::as_str),
        Some(API_KEY)
    );
}

#[test]
fn host_metadata_from_the_first_resource_and_usage_series_per_host() {
    let mut h = start(
        vec![],
        "    host_metadata:\n      hostname_source: first_resource\n      tags: [\"team:e2e\"]",
        "",
    );
    // 15 spans >= send_batch_size 10: exported right away, which starts the host metadata.
    let resource = "cloud.provider=aws,host.id=i-0e2e,host.name=ip-10-1-2-3.ec2.internal,\
                    ec2.tag.team=payments";
    let sent = send_args(&h, 10, 0, &[], &[("OTEL_RESOURCE_ATTRIBUTES", resource)]);
    assert_eq!(sent.len(), 15);
    let metadata = poll_until(Duration::from_secs(10), || {
        h.intake.requests_to("/intake").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no host metadata: {}", h.collector.output_tail(4000)));
    let common::dd_intake::Decoded::Json(v) = &metadata.decoded else {
        panic!("host metadata is not JSON: {:?}", metadata.decoded);
    };
    assert_eq!(
        v["internalHostname"], "i-0e2e",
        "the resource's host, not the collector's"
    );
    assert_eq!(v["meta"]["hostname"], "i-0e2e");
    assert_eq!(v["meta"]["instance-id"], "i-0e2e");
    assert_eq!(v["meta"]["ec2-hostname"], "ip-10-1-2-3.ec2.internal");
    assert_eq!(
        v["host-tags"]["otel"],
        serde_json::json!(["team:payments", "team:e2e"])
    );
    assert_eq!(v["agent-flavor"], "kakehashi");

    // The usage series comes within 10 s: the running gauge and the gateway gauge (one host
    // seen, so 0) for the resource's host.
    let series = poll_until(Duration::from_secs(15), || {
        h.intake.requests_to("/api/v2/series").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no usage series: {}", h.collector.output_tail(4000)));
    let common::dd_intake::Decoded::Json(v) = &series.decoded else {
        panic!("series are not JSON: {:?}", series.decoded);
    };
    let by_metric = |m: &str| {
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metric"] == m)
            .cloned()
            .unwrap_or_else(|| panic!("no {m} in {v}"))
    };
    let running = by_metric("otel.datadog_exporter.traces.running");
    assert_eq!(running["resources"][0]["name"], "i-0e2e");
    let gateway = by_metric("datadog.otel.gateway");
    assert_eq!(gateway["points"][0]["value"], 0.0);
    assert_eq!(gateway["resources"][0]["name"], "i-0e2e");
    stop(&mut h);
}

#[test]
fn intake_faults_are_retried_and_every_span_arrives_exactly_once() {
    let mut h = start(
        vec![
            Reply::Status(500),
            Reply::RetryAfter(503, 1),
            Reply::Status(429),
            Reply::Hang(Duration::from_secs(10)),
            Reply::Status(502),
        ],
        "    timeout: 2s\n    retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 500ms\n    host_metadata:\n      enabled: false",
        "",
    );
    // 5 + 220 spans in one OTLP request: batch/datadog (10/100/20s) cuts it into 100/100/25,
    // three payloads that meet the faults in whatever order they are sent.
    let sent = send(&h, 220, 0);
    assert_eq!(sent.len(), 225);
    let delivered = poll_until(Duration::from_secs(30), || {
        (h.intake.accepted_spans().len() >= 225).then_some(())
    });
    assert!(delivered.is_some(), "{}", h.collector.output_tail(4000));
    let counted = poll_until(Duration::from_secs(10), || {
        (metric_value(&h, "otelcol_exporter_sent_spans") == 225.0).then_some(())
    });
    assert!(
        counted.is_some(),
        "otelcol_exporter_sent_spans counts every delivered span"
    );
    assert_eq!(metric_value(&h, "otelcol_exporter_send_failed_spans"), 0.0);
    let output = stop(&mut h);

    let spans = h.intake.accepted_spans();
    let mut want: Vec<u64> = sent.keys().copied().collect();
    want.sort();
    assert_eq!(span_ids(&spans), want, "every span exactly once");
    assert!(
        h.intake.requests_to("/intake").is_empty(),
        "host_metadata.enabled: false"
    );
    let attempts = h.intake.requests_to("/api/v0.2/traces").len();
    // 3 successes + 4 recorded faults (the hung request is abandoned by the client's 2 s
    // timeout before the intake records it).
    assert_eq!(attempts, 3 + 4, "trace requests");
    assert!(output.contains("500"), "retries are logged with the status");
    assert!(!output.contains(API_KEY));
}

/// SIGTERM while the intake keeps failing: the exporter stops retrying, and every batch
/// still waiting in the sending queue gets its one attempt before the 20 s drain deadline (the
/// runner's contract), rather than the batch in flight retrying through the whole deadline
/// while the others are dropped untried. Each loss is counted and logged.
#[test]
fn at_shutdown_retries_stop_and_every_queued_batch_gets_an_attempt() {
    let mut h = start(
        vec![Reply::Status(503); 10_000],
        "    sending_queue:\n      num_consumers: 1\n    retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 200ms\n    host_metadata:\n      enabled: false",
        "",
    );
    // 5 + 220 spans: three batches (100/100/25), one in flight and two queued.
    let sent = send(&h, 220, 0);
    let retrying = poll_until(Duration::from_secs(30), || {
        (h.intake.requests_to("/api/v0.2/traces").len() >= 3).then_some(())
    });
    assert!(retrying.is_some(), "{}", h.collector.output_tail(4000));
    let stopping = std::time::Instant::now();
    let output = stop(&mut h);
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "shutdown took {took:?}; the drain deadline is 20 s\n{output}"
    );
    let attempted: std::collections::HashSet<u64> = h
        .intake
        .requests_to("/api/v0.2/traces")
        .into_iter()
        .filter_map(|r| match r.decoded {
            common::dd_intake::Decoded::Traces(p) => Some(p),
            _ => None,
        })
        .flat_map(|p| p.tracer_payloads)
        .flat_map(|tp| tp.chunks)
        .flat_map(|c| c.spans)
        .map(|s| s.span_id)
        .collect();
    for id in sent.keys() {
        assert!(attempted.contains(id), "span {id:x} was never attempted");
    }
    let dropped: u64 = output
        .lines()
        .filter(|l| l.contains("Exporting failed"))
        .filter_map(|l| l.split("dropped_items=").nth(1))
        .filter_map(|v| {
            v.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(dropped, 225, "{output}");
    assert!(output.contains("not retried: shutting down"), "{output}");
}

#[test]
fn forbidden_payload_is_dropped_counted_and_logged_once() {
    let mut h = start(
        vec![Reply::Status(403)],
        "    host_metadata:\n      enabled: false",
        "",
    );
    // 5 + 5 spans = exactly one batch of 10, which the intake refuses with 403.
    let sent = send(&h, 5, 0);
    assert_eq!(sent.len(), 10);
    let counted = poll_until(Duration::from_secs(20), || {
        (metric_value(&h, "otelcol_exporter_send_failed_spans") >= 10.0).then_some(())
    });
    assert!(counted.is_some(), "{}", h.collector.output_tail(4000));
    assert_eq!(metric_value(&h, "otelcol_exporter_sent_spans"), 0.0);
    // Then the intake works again: later spans flow.
    let sent_later = send(&h, 5, 0);
    let output = stop(&mut h);
    assert_eq!(
        h.intake
            .requests_to("/api/v0.2/traces")
            .iter()
            .filter(|r| r.status == 403)
            .count(),
        1,
        "never retried"
    );
    // One line reports the loss (with the count and the reason); nothing else mentions the 403.
    // (Matching on "HTTP 403", since a bare "403" also occurs in timestamps at debug level.)
    let lines: Vec<&str> = output.lines().filter(|l| l.contains("HTTP 403")).collect();
    assert_eq!(
        lines.len(),
        1,
        "one log line for the refused payload: {lines:#?}"
    );
    assert!(lines[0].contains("ERROR"), "{}", lines[0]);
    assert!(lines[0].contains("403 Forbidden"), "{}", lines[0]);
    assert!(lines[0].contains("check api::key"), "{}", lines[0]);
    assert!(
        lines[0].contains("dropped_items") && lines[0].contains("10"),
        "{}",
        lines[0]
    );
    let mut want: Vec<u64> = sent_later.keys().copied().collect();
    want.sort();
    assert_eq!(span_ids(&h.intake.accepted_spans()), want);
    assert!(!output.contains(API_KEY));
}

#[test]
fn ten_thousand_span_batch_is_split_into_payloads_under_the_limit() {
    let mut h = start(
        vec![],
        "    host_metadata:\n      enabled: false",
        "processors:\n  batch/datadog:\n    send_batch_size: 10005\n    send_batch_max_size: 10005\n    timeout: 60s",
    );
    let sent = send(&h, 10_000, 600);
    assert_eq!(sent.len(), 10_005);
    let output = stop(&mut h);
    let payloads = h.intake.accepted_traces();
    assert!(payloads.len() >= 2, "{} payloads", payloads.len());
    for (req, p) in &payloads {
        let encoded = prost::Message::encoded_len(p);
        assert!(encoded <= MAX_PAYLOAD, "payload of {encoded} bytes");
        assert!(req.body_len <= MAX_PAYLOAD);
    }
    let spans = h.intake.accepted_spans();
    assert_eq!(spans.len(), 10_005, "no span lost or duplicated");
    let mut want: Vec<u64> = sent.keys().copied().collect();
    want.sort();
    assert_eq!(span_ids(&spans), want);
    assert!(!output.contains(API_KEY));
}

#[test]
fn invalid_api_key_fails_the_start_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let intake = FakeIntake::start();
    intake.reject_api_key();
    let recv = free_port();
    let overlay = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{recv}\nexporters:\n  datadog:\n    api:\n      key: ${{env:DD_API_KEY}}\n      fail_on_invalid_key: true\n    traces:\n      endpoint: {url}\n    metrics:\n      endpoint: {url}\nservice:\n  telemetry:\n    metrics:\n      level: none\n",
        url = intake.url()
    );
    let overlay_path = dir.path().join("overlay.yaml");
    std::fs::write(&overlay_path, overlay).unwrap();
    let mut cmd = kakehashi_command();
    cmd.arg("--config")
        .arg(seed_fixture())
        .arg("--config")
        .arg(&overlay_path)
        .env("DD_API_KEY", API_KEY);
    let (status, stdout, stderr) = run_bounded(cmd, Duration::from_secs(30));
    let output = format!("{stdout}{stderr}");
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains("API Key validation failed"), "{output}");
    assert!(!output.contains(API_KEY));
    assert_eq!(intake.requests_to("/api/v1/validate").len(), 1);
}

/// `transform` and `filter` in the seed pipeline shape what Datadog sees: the health checks
/// are dropped (neither their spans nor their APM stats arrive; the drops are counted), the
/// checkout span gets the resource a statement sets and every span the team a resource
/// statement adds. The statements and conditions are OTTL, as an SRE writes them for otelcol.
#[test]
fn transform_and_filter_shape_what_datadog_sees() {
    let mut h = start(
        vec![],
        "",
        // Continues the overlay's `service:` block, then adds the processors.
        r#"  pipelines:
    traces:
      processors: [resource, transform, filter/health, batch/datadog]
processors:
  transform:
    error_mode: ignore
    trace_statements:
      - 'set(resource.attributes["team"], "payments")'
      - 'set(span.attributes["resource.name"], "checkout flow") where span.name == "POST /checkout"'
  filter/health:
    error_mode: ignore
    traces:
      span:
        - 'attributes["http.route"] == "/health"'
        - 'name == "HealthCheck Local"'
      spanevent:
        - 'name == "never-recorded"'"#,
    );
    let sent = send(&h, 0, 0);
    assert_eq!(sent.len(), 5);
    // The filter dropped 2 of 5 spans as they arrived; the other 3 wait in batch/datadog.
    let dropped = poll_until(Duration::from_secs(10), || {
        let body = http_get(h.metrics, "/metrics");
        body.lines()
            .find(|l| {
                l.starts_with("otelcol_processor_filter_spans_filtered{")
                    && l.contains("filter=\"filter/health\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|n| *n == 2)
    });
    assert_eq!(dropped, Some(2), "{}", http_get(h.metrics, "/metrics"));
    stop(&mut h);

    let mut want: Vec<u64> = sent
        .iter()
        .filter(|(_, s)| s["name"] != "GET /health" && s["name"] != "HealthCheck Local")
        .map(|(id, _)| *id)
        .collect();
    want.sort();
    assert_eq!(want.len(), 3);
    let spans = h.intake.accepted_spans();
    assert_eq!(span_ids(&spans), want);
    for s in &spans {
        assert_eq!(meta(s, "team"), Some("payments"), "{s:?}");
    }
    let checkout: Vec<_> = spans
        .iter()
        .filter(|s| s.resource == "checkout flow")
        .collect();
    assert_eq!(checkout.len(), 1, "{spans:?}");
    let stats = grouped_stats(&h.intake.accepted_stats());
    assert!(!stats.is_empty());
    assert!(
        stats
            .keys()
            .all(|(_, _, resource)| !resource.contains("/health")),
        "{stats:?}"
    );
    assert!(
        stats
            .keys()
            .any(|(_, _, resource)| resource == "checkout flow"),
        "{stats:?}"
    );
}

/// Behind the probabilistic sampler (proportional, 50 %), the kept spans carry their threshold
/// in the tracestate; the exporter reads it as the client's rate (`_sample_rate` 0.5) and, as
/// the Go exporter's agent, weighs each kept trace twice in the APM stats.
#[test]
fn stats_behind_a_probabilistic_sampler_count_the_traffic_before_it() {
    let mut h = start(
        vec![],
        "",
        // Continues the overlay's `service:` block, then adds the processor.
        r#"  pipelines:
    traces:
      processors: [probabilistic_sampler, resource, batch/datadog]
processors:
  probabilistic_sampler:
    mode: proportional
    sampling_percentage: 50"#,
    );
    let sent = send_args(&h, 200, 0, &[], &[]);
    assert!(sent.len() > 200);
    let log = stop(&mut h);
    let spans = h.intake.accepted_spans();
    assert!(
        (50..sent.len() - 50).contains(&spans.len()),
        "about half kept: {} of {}\n{log}",
        spans.len(),
        sent.len()
    );
    for s in &spans {
        assert_eq!(s.metrics.get("_sample_rate"), Some(&0.5), "{s:?}");
    }
    let top_level = spans
        .iter()
        .filter(|s| s.metrics.get("_top_level") == Some(&1.0))
        .count() as u64;
    assert!(top_level >= 50, "{top_level} top-level spans kept");
    let stats = grouped_stats(&h.intake.accepted_stats());
    let top_level_hits: u64 = stats.values().map(|(_, _, top)| top).sum();
    assert_eq!(top_level_hits, 2 * top_level, "{stats:?}");
}
