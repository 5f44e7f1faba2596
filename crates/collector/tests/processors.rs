//! The processors beyond the seed's, end to end through the binary with the Python SDK as
//! sender and the Python OTLP sink downstream: `resourcedetection` adds the collector's own
//! environment and host; `filter` drops metrics and data points by OTTL conditions;
//! `probabilistic_sampler` keeps the spans otelcol keeps; `transform` rewrites log records with
//! the list converters and editors.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

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
        otlp_to_sink_config(recv_grpc, &sink, processors, "resourcedetection", "traces"),
    )
    .unwrap();
    let mut cmd = kakehashi_command();
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
        &otlp_to_sink_config(recv_grpc, &sink, processors, "filter, transform", "metrics"),
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

/// `log_statements` with the list converters and editors on the SDK's log records: a structured
/// body merged into the attributes and flattened, a string body split into words and appended
/// to, a JSON text parsed.
#[test]
fn transform_logs_with_list_functions() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-tl-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let processors = r#"  transform:
    error_mode: propagate
    log_statements:
      - context: log
        conditions: ['IsMap(body)']
        statements:
          - 'set(attributes["body.json"], String(body))'
          - 'merge_maps(attributes, body, "upsert")'
          - 'flatten(attributes, "b")'
      - context: log
        conditions: ['IsString(body) and HasPrefix(body, "interop")']
        statements:
          - 'set(attributes["words"], Split(body, " "))'
          - 'append(attributes["words"], values = ["appended", 1])'
          - 'delete_index(attributes["words"], 0)'
          - 'set(attributes["parsed"], ParseJSON("{\"z\": 1, \"a\": \"x\"}"))'
          - 'set(attributes["parsed.first"], Keys(attributes["parsed"])[0])'"#;
    let mut collector = start_kakehashi(
        dir.path(),
        "kakehashi",
        &otlp_to_sink_config(recv_grpc, &sink, processors, "transform", "logs"),
        &[recv_grpc],
    );
    send_with_python_sdk(recv_grpc, "logs");
    let items = poll_until(Duration::from_secs(15), || {
        let items = sink_items(&sink, "logs");
        (items.len() == 3).then_some(items)
    })
    .unwrap_or_else(|| panic!("3 log records\n{}", collector.output_tail(4000)));
    let structured = items
        .iter()
        .find(|i| i.item["body"].get("kvlistValue").is_some())
        .expect("the structured record");
    let a = |item: &Item, k: &str| attr(&item.item["attributes"], k).cloned();
    assert_eq!(
        a(structured, "b.body.json").unwrap()["stringValue"],
        r#"{"count":3,"nested":{"inner":[1,"two",true]},"structured":"body"}"#
    );
    assert_eq!(
        a(structured, "b.log.kind").unwrap()["stringValue"],
        "structured"
    );
    assert_eq!(
        a(structured, "b.structured").unwrap()["stringValue"],
        "body"
    );
    assert_eq!(
        a(structured, "b.nested.inner.1").unwrap()["stringValue"],
        "two"
    );
    assert!(a(structured, "b.nested.inner.2").unwrap()["boolValue"] == true);
    assert!(a(structured, "nested").is_none(), "flattened away");

    let message = items
        .iter()
        .find(|i| i.item["body"]["stringValue"] == "interop log message ✓")
        .expect("the string record");
    let words = a(message, "words").unwrap();
    let words: Vec<String> = words["arrayValue"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        words,
        [
            r#"{"stringValue":"log"}"#,
            r#"{"stringValue":"message"}"#,
            r#"{"stringValue":"✓"}"#,
            r#"{"stringValue":"appended"}"#,
            r#"{"intValue":"1"}"#
        ]
    );
    assert_eq!(a(message, "parsed.first").unwrap()["stringValue"], "z");
    collector.assert_running();
}

/// Runs `send.py` once over OTLP/gRPC (traces only); the spans it sent, as its summary lists
/// them: [link target (a trace of its own), parent (OK), child (ERROR)].
fn send_py_traces(recv_grpc: u16) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(python());
    cmd.arg(python_script("send.py")).args([
        "--protocol",
        "grpc",
        "--endpoint",
        &format!("http://127.0.0.1:{recv_grpc}"),
        "--signal",
        "traces",
    ]);
    let (status, stdout, stderr) = run_bounded(cmd, Duration::from_secs(60));
    assert!(status.success(), "send.py: {stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    summary["traces"]["spans"].as_array().unwrap().clone()
}

/// `probabilistic_sampler` at 50 % in proportional mode keeps exactly the spans whose trace id's
/// last 56 bits are at least 2^55 (OpenTelemetry's consistent sampling, as otelcol) and marks
/// them `ot=th:8`; the SDK's random trace ids decide.
#[test]
fn probabilistic_sampler_keeps_what_otelcol_keeps() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-ps-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let processors =
        "  probabilistic_sampler:\n    mode: proportional\n    sampling_percentage: 50";
    let mut collector = start_kakehashi(
        dir.path(),
        "kakehashi",
        &otlp_to_sink_config(
            recv_grpc,
            &sink,
            processors,
            "probabilistic_sampler",
            "traces",
        ),
        &[recv_grpc],
    );
    let mut sent: Vec<(String, String)> = Vec::new();
    for _ in 0..4 {
        for s in &send_py_traces(recv_grpc) {
            sent.push((
                s["trace_id"].as_str().unwrap().to_string(),
                s["span_id"].as_str().unwrap().to_string(),
            ));
        }
    }
    let mut want: Vec<&str> = sent
        .iter()
        .filter(|(tid, _)| u64::from_str_radix(&tid[18..], 16).unwrap() >= 1 << 55)
        .map(|(_, sid)| sid.as_str())
        .collect();
    want.sort();
    poll_until(Duration::from_secs(15), || {
        (sink_items(&sink, "traces").len() >= want.len()).then_some(())
    })
    .unwrap_or_else(|| panic!("{} spans\n{}", want.len(), collector.output_tail(4000)));
    // Let anything that should not have been kept arrive too.
    std::thread::sleep(Duration::from_millis(500));
    let got = sink_items(&sink, "traces");
    let mut kept: Vec<&str> = got
        .iter()
        .map(|i| i.item["spanId"].as_str().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, want, "sent {sent:?}");
    for i in &got {
        assert_eq!(i.item["traceState"], "ot=th:8", "{}", i.item);
    }
    collector.assert_running();
}

/// `tail_sampling` keeps whole traces by a policy over all their spans: of each `send.py` run's
/// two traces, the one with an ERROR span (its OK parent too) arrives after `decision_wait`,
/// the other never. A trace still waiting when the collector stops is decided then, not lost.
#[test]
fn tail_sampling_keeps_whole_traces_with_an_error() {
    let dir = tempfile::Builder::new()
        .prefix("kakehashi-ts-")
        .tempdir()
        .unwrap();
    let sink = Sink::start(dir.path());
    let recv_grpc = free_port();
    let processors = "  tail_sampling:\n    decision_wait: 3s\n    policies:\n      - name: errors\n        type: status_code\n        status_code: {status_codes: [ERROR]}";
    let config = otlp_to_sink_config(recv_grpc, &sink, processors, "tail_sampling", "traces");
    let mut collector = start_kakehashi(dir.path(), "kakehashi", &config, &[recv_grpc]);
    let send = || send_py_traces(recv_grpc);
    // [link target (its own trace, no error), parent (OK), child (ERROR)].
    let first = send();
    let second = send();
    let span_ids = |runs: &[&Vec<serde_json::Value>]| {
        let mut ids: Vec<String> = runs
            .iter()
            .flat_map(|spans| &spans[1..])
            .map(|s| s["span_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let want = span_ids(&[&first, &second]);
    let got = poll_until(Duration::from_secs(15), || {
        let items = sink_items(&sink, "traces");
        (items.len() >= want.len()).then_some(items)
    })
    .unwrap_or_else(|| panic!("{} spans\n{}", want.len(), collector.output_tail(4000)));
    // The link targets' traces are decided in the same tick: nothing more may come.
    std::thread::sleep(Duration::from_millis(1500));
    let mut kept: Vec<String> = sink_items(&sink, "traces")
        .iter()
        .map(|i| i.item["spanId"].as_str().unwrap().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, want, "got {} at first", got.len());
    for i in sink_items(&sink, "traces") {
        assert_eq!(
            attr(&i.resource["attributes"], "service.name").unwrap()["stringValue"],
            "interop-test",
            "the resource travels with the spans"
        );
    }

    // Sent, then the collector stops before the decision is due: decided at shutdown.
    let third = send();
    collector.terminate(Duration::from_secs(20));
    let mut kept: Vec<String> = sink_items(&sink, "traces")
        .iter()
        .map(|i| i.item["spanId"].as_str().unwrap().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, span_ids(&[&first, &second, &third]));
}
