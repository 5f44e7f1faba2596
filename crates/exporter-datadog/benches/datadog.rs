//! The datadog exporter's per-span cost, stage by stage, on one realistic request: a web service's
//! spans (HTTP server roots, HTTP client and PostgreSQL children, some events and errors).
//! Run: `cargo bench -p kakehashi-exporter-datadog --bench datadog`.
//!
//! * `translate`: OTLP → TracerPayloads (`kakehashi_datadog_translate::translate`).
//! * `encode`: AgentPayload assembly and protobuf encoding, uncompressed.
//! * `encode_gzip/<level>`: the same plus gzip (level 1 is what the agent and the exporter use).
//! * `stats`: feeding the TracerPayloads into the APM stats concentrator.
//! * `exporter_end_to_end`: `DatadogExporter::export` (translate + stats + split + gzip + HTTP
//!   POST) against a loopback server that answers 200 and discards bodies.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kakehashi_component::{AnyConfig, Batch, BuildContext, ExporterFactory};
use kakehashi_config::{ComponentId, Validate};
use kakehashi_datadog_translate::{translate, TranslatedPayload};
use kakehashi_exporter_datadog::encode::encode_agent_payload;
use kakehashi_exporter_datadog::payload::{
    build_agent_payloads, build_measured_payloads, gzip, MeasuredPayload, DEFAULT_GZIP_LEVEL,
    MAX_PAYLOAD_BYTES,
};
use kakehashi_exporter_datadog::{DatadogConfig, DatadogExporterFactory};
use kakehashi_pdata::Signal;
use prost::Message;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod common;

/// The collector's allocator (crates/collector/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use common::{agent_info, request, stats_settings, translate_config, SPANS, TRACES};

fn stages(c: &mut Criterion) {
    let req = request();
    let cfg = translate_config();
    let translated = translate(&req, &cfg);
    let kept: usize = translated
        .tracer_payloads
        .iter()
        .flat_map(|tp| &tp.payload.chunks)
        .map(|ch| ch.spans.len())
        .sum();
    assert_eq!(
        kept, SPANS,
        "every span survives translation (dropped: {:?})",
        translated.dropped
    );
    let agent = agent_info();
    let full: Vec<_> = translated
        .tracer_payloads
        .iter()
        .map(TranslatedPayload::to_full)
        .collect();
    let payloads = build_agent_payloads(&agent, full.clone(), MAX_PAYLOAD_BYTES);
    let encoded: Vec<Vec<u8>> = payloads.iter().map(encode_agent_payload).collect();
    let raw: usize = encoded.iter().map(Vec::len).sum();
    eprintln!(
        "input: {SPANS} spans in {TRACES} traces; OTLP request {} B ({} B/span); {} AgentPayload(s), {} B uncompressed ({} B/span)",
        req.encoded_len(),
        req.encoded_len() / SPANS,
        payloads.len(),
        raw,
        raw / SPANS
    );
    eprintln!("gzip level | compressed B | ratio (raw/compressed) | B/span");
    for level in [1u32, 6, 9] {
        let z: usize = encoded.iter().map(|e| gzip(e, level).len()).sum();
        eprintln!(
            "{level:>10} | {z:>12} | {:>22.2} | {:>6.1}",
            raw as f64 / z as f64,
            z as f64 / SPANS as f64
        );
    }

    let mut group = c.benchmark_group("datadog");
    group.throughput(Throughput::Elements(SPANS as u64));

    group.bench_function("translate", |b| b.iter(|| translate(&req, &cfg)));
    // The Datadog connector's translation: only what the APM stats read.
    let stats_cfg = kakehashi_datadog_translate::TranslateConfig {
        stats_only: Some(std::sync::Arc::new(
            kakehashi_datadog_translate::stats_only_keys(stats_settings().meta_keys()),
        )),
        ..cfg.clone()
    };
    group.bench_function("translate_stats_only", |b| {
        b.iter(|| translate(&req, &stats_cfg))
    });

    // Input ownership is part of the stage (build_agent_payloads takes the Vec), so the clone of
    // the TracerPayloads is done outside the timing.
    group.bench_function("encode", |b| {
        b.iter_batched(
            || translated.tracer_payloads.clone(),
            |tps| {
                build_measured_payloads(&agent, tps, MAX_PAYLOAD_BYTES)
                    .iter()
                    .map(MeasuredPayload::encode)
                    .collect::<Vec<_>>()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    // The same payloads with every span carrying the resource's meta entries (no SharedMeta),
    // for comparison.
    group.bench_function("encode_full", |b| {
        b.iter_batched(
            || full.clone(),
            |tps| {
                build_agent_payloads(&agent, tps, MAX_PAYLOAD_BYTES)
                    .iter()
                    .map(encode_agent_payload)
                    .collect::<Vec<_>>()
            },
            criterion::BatchSize::LargeInput,
        )
    });

    for level in [DEFAULT_GZIP_LEVEL, 6, 9] {
        group.bench_with_input(
            BenchmarkId::new("encode_gzip", level),
            &level,
            |b, &level| {
                b.iter_batched(
                    || translated.tracer_payloads.clone(),
                    |tps| {
                        build_measured_payloads(&agent, tps, MAX_PAYLOAD_BYTES)
                            .iter()
                            .map(|p| gzip(&p.encode(), level))
                            .collect::<Vec<_>>()
                    },
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }

    group.bench_function("stats", |b| {
        // As in the exporter: one long-lived aggregator; the same spans land in the same buckets.
        let mut agg = common::stats_aggregator();
        let now = SystemTime::now();
        b.iter(|| {
            for tp in &translated.tracer_payloads {
                agg.add(tp, now);
            }
        })
    });
    group.finish();
}

/// A loopback HTTP server on its own thread and runtime: 200 to everything, bodies read and
/// discarded. Returns its base URL.
fn start_sink() -> String {
    common::serve_on_thread(
        axum::Router::new().fallback(|body: axum::body::Bytes| async move {
            drop(body);
            http::StatusCode::OK
        }),
    )
}

fn end_to_end(c: &mut Criterion) {
    let base = start_sink();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let yaml = format!(
        "api:\n  key: 0123456789abcdef0123456789abcdef\n\
         hostname: bench-collector\n\
         traces:\n  endpoint: {base}\n\
         metrics:\n  endpoint: {base}\n\
         host_metadata:\n  enabled: false\n"
    );
    let cfg: DatadogConfig =
        kakehashi_config::decode_yaml("exporters::datadog", &yaml).expect("config decodes");
    let errs = cfg.validate();
    assert!(errs.is_empty(), "config is valid: {errs:?}");
    let mut ctx = BuildContext::new(
        ComponentId::new("datadog", None),
        kakehashi_telemetry::Telemetry::new(),
    );
    // As the binary enables by default (Beta gates in otelcol-contrib).
    ctx.feature_gates = Arc::new(BTreeSet::from([
        "datadog.EnableOperationAndResourceNameV2".to_string(),
        "datadog.EnableReceiveResourceSpansV2".to_string(),
    ]));
    let any: AnyConfig = Box::new(cfg);
    let built =
        match rt.block_on(async { DatadogExporterFactory.build(&ctx, &any, Signal::Traces) }) {
            Ok(built) => built,
            Err(e) => panic!("exporter builds: {}", e.0),
        };
    let exporter = built.exporter;
    rt.block_on(exporter.start()).expect("exporter starts");
    let batch = Batch::new(request());

    let mut group = c.benchmark_group("datadog");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("exporter_end_to_end", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    exporter.export(&batch).await.expect("export succeeds");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    rt.block_on(exporter.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = stages, end_to_end
}
criterion_main!(benches);
