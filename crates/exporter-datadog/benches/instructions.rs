//! The Datadog path's stages as separate, never-inlined functions, run a fixed number of times on
//! the `datadog` bench's request, for counting instructions per stage with callgrind. On these
//! shared VMs wall-clock benchmarks of two builds differ by ±15 % from run to run; instruction
//! counts do not move at all, so they settle small differences that timings cannot (they do not
//! see cache misses, so a layout change still needs the in-process profile). Run:
//!
//! ```sh
//! cargo bench -p kakehashi-exporter-datadog --bench instructions --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured*' \
//!     --callgrind-out-file=/tmp/cg.out target/release/deps/instructions-<hash>
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'stage_|PROGRAM TOTALS'
//! ```
//!
//! Without valgrind it prints the wall time of each stage over the rounds.

use kakehashi_datadog_translate::{translate, TranslateConfig, Translation};
use kakehashi_exporter_datadog::payload::{
    build_measured_payloads, gzip, AgentInfo, DEFAULT_GZIP_LEVEL, MAX_PAYLOAD_BYTES,
};
use kakehashi_exporter_datadog::stats::StatsAggregator;
use kakehashi_pdata::ExportTraceServiceRequest;
use prost::Message;
use std::time::{Duration, Instant, SystemTime};

mod common;

/// The collector's allocator, so that allocation costs are those of the running collector.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: usize = 5;

#[inline(never)]
fn stage_decode(body: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(body).expect("the bench request decodes")
}

#[inline(never)]
fn stage_translate(req: &ExportTraceServiceRequest, cfg: &TranslateConfig) -> Translation {
    translate(req, cfg)
}

#[inline(never)]
fn stage_stats(t: &Translation, stats: &mut StatsAggregator, now: SystemTime) {
    t.tracer_payloads.iter().for_each(|tp| stats.add(tp, now));
}

#[inline(never)]
fn stage_encode(t: Translation, agent: &AgentInfo) -> Vec<Vec<u8>> {
    build_measured_payloads(agent, t.tracer_payloads, MAX_PAYLOAD_BYTES)
        .iter()
        .map(|p| p.encode())
        .collect()
}

#[inline(never)]
fn stage_gzip(bodies: &[Vec<u8>]) -> usize {
    bodies
        .iter()
        .map(|b| gzip(b, DEFAULT_GZIP_LEVEL).len())
        .sum()
}

#[inline(never)]
fn stage_free_request(req: ExportTraceServiceRequest) {
    drop(req);
}

/// Every stage `ROUNDS` times; callgrind collects inside this function only.
#[inline(never)]
fn measured(
    body: &[u8],
    cfg: &TranslateConfig,
    agent: &AgentInfo,
    stats: &mut StatsAggregator,
    now: SystemTime,
    times: &mut [Duration; 6],
) -> usize {
    let mut compressed = 0;
    for _ in 0..ROUNDS {
        let mut timed = |i: usize, start: Instant| times[i] += start.elapsed();
        let t0 = Instant::now();
        let req = stage_decode(body);
        timed(0, t0);
        let t0 = Instant::now();
        let translated = stage_translate(&req, cfg);
        timed(1, t0);
        let t0 = Instant::now();
        stage_stats(&translated, stats, now);
        timed(2, t0);
        let t0 = Instant::now();
        let bodies = stage_encode(translated, agent);
        timed(3, t0);
        let t0 = Instant::now();
        compressed += stage_gzip(&bodies);
        timed(4, t0);
        let t0 = Instant::now();
        stage_free_request(req);
        timed(5, t0);
    }
    compressed
}

fn main() {
    // Criterion's flags (`--bench`, filters) are accepted and ignored.
    let body = common::request().encode_to_vec();
    let (cfg, agent) = (common::translate_config(), common::agent_info());
    let now = SystemTime::now();
    let mut stats = common::warm_stats_aggregator(now);

    let mut times = [Duration::ZERO; 6];
    let compressed = measured(&body, &cfg, &agent, &mut stats, now, &mut times);
    let per_span = |d: Duration| d.as_secs_f64() * 1e6 / (ROUNDS * common::SPANS) as f64;
    println!(
        "{ROUNDS} rounds of {} spans, {compressed} bytes gzipped",
        common::SPANS
    );
    for (stage, d) in [
        "decode",
        "translate",
        "stats",
        "encode",
        "gzip",
        "free request",
    ]
    .iter()
    .zip(times)
    {
        println!("{stage:<14} {:>8.2} µs/span", per_span(d));
    }
}
