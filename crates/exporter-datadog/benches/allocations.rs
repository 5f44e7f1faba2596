//! Heap allocations per span in each stage of the Datadog path, counted with dhat on the same
//! request as the `datadog` bench. Run:
//! `cargo bench -p kakehashi-exporter-datadog --bench allocations`.
//!
//! The profile of scenario a spends ~11 % in mimalloc's allocation fast path and more in frees
//! (docs/performance.md); this says which stage makes those allocations. Counts, not times: they
//! do not depend on the machine.

use kakehashi_datadog_translate::translate;
use kakehashi_exporter_datadog::payload::{
    build_measured_payloads, gzip, DEFAULT_GZIP_LEVEL, MAX_PAYLOAD_BYTES,
};
use kakehashi_pdata::ExportTraceServiceRequest;
use prost::Message;
use std::time::SystemTime;

mod common;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Blocks and bytes allocated while `f` runs, and its result.
fn counted<T>(f: impl FnOnce() -> T) -> (u64, u64, T) {
    let before = dhat::HeapStats::get();
    let out = f();
    let after = dhat::HeapStats::get();
    (
        after.total_blocks - before.total_blocks,
        after.total_bytes - before.total_bytes,
        out,
    )
}

fn main() {
    // Criterion's flags (`--bench`, filters) are accepted and ignored: this prints one table.
    let _profiler = dhat::Profiler::builder().testing().build();
    let spans = common::SPANS as f64;
    let body = common::request().encode_to_vec();
    let (cfg, agent) = (common::translate_config(), common::agent_info());
    let now = SystemTime::now();
    let mut stats = common::warm_stats_aggregator(now);

    let mut rows = Vec::new();
    let (b, n, req) = counted(|| ExportTraceServiceRequest::decode(&body[..]).unwrap());
    rows.push(("OTLP decode (prost, from one slice)", b, n));
    let (b, n, translated) = counted(|| translate(&req, &cfg));
    rows.push((
        "translate (OTLP → Datadog spans, obfuscation, agent rules)",
        b,
        n,
    ));
    let (b, n, ()) = counted(|| {
        translated
            .tracer_payloads
            .iter()
            .for_each(|tp| stats.add(tp, now))
    });
    rows.push(("APM stats (libdd concentrator, warm buckets)", b, n));
    let (b, n, encoded) = counted(|| {
        build_measured_payloads(&agent, translated.tracer_payloads, MAX_PAYLOAD_BYTES)
            .iter()
            .map(|p| p.encode())
            .collect::<Vec<_>>()
    });
    rows.push(("cut + encode AgentPayloads", b, n));
    let (b, n, _) = counted(|| {
        encoded
            .iter()
            .map(|e| gzip(e, DEFAULT_GZIP_LEVEL))
            .collect::<Vec<_>>()
    });
    rows.push(("gzip level 1", b, n));

    println!("{:<60} {:>12} {:>12}", "stage", "allocs/span", "bytes/span");
    let (mut tb, mut tn) = (0, 0);
    for (stage, b, n) in rows {
        println!(
            "{stage:<60} {:>12.1} {:>12.0}",
            b as f64 / spans,
            n as f64 / spans
        );
        tb += b;
        tn += n;
    }
    println!(
        "{:<60} {:>12.1} {:>12.0}",
        "total",
        tb as f64 / spans,
        tn as f64 / spans
    );
}
