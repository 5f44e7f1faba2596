//! The OTTL processors per span: `filter` with the health-check conditions of
//! config/examples/drop-health-checks.yaml, and `transform` with a typical set of statements,
//! each on a 100-span request (none of the spans is dropped, so every condition runs).
//! Run: `cargo bench -p kakehashi-processors --bench ottl`.

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kakehashi_component::{Batch, BuildContext, ConsumeError, Consumer};
use kakehashi_config::{decode_yaml, ComponentId};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::ExportTraceServiceRequest;
use kakehashi_processors::filter::FilterProcessor;
use kakehashi_processors::transform::TransformProcessor;
use kakehashi_processors::{FilterConfig, TransformConfig};
use kakehashi_telemetry::Telemetry;
use std::sync::Arc;

const SPANS: usize = 100;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request() -> Batch {
    let spans = (0..SPANS)
        .map(|i| Span {
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /api/v1/orders/{i}?page=2"),
            kind: 2,
            attributes: (0..15)
                .map(|a| kv(&format!("app.attr.{a}"), &format!("value-{a}-{i}")))
                .chain([
                    kv("http.route", "/api/v1/orders/{id}"),
                    kv("url.path", "/api/v1/orders/42"),
                    kv("user.email", "someone@example.com"),
                ])
                .collect(),
            ..Default::default()
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
        .build()
        .unwrap();
    let ctx = BuildContext::new(ComponentId::new("filter", None), Telemetry::new());
    let filter_cfg: FilterConfig = decode_yaml(
        "processors::filter",
        r#"
traces:
  span:
    - 'attributes["http.route"] == "/health" or attributes["http.route"] == "/ready"'
    - 'kind == SPAN_KIND_SERVER and IsMatch(attributes["url.path"], "^/(healthz|livez|readyz)$")'
"#,
    )
    .unwrap();
    let filter = FilterProcessor::new(&filter_cfg, &ctx, Arc::new(Discard)).unwrap();
    let transform_cfg: TransformConfig = decode_yaml(
        "processors::transform",
        r#"
trace_statements:
  - 'set(resource.attributes["team"], "payments")'
  - 'replace_pattern(span.name, "\\?.*", "")'
  - 'set(span.attributes["env"], resource.attributes["deployment.environment"])'
  - 'replace_all_patterns(span.attributes, "value", "^[^@]+@", "***@")'
  - 'delete_key(span.attributes, "app.attr.3") where span.kind == SPAN_KIND_SERVER'
"#,
    )
    .unwrap();
    let transform = TransformProcessor::new(&transform_cfg, Arc::new(Discard)).unwrap();

    let mut g = c.benchmark_group("ottl");
    g.throughput(Throughput::Elements(SPANS as u64));
    // Building and freeing the request alone: subtract it from the two below.
    g.bench_function("baseline_free_request", |b| {
        b.iter_batched(
            request,
            |batch| rt.block_on(Discard.consume(batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("filter_health_checks", |b| {
        b.iter_batched(
            request,
            |batch| rt.block_on(filter.consume(batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("transform_five_statements", |b| {
        b.iter_batched(
            request,
            |batch| rt.block_on(transform.consume(batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
