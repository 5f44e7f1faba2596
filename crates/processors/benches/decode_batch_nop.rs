//! decode → batch → nop: the floor cost of the core pipeline, per span.
//! Run: `cargo bench -p kakehashi-processors --bench decode_batch_nop`.

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kakehashi_component::{Batch, ConsumeError, Consumer, Processor};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use kakehashi_pdata::proto::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{ExportTraceServiceRequest, Signal};
use kakehashi_processors::batch::BatchProcessor;
use kakehashi_processors::BatchConfig;
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SPANS_PER_REQUEST: usize = 100;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A realistic request: HTTP server spans with ~15 attributes and one event each.
fn request_bytes() -> Vec<u8> {
    let spans = (0..SPANS_PER_REQUEST)
        .map(|i| Span {
            trace_id: (i as u128).to_be_bytes().to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /api/v1/orders/{id}".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_050_000_000 + i as u64,
            attributes: (0..15)
                .map(|a| {
                    kv(
                        &format!("http.attr.{a}"),
                        Value::StringValue(format!("value-{a}-{i}")),
                    )
                })
                .chain([kv("http.response.status_code", Value::IntValue(200))])
                .collect(),
            events: vec![Event {
                name: "cache.miss".into(),
                time_unix_nano: 1_700_000_000_010_000_000,
                attributes: vec![kv("cache.key", Value::StringValue("orders:42".into()))],
                dropped_attributes_count: 0,
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Default::default()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// Counts and discards, like the `nop` exporter.
struct Nop(AtomicUsize);

#[async_trait]
impl Consumer for Nop {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.0.fetch_add(batch.item_count(), Ordering::Relaxed);
        Ok(())
    }
}

fn decode_batch_nop(c: &mut Criterion) {
    let bytes = request_bytes();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(SPANS_PER_REQUEST as u64));
    group.bench_function("decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid"))
    });
    group.bench_function("decode_batch_nop", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let nop = Arc::new(Nop(AtomicUsize::new(0)));
                let batch = BatchProcessor::new(
                    &BatchConfig::default(),
                    Signal::Traces,
                    nop.clone(),
                    kakehashi_telemetry::Telemetry::new().batch_processor("batch"),
                );
                let start = Instant::now();
                for _ in 0..iters {
                    let req = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid");
                    batch.consume(Batch::new(req)).await.expect("accepted");
                }
                batch.shutdown().await;
                let elapsed = start.elapsed();
                assert_eq!(
                    nop.0.load(Ordering::Relaxed),
                    iters as usize * SPANS_PER_REQUEST
                );
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = decode_batch_nop
}
criterion_main!(benches);
