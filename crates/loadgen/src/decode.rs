//! `loadgen decode`: the decode-only limit of the same requests `send` would produce.

use crate::report::{round, DecodeReport};
use crate::send::{templates, TEMPLATE_VARIANTS};
use kakehashi_telemetry::process::process_cpu_seconds;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Seed of the decoded requests (the data does not depend on it in any way that matters here).
const SEED: u64 = 1;

/// Prost-decodes stamped requests of `batch_size` spans in a loop on this thread for
/// `duration`, counting the decoded spans.
pub fn run(batch_size: u64, duration: Duration) -> DecodeReport {
    let requests: Vec<Vec<u8>> = templates(SEED, batch_size, TEMPLATE_VARIANTS)
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.stamp(
                SEED,
                1 + i as u64 * batch_size,
                1 + i as u64 * batch_size,
                1_700_000_000_000_000_000,
            )
        })
        .collect();
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut spans = 0u64;
    while start.elapsed() < duration {
        for bytes in &requests {
            spans += decode_spans(black_box(bytes));
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_start;
    DecodeReport {
        mode: "decode",
        batch_size,
        spans,
        cpu_s: round(cpu, 3),
        wall_s: round(wall, 3),
        spans_per_cpu_s: if cpu > 0.0 {
            round(spans as f64 / cpu, 0)
        } else {
            0.0
        },
        ns_per_span: if spans > 0 {
            round(cpu * 1e9 / spans as f64, 1)
        } else {
            0.0
        },
    }
}

/// Decodes one request and returns its span count.
pub fn decode_spans(bytes: &[u8]) -> u64 {
    let request =
        ExportTraceServiceRequest::decode(bytes).expect("templates encode valid requests");
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum();
    drop(black_box(request));
    spans
}
