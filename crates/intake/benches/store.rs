//! The store with 100k spans (10k traces of 10 spans, stored as 100 payloads of 100 traces):
//! the trace list's pages under each filter, and one trace's spans. Prints the query plans, and
//! refuses to run if a list query sorts instead of walking an index.
//!
//! `cargo bench -p kakehashi-intake --bench store -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kakehashi_intake::store::{Store, TraceQuery};
use libdd_trace_protobuf::pb;

const TRACES: u64 = 10_000;
const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_PAYLOAD: u64 = 100;
const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

const ROOTS: [(&str, &str); 8] = [
    ("frontend", "GET /"),
    ("frontend", "GET /product/{id}"),
    ("frontend", "POST /cart/checkout"),
    ("api-gateway", "GET /api/v1/orders/{id}"),
    ("api-gateway", "POST /api/v1/orders"),
    ("search", "GET /search"),
    ("accounts", "POST /login"),
    ("inventory", "GET /stock/{sku}"),
];

fn span(t: u64, k: u64, parent: u64, service: &str, name: &str, resource: &str) -> pb::Span {
    let start = T0 + t as i64 * 50 * MS + k as i64 * MS;
    let error = t % 50 == 7 && k == SPANS_PER_TRACE - 1;
    let mut meta = HashMap::from([
        ("env".to_string(), "prod".to_string()),
        ("version".to_string(), "2.14.3".to_string()),
        (
            "span.kind".to_string(),
            if parent == 0 { "server" } else { "client" }.to_string(),
        ),
        (
            "http.url".to_string(),
            format!("https://shop.example.com/{t}/{k}?page=2"),
        ),
        (
            "k8s.pod.name".to_string(),
            format!("{service}-7d9f8b6c5-x2kqp"),
        ),
        (
            "otel.library.name".to_string(),
            "opentelemetry-instrumentation".to_string(),
        ),
    ]);
    if error {
        meta.insert("error.msg".into(), "connection refused".into());
    }
    pb::Span {
        service: service.into(),
        name: name.into(),
        resource: resource.into(),
        trace_id: t.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        span_id: t * 100 + k + 1,
        parent_id: parent,
        start,
        duration: (20 - k as i64) * MS,
        error: i32::from(error),
        meta,
        metrics: HashMap::from([
            ("_sampling_priority_v1".to_string(), 1.0),
            (
                "_dd.top_level".to_string(),
                f64::from(u8::from(parent == 0)),
            ),
        ]),
        r#type: "web".into(),
        ..Default::default()
    }
}

/// A root and nine children: four calls to backends, five database queries.
fn trace(t: u64) -> Vec<pb::Span> {
    let (svc, res) = ROOTS[(t % ROOTS.len() as u64) as usize];
    let root = t * 100 + 1;
    let mut spans = vec![span(t, 0, 0, svc, "http.server.request", res)];
    for k in 1..SPANS_PER_TRACE {
        let s = if k < 5 {
            let backend = ["cart", "payments", "catalog", "recommendations"][k as usize - 1];
            span(
                t,
                k,
                root,
                backend,
                "grpc.client",
                &format!("{backend}.Service/Call"),
            )
        } else {
            span(
                t,
                k,
                root,
                "postgres",
                "postgresql.query",
                "SELECT * FROM orders WHERE id = ?",
            )
        };
        spans.push(s);
    }
    spans
}

fn payload(first: u64) -> pb::AgentPayload {
    pb::AgentPayload {
        host_name: "bench".into(),
        env: "none".into(),
        tracer_payloads: vec![pb::TracerPayload {
            language_name: "go".into(),
            tracer_version: "otel-1.32.0".into(),
            chunks: (first..first + TRACES_PER_PAYLOAD)
                .map(|t| pb::TraceChunk {
                    priority: 1,
                    spans: trace(t),
                    ..Default::default()
                })
                .collect(),
            env: "prod".into(),
            hostname: "ip-10-12-34-56".into(),
            app_version: "2.14.3".into(),
            ..Default::default()
        }],
        agent_version: "bench".into(),
        ..Default::default()
    }
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store opens");
    let started = Instant::now();
    for p in 0..TRACES / TRACES_PER_PAYLOAD {
        store
            .insert_agent_payload(&payload(p * TRACES_PER_PAYLOAD), T0)
            .expect("payload stored");
    }
    let summary = store.summary().expect("summary");
    assert_eq!(summary.spans as u64, TRACES * SPANS_PER_TRACE);
    eprintln!(
        "stored {} spans / {} traces in {:.2?} ({} MB)",
        summary.spans,
        summary.traces,
        started.elapsed(),
        summary.db_bytes >> 20
    );

    let page = |q: TraceQuery| TraceQuery { limit: 50, ..q };
    let deep_cursor = {
        let mut q = page(TraceQuery::default());
        q.limit = 1000;
        let mut cursor = None;
        for _ in 0..5 {
            q.cursor = cursor;
            cursor = store.list_traces(&q).expect("list").next_cursor;
        }
        cursor
    };
    let queries = [
        ("first_page", page(TraceQuery::default())),
        (
            "service_root",
            page(TraceQuery {
                service: Some("inventory".into()),
                ..Default::default()
            }),
        ),
        (
            "service_child",
            page(TraceQuery {
                service: Some("postgres".into()),
                ..Default::default()
            }),
        ),
        (
            "q_text",
            page(TraceQuery {
                q: Some("checkout".into()),
                ..Default::default()
            }),
        ),
        (
            "q_text_no_match",
            page(TraceQuery {
                q: Some("no such resource".into()),
                ..Default::default()
            }),
        ),
        (
            "errors_only",
            page(TraceQuery {
                errors_only: true,
                ..Default::default()
            }),
        ),
        (
            "page_after_5000",
            page(TraceQuery {
                cursor: deep_cursor,
                ..Default::default()
            }),
        ),
    ];
    for (name, q) in &queries {
        let plan = store.list_traces_plan(q).expect("plan");
        eprintln!("plan {name}: {}", plan.join(" | "));
        assert!(
            !plan.iter().any(|s| s.contains("TEMP B-TREE")),
            "{name} sorts all matches: {plan:?}"
        );
        let n = store.list_traces(q).expect("list").traces.len();
        assert!(n > 0 || *name == "q_text_no_match", "{name} lists nothing");
    }

    let mut group = c.benchmark_group("store_100k_spans");
    for (name, q) in &queries {
        group.bench_function(format!("list_traces/{name}"), |b| {
            b.iter(|| black_box(store.list_traces(black_box(q)).expect("list")))
        });
    }
    let id = 4242u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    assert_eq!(
        store
            .get_trace(id)
            .expect("get")
            .expect("found")
            .spans
            .len() as u64,
        SPANS_PER_TRACE
    );
    group.bench_function("get_trace", |b| {
        b.iter(|| black_box(store.get_trace(black_box(id)).expect("get")))
    });
    group.bench_function("summary", |b| {
        b.iter(|| black_box(store.summary().expect("summary")))
    });
    // One more exporter-sized payload (100 traces, 1000 spans) into the full store; new ids
    // each time, so every iteration is a real insert.
    let mut next = TRACES;
    group.bench_function("insert_payload_1000_spans", |b| {
        b.iter_batched(
            || {
                next += TRACES_PER_PAYLOAD;
                payload(next)
            },
            |p| store.insert_agent_payload(&p, T0).expect("payload stored"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
