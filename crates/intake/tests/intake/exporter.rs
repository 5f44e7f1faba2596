//! The real `datadog` exporter, built as the collector builds it, pointed at the intake.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kakehashi_component::{AnyConfig, Batch, BuildContext, ExporterFactory};
use kakehashi_config::{ComponentId, Validate};
use kakehashi_exporter_datadog::{DatadogConfig, DatadogExporterFactory};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{
    span::SpanKind, status, ResourceSpans, ScopeSpans, Span, Status,
};
use kakehashi_pdata::{ExportTraceServiceRequest, Signal};
use serde_json::Value;

use super::harness::*;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn int(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}

const TRACES: u8 = 3;

/// Trace `t`: a server span and two client calls, the second failing in trace 1.
fn trace(t: u8, base_ns: u64) -> Vec<Span> {
    let trace_id = [[0x5a; 8], [0x10 + t; 8]].concat();
    let id = |n: u8| vec![t + 1, n, 0, 0, 0, 0, 0, 1];
    let start = base_ns + u64::from(t) * 5_000_000;
    let error = t == 1;
    let status_of = |failed: bool| Status {
        code: if failed {
            status::StatusCode::Error
        } else {
            status::StatusCode::Ok
        } as i32,
        message: if failed {
            "payment declined".into()
        } else {
            String::new()
        },
    };
    vec![
        Span {
            trace_id: trace_id.clone(),
            span_id: id(1),
            name: "GET /orders/{id}".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 80_000_000,
            attributes: vec![
                s("http.request.method", "GET"),
                s("http.route", "/orders/{id}"),
                int("http.response.status_code", if error { 500 } else { 200 }),
            ],
            status: Some(status_of(error)),
            ..Default::default()
        },
        Span {
            trace_id: trace_id.clone(),
            span_id: id(2),
            parent_span_id: id(1),
            name: "SELECT orders".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: start + 5_000_000,
            end_time_unix_nano: start + 25_000_000,
            attributes: vec![
                s("db.system", "postgresql"),
                s("db.statement", "SELECT * FROM orders WHERE id = $1"),
            ],
            ..Default::default()
        },
        Span {
            trace_id,
            span_id: id(3),
            parent_span_id: id(1),
            name: "POST".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: start + 30_000_000,
            end_time_unix_nano: start + 75_000_000,
            attributes: vec![
                s("http.request.method", "POST"),
                s("url.full", "https://payments.internal/charge"),
                int("http.response.status_code", if error { 402 } else { 200 }),
            ],
            status: Some(status_of(error)),
            ..Default::default()
        },
    ]
}

fn request(base_ns: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "orders"),
                    s("service.version", "3.1.0"),
                    s("deployment.environment", "e2e"),
                    s("host.name", "orders-host"),
                    s("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..TRACES).flat_map(|t| trace(t, base_ns)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn u64_be(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_datadog_exporter_delivers_to_the_intake() {
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start(dir.path(), |_| {}).await;
    let yaml = format!(
        "api:\n  key: 0123456789abcdef0123456789abcdef\n\
         hostname: e2e-collector\n\
         traces:\n  endpoint: {base}\n\
         metrics:\n  endpoint: {base}\n\
         host_metadata:\n  enabled: false\n",
        base = intake.base
    );
    // No host metadata: describing the machine would ask EC2's metadata address, and a test
    // in this process cannot point that at 127.0.0.1 (the binary's tests do).
    let cfg: DatadogConfig = kakehashi_config::decode_yaml("exporters::datadog", &yaml)
        .unwrap_or_else(|e| panic!("config decodes: {e:?}"));
    let errs = cfg.validate();
    assert!(errs.is_empty(), "config is valid: {errs:?}");
    let mut ctx = BuildContext::new(
        ComponentId::new("datadog", None),
        kakehashi_telemetry::Telemetry::new(),
    );
    // As the binary enables them by default.
    ctx.feature_gates = Arc::new(BTreeSet::from([
        "datadog.EnableOperationAndResourceNameV2".to_string(),
        "datadog.EnableReceiveResourceSpansV2".to_string(),
    ]));
    let any: AnyConfig = Box::new(cfg);
    let exporter = match DatadogExporterFactory.build(&ctx, &any, Signal::Traces) {
        Ok(b) => b.exporter,
        Err(e) => panic!("exporter builds: {}", e.0),
    };
    exporter.start().await.expect("exporter starts");
    let base_ns = u64::try_from(now_ns()).unwrap() - 2_000_000_000;
    let req = request(base_ns);
    let sent: Vec<Span> = req.resource_spans[0].scope_spans[0].spans.clone();
    exporter
        .export(&Batch::new(req))
        .await
        .expect("the intake accepts the traces");
    // Flushes the APM stats of the open buckets.
    exporter.shutdown().await;

    let list = intake.get_ok("/api/traces?limit=100").await;
    let traces = list["traces"].as_array().unwrap();
    assert_eq!(traces.len(), usize::from(TRACES), "{list}");
    for t in traces {
        assert_eq!(t["service"], "orders");
        assert_eq!(t["env"], "e2e");
        assert_eq!(t["span_count"], 3);
        assert_eq!(t["duration_ms"], 80.0);
        assert!(t["resource"].as_str().unwrap().contains("/orders/"), "{t}");
    }
    let errors = intake.get_ok("/api/traces?errors=1").await;
    assert_eq!(errors["traces"].as_array().unwrap().len(), 1);

    // Every span arrived, under its OTLP ids (Datadog keeps the low 64 bits of the trace id).
    let mut by_trace: HashMap<u64, Vec<&Span>> = HashMap::new();
    for sp in &sent {
        by_trace
            .entry(u64_be(&sp.trace_id[8..]))
            .or_default()
            .push(sp);
    }
    for (trace_id, spans) in by_trace {
        let detail = intake.get_ok(&format!("/api/traces/{trace_id}")).await;
        let got: BTreeSet<String> = detail["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["span_id"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = spans
            .iter()
            .map(|s| u64_be(&s.span_id).to_string())
            .collect();
        assert_eq!(got, want);
        for sp in detail["spans"].as_array().unwrap() {
            assert_eq!(sp["meta"]["env"], "e2e", "{sp}");
            assert_eq!(sp["meta"]["version"], "3.1.0", "{sp}");
            if sp["parent_id"] == "0" {
                assert_eq!(sp["metrics"]["_top_level"], 1.0, "{sp}");
            }
        }
    }

    // APM stats: each root span is one hit of the server resource.
    let services = intake.get_ok("/api/services").await;
    let svc = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "orders")
        .unwrap_or_else(|| panic!("orders in {services}"));
    assert_eq!(svc["env"], "e2e");
    let root = svc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with("GET /orders/"))
        })
        .unwrap_or_else(|| panic!("the server resource in {svc}"));
    assert_eq!(
        (root["hits"].as_u64(), root["errors"].as_u64()),
        (Some(3), Some(1)),
        "{root}"
    );
    assert!(
        root["p50_ms"]
            .as_f64()
            .is_some_and(|p| (p - 80.0).abs() <= 1.0),
        "{root}"
    );

    // Nothing the exporter sent was refused.
    let summary = intake.get_ok("/api/summary").await;
    let refused: Vec<&Value> = summary["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !(200..300).contains(&p["status"].as_i64().unwrap()))
        .collect();
    assert!(refused.is_empty(), "{summary}");
    intake.stop().await;
}
