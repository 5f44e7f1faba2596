//! The realistic request the benchmarks send: a web service's spans (HTTP server roots, HTTP
//! client and PostgreSQL children, some events and errors).
#![allow(dead_code)]

use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{
    span::{Event, SpanKind},
    status::StatusCode,
    ResourceSpans, ScopeSpans, Span, Status,
};
use kakehashi_pdata::ExportTraceServiceRequest;
use std::time::{SystemTime, UNIX_EPOCH};

pub const TRACES: usize = 100;
/// One HTTP server root, 3 HTTP client calls and 6 PostgreSQL queries per trace.
pub const SPANS_PER_TRACE: usize = 10;
pub const SPANS: usize = TRACES * SPANS_PER_TRACE;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: impl Into<String>) -> KeyValue {
    kv(k, Value::StringValue(v.into()))
}

fn i(k: &str, v: i64) -> KeyValue {
    kv(k, Value::IntValue(v))
}

pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/orders/{id}"),
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/customers/{id}"),
    ("PUT", "/api/v1/customers/{id}/address"),
    ("GET", "/api/v1/products/{sku}"),
    ("POST", "/api/v1/cart/{id}/checkout"),
    ("GET", "/healthz"),
];

pub const DOWNSTREAMS: &[(&str, &str)] = &[
    ("inventory.internal.svc", "/v2/stock"),
    ("pricing.internal.svc", "/v1/quote"),
    ("payments.example.com", "/v3/authorize"),
];

pub const QUERIES: &[&str] = &[
    "SELECT o.id, o.status, o.total_cents, o.created_at FROM orders o WHERE o.id = 84213 AND o.customer_id = 'c-9f2a71' LIMIT 1",
    "SELECT li.sku, li.qty, li.price_cents FROM line_items li WHERE li.order_id = 84213 ORDER BY li.position",
    "UPDATE orders SET status = 'paid', updated_at = '2026-11-25 10:32:11' WHERE id = 84213",
    "INSERT INTO audit_log (actor, action, payload) VALUES ('svc-checkout', 'order.paid', '{\"id\":84213,\"amount\":12999}')",
    "SELECT c.id, c.email, c.tier FROM customers c WHERE c.email = 'jane.doe@example.com'",
    "SELECT p.sku, p.name, p.price_cents FROM products p WHERE p.sku IN ('SKU-1001', 'SKU-1002', 'SKU-2040') AND p.active = true",
];

fn id_bytes(trace: usize, span: usize) -> (Vec<u8>, Vec<u8>) {
    let t = 0x5f3c_9a10_0000_0000_0000_0000_0000_0000u128 | ((trace as u128 + 1) * 0x9e37_79b9);
    let sp = ((trace as u64 + 1) << 16) | (span as u64 + 1);
    (t.to_be_bytes().to_vec(), sp.to_be_bytes().to_vec())
}

/// One trace of a web service: a server span and its client/DB children.
fn trace_spans(t: usize, base: u64) -> Vec<Span> {
    let (method, route) = ROUTES[t % ROUTES.len()];
    let id = 80_000 + t;
    let path = route
        .replace("{id}", &id.to_string())
        .replace("{sku}", "SKU-1001");
    let error = t % 20 == 7;
    let status = if error {
        500
    } else if t % 11 == 3 {
        404
    } else {
        200
    };
    let start = base + t as u64 * 3_000_000;
    let (trace_id, root_id) = id_bytes(t, 0);
    let mut spans = Vec::with_capacity(SPANS_PER_TRACE);

    let mut root_attrs = vec![
        s("http.request.method", method),
        s("http.route", route),
        s("url.full", format!("https://shop.example.com{path}?page=2&lang=en")),
        s("url.scheme", "https"),
        s("url.path", path.clone()),
        s("url.query", "page=2&lang=en"),
        i("http.response.status_code", status),
        s("network.protocol.version", "1.1"),
        s("server.address", "shop.example.com"),
        i("server.port", 443),
        s("client.address", format!("10.12.{}.{}", t % 200, (t * 7) % 250)),
        s("network.peer.address", "10.12.0.1"),
        i("network.peer.port", 51_000 + t as i64),
        s(
            "user_agent.original",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        ),
        i("http.request.body.size", if method == "GET" { 0 } else { 742 }),
        i("http.response.body.size", 1_893 + t as i64),
        s("enduser.id", format!("c-{:06x}", t * 7919)),
        s("app.tenant", "acme"),
        s("app.request_id", format!("req-{:016x}", t * 104_729)),
        s("thread.name", "tokio-runtime-worker"),
        i("thread.id", (t % 8) as i64),
        s("code.function", "handle_request"),
        s("code.namespace", "checkout::http"),
    ];
    if error {
        root_attrs.push(s("error.type", "500"));
    }
    let mut root_events = vec![Event {
        name: "request.received".into(),
        time_unix_nano: start + 50_000,
        attributes: vec![i("message.uncompressed_size", 742)],
        dropped_attributes_count: 0,
    }];
    if error {
        root_events.push(Event {
            name: "exception".into(),
            time_unix_nano: start + 2_500_000,
            attributes: vec![
                s("exception.type", "checkout::PaymentError"),
                s("exception.message", "payment authorization failed: upstream timeout"),
                s(
                    "exception.stacktrace",
                    "checkout::payments::authorize\n  at src/payments.rs:118\ncheckout::http::handle_request\n  at src/http.rs:64",
                ),
            ],
            dropped_attributes_count: 0,
        });
    }
    spans.push(Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        name: format!("{method} {route}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 2_800_000,
        attributes: root_attrs,
        events: root_events,
        status: Some(Status {
            code: if error {
                StatusCode::Error as i32
            } else {
                StatusCode::Unset as i32
            },
            message: if error {
                "payment authorization failed".into()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    });

    for (c, (host, dpath)) in DOWNSTREAMS.iter().enumerate() {
        let (_, span_id) = id_bytes(t, 1 + c);
        let cstart = start + 100_000 + c as u64 * 400_000;
        let cstatus = if error && c == 2 { 504 } else { 200 };
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id,
            parent_span_id: root_id.clone(),
            name: "POST".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: cstart,
            end_time_unix_nano: cstart + 350_000,
            attributes: vec![
                s("http.request.method", "POST"),
                s("url.full", format!("https://{host}{dpath}?order={id}")),
                s("server.address", *host),
                i("server.port", 443),
                i("http.response.status_code", cstatus),
                s("network.protocol.version", "2"),
                s("network.peer.address", format!("10.40.{c}.17")),
                i("http.request.body.size", 312),
                i("http.response.body.size", 1_204),
                s("peer.service", host.split('.').next().unwrap_or(host)),
                i("http.request.resend_count", 0),
                s("thread.name", "tokio-runtime-worker"),
            ],
            status: Some(Status {
                code: if cstatus >= 500 {
                    StatusCode::Error as i32
                } else {
                    StatusCode::Unset as i32
                },
                message: String::new(),
            }),
            ..Default::default()
        });
    }

    for q in 0..SPANS_PER_TRACE - 1 - DOWNSTREAMS.len() {
        let (_, span_id) = id_bytes(t, 1 + DOWNSTREAMS.len() + q);
        let qstart = start + 1_400_000 + q as u64 * 200_000;
        let stmt = QUERIES[(t + q) % QUERIES.len()];
        let op = stmt.split(' ').next().unwrap_or("SELECT");
        let mut events = Vec::new();
        if q == 0 && t.is_multiple_of(4) {
            events.push(Event {
                name: "pool.acquired".into(),
                time_unix_nano: qstart + 10_000,
                attributes: vec![i("db.client.connections.usage", 7)],
                dropped_attributes_count: 0,
            });
        }
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id,
            parent_span_id: root_id.clone(),
            name: format!("{op} shop"),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: qstart,
            end_time_unix_nano: qstart + 150_000,
            attributes: vec![
                s("db.system", "postgresql"),
                s("db.namespace", "shop"),
                s("db.name", "shop"),
                s("db.user", "checkout_rw"),
                s("db.operation.name", op),
                s("db.statement", stmt),
                s("server.address", "pg-primary.db.svc"),
                i("server.port", 5432),
                s("network.peer.address", "10.50.3.4"),
                s("thread.name", "tokio-runtime-worker"),
            ],
            events,
            ..Default::default()
        });
    }
    spans
}

pub fn request() -> ExportTraceServiceRequest {
    // Recent timestamps, so stats buckets and the agent's normalizer see live data.
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
        - 5_000_000_000;
    let spans: Vec<Span> = (0..TRACES).flat_map(|t| trace_spans(t, base)).collect();
    assert_eq!(spans.len(), SPANS);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "checkout"),
                    s("service.version", "2.14.3"),
                    s("service.namespace", "shop"),
                    s("service.instance.id", "checkout-7d9f8b6c5-x2kqp"),
                    s("deployment.environment", "production"),
                    s("host.name", "ip-10-12-34-56.ec2.internal"),
                    s("host.arch", "amd64"),
                    s("os.type", "linux"),
                    s("k8s.cluster.name", "prod-eu-1"),
                    s("k8s.namespace.name", "shop"),
                    s("k8s.deployment.name", "checkout"),
                    s("k8s.pod.name", "checkout-7d9f8b6c5-x2kqp"),
                    s("k8s.pod.uid", "4b7e2d0c-8f1a-4c33-9a57-2f0d5e6b1c9a"),
                    s("k8s.node.name", "ip-10-12-34-56.ec2.internal"),
                    s(
                        "container.id",
                        "3f9c1e0a7b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6",
                    ),
                    s("cloud.provider", "aws"),
                    s("cloud.region", "eu-west-1"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.language", "rust"),
                    s("telemetry.sdk.version", "0.27.1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "checkout".into(),
                    version: "2.14.3".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    }
}

/// Serves `app` on 127.0.0.1:0 from its own thread and runtime (so the loopback intake does not
/// share the measured runtime); returns its base URL.
pub fn serve_on_thread(app: axum::Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("intake runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local addr");
            tx.send(format!("http://{addr}")).expect("send addr");
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv().expect("intake address")
}

/// Who the benches' payloads say is sending.
pub fn agent_info() -> kakehashi_exporter_datadog::payload::AgentInfo {
    kakehashi_exporter_datadog::payload::AgentInfo {
        host_name: "bench-collector".into(),
        agent_version: "datadogexporter-kakehashi-bench".into(),
    }
}

/// The exporter's default translation, with the benches' collector host name.
pub fn translate_config() -> kakehashi_datadog_translate::TranslateConfig {
    kakehashi_datadog_translate::TranslateConfig {
        fallback_hostname: "bench-collector".into(),
        ..Default::default()
    }
}

/// [`stats_aggregator`] after one pass over [`request`], which creates the stats buckets and
/// aggregation keys, as a running collector has them.
pub fn warm_stats_aggregator(
    now: SystemTime,
) -> kakehashi_exporter_datadog::stats::StatsAggregator {
    let mut stats = stats_aggregator();
    let warm = kakehashi_datadog_translate::translate(&request(), &translate_config());
    warm.tracer_payloads
        .iter()
        .for_each(|tp| stats.add(tp, now));
    stats
}

/// The stats aggregator as the exporter builds it with default settings, for the benches.
pub fn stats_aggregator() -> kakehashi_exporter_datadog::stats::StatsAggregator {
    kakehashi_exporter_datadog::stats::StatsAggregator::new(stats_settings())
}

/// The exporter's default stats settings.
pub fn stats_settings() -> kakehashi_exporter_datadog::stats::StatsSettings {
    use kakehashi_exporter_datadog::stats::{StatsSettings, DEFAULT_MAX_GROUPS};
    StatsSettings {
        hostname: "bench-collector".into(),
        agent_version: "datadogexporter-kakehashi-bench".into(),
        compute_stats_by_span_kind: true,
        peer_tags_aggregation: true,
        peer_tags: Vec::new(),
        max_groups: DEFAULT_MAX_GROUPS,
        bucket_duration: kakehashi_exporter_datadog::stats::BUCKET_DURATION,
        group_by_language: true,
    }
}
