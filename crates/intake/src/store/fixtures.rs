//! Payloads shaped like the ones the datadog exporter sends, for the store tests.

use std::collections::HashMap;

use libdd_trace_protobuf::pb;

use super::Store;

pub const T0: i64 = 1_700_000_000_000_000_000;
pub const MS: i64 = 1_000_000;

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// One span with the meta and metrics the exporter's translation produces.
#[allow(clippy::too_many_arguments)]
pub fn span(
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    service: &str,
    name: &str,
    resource: &str,
    start: i64,
    duration: i64,
    error: bool,
) -> pb::Span {
    let mut meta = HashMap::from([
        ("env".to_string(), "prod".to_string()),
        ("version".to_string(), "1.4.2".to_string()),
        (
            "otel.library.name".to_string(),
            "opentelemetry.instrumentation.flask".to_string(),
        ),
        (
            "span.kind".to_string(),
            if parent_id == 0 { "server" } else { "client" }.to_string(),
        ),
    ]);
    if error {
        meta.insert("error.type".into(), "ValueError".into());
        meta.insert("error.msg".into(), "cart is empty".into());
    }
    let metrics = HashMap::from([
        ("_sampling_priority_v1".to_string(), 1.0),
        ("_dd.measured".to_string(), 1.0),
        ("process.pid".to_string(), 4242.0),
    ]);
    pb::Span {
        service: service.into(),
        name: name.into(),
        resource: resource.into(),
        trace_id,
        span_id,
        parent_id,
        start,
        duration,
        error: i32::from(error),
        meta,
        metrics,
        r#type: if name.starts_with("postgres") {
            "sql"
        } else {
            "web"
        }
        .into(),
        ..Default::default()
    }
}

pub fn tracer_payload(env: &str, spans: Vec<pb::Span>) -> pb::TracerPayload {
    pb::TracerPayload {
        container_id: "c0ffee".into(),
        language_name: "python".into(),
        language_version: "3.12.1".into(),
        tracer_version: "otel-1.27.0".into(),
        chunks: vec![pb::TraceChunk {
            priority: 1,
            origin: "lambda".into(),
            spans,
            ..Default::default()
        }],
        env: env.into(),
        hostname: "web-1".into(),
        app_version: "1.4.2".into(),
        ..Default::default()
    }
}

pub fn agent_payload(tracer_payloads: Vec<pb::TracerPayload>) -> pb::AgentPayload {
    pb::AgentPayload {
        host_name: "collector-host".into(),
        env: "none".into(),
        tracer_payloads,
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        target_tps: 10.0,
        error_tps: 10.0,
        ..Default::default()
    }
}

/// A checkout request: frontend → cart service → postgres, 4 spans, the db span failing.
pub fn checkout_trace(trace_id: u64, start: i64) -> Vec<pb::Span> {
    let base = trace_id.wrapping_mul(16);
    vec![
        span(
            trace_id,
            base + 1,
            0,
            "web-frontend",
            "flask.request",
            "GET /checkout",
            start,
            120 * MS,
            false,
        ),
        span(
            trace_id,
            base + 2,
            base + 1,
            "cart",
            "grpc.server",
            "Cart/Get",
            start + 10 * MS,
            80 * MS,
            false,
        ),
        span(
            trace_id,
            base + 3,
            base + 2,
            "postgres",
            "postgres.query",
            "SELECT * FROM carts WHERE id = ?",
            start + 20 * MS,
            30 * MS,
            true,
        ),
        span(
            trace_id,
            base + 4,
            base + 1,
            "web-frontend",
            "render",
            "checkout.html",
            start + 95 * MS,
            30 * MS,
            false,
        ),
    ]
}
