//! The `tail_sampling` processor per span, its whole life: filing 1,000 spans (200 traces of
//! five spans, in ten 100-span requests) under their traces, then deciding every trace with the
//! four policies of config/examples/tail-sampling.yaml and sending the kept ones on (the
//! shutdown path, which decides what is pending at once).
//! Run: `cargo bench -p kakehashi-processors --bench tail_sampling`.

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kakehashi_component::{Batch, BuildContext, ConsumeError, Consumer, Processor};
use kakehashi_config::{decode_yaml, ComponentId};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use kakehashi_pdata::ExportTraceServiceRequest;
use kakehashi_processors::tail_sampling::TailSamplingProcessor;
use kakehashi_processors::TailSamplingConfig;
use kakehashi_telemetry::Telemetry;
use std::sync::Arc;

const REQUESTS: usize = 10;
const TRACES_PER_REQUEST: usize = 20;
const SPANS_PER_TRACE: usize = 5;
const SPANS: usize = REQUESTS * TRACES_PER_REQUEST * SPANS_PER_TRACE;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn requests() -> Vec<Batch> {
    (0..REQUESTS)
        .map(|r| {
            let spans = (0..TRACES_PER_REQUEST)
                .flat_map(|t| {
                    let trace = (r * TRACES_PER_REQUEST + t) as u128;
                    (0..SPANS_PER_TRACE).map(move |i| Span {
                        trace_id: (trace * 0x9e37_79b9_7f4a_7c15 + 1).to_be_bytes().to_vec(),
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        parent_span_id: if i == 0 {
                            vec![]
                        } else {
                            1u64.to_be_bytes().to_vec()
                        },
                        name: format!("GET /api/v1/orders/{{id}} {i}"),
                        start_time_unix_nano: 1_000_000_000 + i as u64 * 1_000_000,
                        end_time_unix_nano: 1_020_000_000 + i as u64 * 1_000_000,
                        attributes: (0..8)
                            .map(|a| kv(&format!("app.attr.{a}"), "value"))
                            .chain([kv("url.path", "/api/v1/orders/42")])
                            .collect(),
                        status: (t % 5 == 0 && i == 0).then(|| Status {
                            code: 2,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
                .collect();
            Batch::new(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![
                            kv("service.name", "orders"),
                            kv("deployment.environment", "prod"),
                        ],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })
        })
        .collect()
}

struct Discard;
#[async_trait]
impl Consumer for Discard {
    async fn consume(&self, _: Batch) -> Result<(), ConsumeError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg: TailSamplingConfig = decode_yaml(
        "processors::tail_sampling",
        r#"
decision_wait: 10s
policies:
  - name: no-health-checks
    type: drop
    drop:
      drop_sub_policy:
        - {name: health-route, type: string_attribute, string_attribute: {key: url.path, values: ["^/(health|ready|live)z?$"], enabled_regex_matching: true}}
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 500}}
  - {name: baseline, type: probabilistic, probabilistic: {sampling_percentage: 10}}
"#,
    )
    .unwrap();
    let ctx = BuildContext::new(ComponentId::new("tail_sampling", None), Telemetry::new());

    let mut g = c.benchmark_group("tail_sampling");
    g.throughput(Throughput::Elements(SPANS as u64));
    // Building and freeing the requests alone: subtract it from the one below.
    g.bench_function("baseline_free_requests", |b| {
        b.iter_batched(
            requests,
            |batches| {
                for batch in batches {
                    rt.block_on(Discard.consume(batch)).unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("file_and_decide", |b| {
        b.iter_batched(
            || {
                (
                    TailSamplingProcessor::new(&cfg, &ctx, Arc::new(Discard)),
                    requests(),
                )
            },
            |(p, batches)| {
                rt.block_on(async {
                    for batch in batches {
                        p.consume(batch).await.unwrap();
                    }
                    p.shutdown().await;
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
