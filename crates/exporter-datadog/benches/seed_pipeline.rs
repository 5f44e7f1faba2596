//! The seed pipeline end to end, in one process: an OTLP/gRPC client sends the realistic
//! 1,000-span request to the `otlp` receiver; `resource` and `batch/datadog` (the seed's settings)
//! process it; the `datadog` exporter translates, computes stats, gzips and POSTs it to a
//! loopback intake that decodes every AgentPayload and counts its spans. One iteration ends when
//! all 1,000 spans were counted at the intake.
//! Run: `cargo bench -p kakehashi-exporter-datadog --bench seed_pipeline`.
//!
//! The client's encoding and the intake's decoding run in the same process (on other threads),
//! so this is an upper bound of the collector's own cost; the load harness (step 5) measures the
//! collector process alone against rotel.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kakehashi_config::{load, ConfigSource, ProcessEnv};
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use kakehashi_pipeline::{resolve, BuildOptions, Factories, Topology};
use libdd_trace_protobuf::pb;
use prost::Message;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

/// The collector's allocator (crates/collector/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use common::{request, SPANS};

fn factories() -> Factories {
    Factories {
        receivers: vec![Arc::new(kakehashi_receiver_otlp::OtlpReceiverFactory)],
        processors: vec![
            Arc::new(kakehashi_processors::ResourceProcessorFactory),
            Arc::new(kakehashi_processors::BatchProcessorFactory),
        ],
        exporters: vec![Arc::new(kakehashi_exporter_datadog::DatadogExporterFactory)],
        extensions: Vec::new(),
        connectors: Vec::new(),
    }
}

/// The loopback intake: counts the spans of every trace payload, answers 202.
fn start_counting_intake(spans: Arc<AtomicU64>) -> String {
    let traces = move |body: axum::body::Bytes| {
        let spans = spans.clone();
        async move {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut raw)
                .expect("gzip body");
            let p = pb::AgentPayload::decode(&raw[..]).expect("AgentPayload");
            let n: usize = p
                .tracer_payloads
                .iter()
                .flat_map(|tp| &tp.chunks)
                .map(|c| c.spans.len())
                .sum();
            spans.fetch_add(n as u64, Ordering::SeqCst);
            http::StatusCode::ACCEPTED
        }
    };
    common::serve_on_thread(
        axum::Router::new()
            .route("/api/v0.2/traces", axum::routing::post(traces))
            .fallback(|| async { http::StatusCode::ACCEPTED }),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn seed_pipeline(c: &mut Criterion) {
    let delivered = Arc::new(AtomicU64::new(0));
    let intake = start_counting_intake(delivered.clone());
    let port = free_port();
    // The seed's collector config, with the key inline and the endpoints at the loopback intake.
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
processors:
  batch/datadog:
    send_batch_size: 10
    send_batch_max_size: 100
    timeout: 20s
  resource:
    attributes:
      - key: service.name
        action: insert
        value: vote-app
      - key: env
        action: insert
        value: staging
exporters:
  datadog:
    api:
      key: 0123456789abcdef0123456789abcdef
      site: ap1.datadoghq.com
    hostname: bench-collector
    traces:
      endpoint: {intake}
    metrics:
      endpoint: {intake}
    host_metadata:
      enabled: false
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, batch/datadog]
      exporters: [datadog]
"#
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let factories = factories();
    let root = load(
        &[ConfigSource::Inline {
            name: "seed".into(),
            yaml,
        }],
        &[],
        &ProcessEnv,
    )
    .expect("config loads");
    let resolved = resolve(&root, &factories).expect("config is valid");
    let telemetry = kakehashi_telemetry::Telemetry::new();
    let opts = BuildOptions {
        feature_gates: Arc::new(
            [
                "datadog.EnableOperationAndResourceNameV2",
                "datadog.EnableReceiveResourceSpansV2",
            ]
            .map(String::from)
            .into(),
        ),
        ..BuildOptions::default()
    };
    let mut topology = rt
        .block_on(async { Topology::build(&resolved, &factories, &telemetry, &opts) })
        .unwrap_or_else(|e| panic!("pipeline builds: {e:?}"));
    rt.block_on(topology.start()).expect("pipeline starts");
    let mut client = rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connects to the receiver");
        TraceServiceClient::new(channel)
    });
    let req = request();

    let mut group = c.benchmark_group("seed_pipeline");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("otlp_grpc_to_intake", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let want = delivered.load(Ordering::SeqCst) + SPANS as u64;
                    client.export(req.clone()).await.expect("export accepted");
                    while delivered.load(Ordering::SeqCst) < want {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    rt.block_on(topology.shutdown(Duration::from_secs(5)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = seed_pipeline
}
criterion_main!(benches);
