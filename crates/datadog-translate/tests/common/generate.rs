//! Generated OTLP trace requests for differential tests: resources, spans and scopes drawing
//! their attributes from the same keys in every combination (keys the agent steps read by
//! name, repeated keys, empty values, oversized keys and values, peer tags), with a
//! deterministic generator. Included with `#[path]` by the tests that compare two
//! translations.

use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use kakehashi_pdata::ExportTraceServiceRequest;

/// Keys that resources, spans and scopes draw from: ordinary ones, ones the trace-agent steps
/// read or rewrite by name, ones the OTel → Datadog mapping renames, and peer tags.
const KEYS: &[&str] = &[
    "host.name",
    "k8s.pod.name",
    "k8s.namespace.name",
    "cloud.region",
    "team",
    "custom.a",
    "custom.b",
    "service.version",
    "deployment.environment.name",
    "env",
    "version",
    "span.kind",
    "error.msg",
    "error.type",
    "error.stack",
    "otel.status_description",
    "w3c.tracestate",
    "mongodb.query",
    "db.name",
    "db.system",
    "db.system.name",
    "db.type",
    "db.statement",
    "db.query.text",
    "rpc.system",
    "rpc.system.name",
    "rpc.grpc.status_code",
    "grpc.code",
    "rpc.response.status_code",
    "url.template",
    "gen_ai.system",
    "_dd.measured",
    "otel.scope.name",
    "sql.query",
    "http.url",
    "url.full",
    "http.method",
    "http.request.method",
    "http.status_code",
    "http.response.status_code",
    "http.route",
    "peer.service",
    "_dd.base_service",
    "_dd.origin",
    "_dd.hostname",
    "_dd.p.dm",
    "analytics.event",
    "otel.status_code",
    "otel.library.name",
    "events",
    "redis.raw_command",
    "server.address",
    "http.request.header.x-id",
];

/// xorshift64*: deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn value(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::StringValue(String::new()),
        1 => Value::IntValue(rng.below(700) as i64),
        2 => Value::BoolValue(rng.chance(50)),
        3 => Value::StringValue("x".repeat(25_001)),
        4 => Value::StringValue("SELECT * FROM t WHERE id = 42".into()),
        5 => Value::StringValue("http://user:pw@example.com/a/1?q=2".into()),
        // Values that select a span type or a guarded candidate.
        6 => Value::StringValue("postgresql".into()),
        7 => Value::StringValue("grpc".into()),
        _ => Value::StringValue(format!("v{}", rng.below(5))),
    }
}

fn attributes(rng: &mut Rng, max: usize) -> Vec<KeyValue> {
    let n = rng.below(max + 1);
    let mut out: Vec<KeyValue> = (0..n)
        .map(|_| {
            let key = KEYS[rng.below(KEYS.len())];
            kv(key, value(rng))
        })
        .collect();
    if rng.chance(10) {
        out.push(kv(&"k".repeat(198), Value::StringValue("long key".into())));
    }
    out
}

fn resource(rng: &mut Rng) -> Vec<KeyValue> {
    let mut attrs = attributes(rng, 24);
    attrs.push(kv("service.name", Value::StringValue("svc".into())));
    if rng.chance(10) {
        // More entries than a payload shares.
        attrs.extend((0..70).map(|i| kv(&format!("extra.{i}"), Value::IntValue(i))));
    }
    attrs
}

fn span(rng: &mut Rng, trace: u8, id: u8) -> Span {
    let kinds = [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Internal,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    Span {
        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, trace],
        span_id: vec![0, 0, 0, 0, 0, 0, 1, id],
        parent_span_id: if id == 0 {
            Vec::new()
        } else {
            vec![0, 0, 0, 0, 0, 0, 1, rng.below(id as usize) as u8]
        },
        name: format!("op{}", rng.below(3)),
        kind: kinds[rng.below(kinds.len())] as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_001_000_000,
        attributes: attributes(rng, 8),
        // A head sampler's probability (the span's `_sample_rate`) on some spans.
        trace_state: if rng.chance(20) { "ot=th:8" } else { "" }.into(),
        status: rng.chance(30).then(|| Status {
            code: StatusCode::Error as i32,
            message: if rng.chance(50) {
                "boom".into()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    }
}

pub fn request(rng: &mut Rng) -> ExportTraceServiceRequest {
    let resource_spans = (0..1 + rng.below(3))
        .map(|_| ResourceSpans {
            resource: Some(Resource {
                attributes: resource(rng),
                ..Default::default()
            }),
            scope_spans: (0..1 + rng.below(2))
                .map(|_| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: if rng.chance(50) { "1.0" } else { "" }.into(),
                        attributes: attributes(rng, 2),
                        ..Default::default()
                    }),
                    spans: (0..1 + rng.below(6))
                        .map(|i| {
                            let trace = 1 + rng.below(2) as u8;
                            span(rng, trace, i as u8)
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}
