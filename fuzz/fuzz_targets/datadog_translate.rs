//! An arbitrary (protobuf-decoded) ExportTraceServiceRequest through the Datadog mapping:
//! `translate` (OTLP → TracerPayloads, agent processing), the AgentPayload split under the
//! intake's size limit, protobuf encoding, gzip, and the APM stats aggregation.
#![no_main]

use kakehashi_datadog_translate::{translate_at, TranslateConfig};
use kakehashi_exporter_datadog::payload::{build_measured_payloads, gzip, AgentInfo};
use kakehashi_exporter_datadog::stats::{
    encode_msgpack, StatsAggregator, StatsSettings, BUCKET_DURATION,
};
use kakehashi_pdata::ExportTraceServiceRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the naming mode, so both V1 and V2 naming are explored.
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return;
    };
    let cfg = TranslateConfig {
        span_name_as_resource_name: mode & 1 == 1,
        compute_top_level_by_span_kind: mode & 2 == 2,
        fallback_hostname: "fuzz-host".into(),
        ..TranslateConfig::default()
    };
    let out = translate_at(&req, &cfg, 1_700_000_000_000_000_000);
    let mut stats = StatsAggregator::new(StatsSettings {
        hostname: "fuzz-host".into(),
        agent_version: "datadogexporter-kakehashi-fuzz".into(),
        compute_stats_by_span_kind: mode & 8 == 8,
        peer_tags_aggregation: mode & 16 == 16,
        peer_tags: Vec::new(),
        max_groups: 16,
        bucket_duration: BUCKET_DURATION,
        group_by_language: mode & 32 == 32,
    });
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_000_000_000);
    for tp in &out.tracer_payloads {
        stats.add(tp, now);
    }
    for sp in stats.flush(now + std::time::Duration::from_secs(60), true) {
        let _ = encode_msgpack(&sp);
    }
    let info = AgentInfo {
        host_name: "fuzz-host".into(),
        agent_version: "datadogexporter-kakehashi-fuzz".into(),
    };
    // A small limit so the chunk and span splitting paths run on small inputs too.
    let max = if mode & 4 == 4 { 512 } else { 3_200_000 };
    let n_in: usize = out
        .tracer_payloads
        .iter()
        .flat_map(|tp| &tp.payload.chunks)
        .map(|c| c.spans.len())
        .sum();
    let payloads = build_measured_payloads(&info, out.tracer_payloads, max);
    let n_out: usize = payloads.iter().map(|p| p.span_count()).sum();
    assert_eq!(
        n_in, n_out,
        "splitting must neither lose nor duplicate spans"
    );
    for p in &payloads {
        let bytes = p.encode();
        // The shared resource meta appended to each span gives Go's complete spans (compared by
        // size: a NaN metric makes the messages unequal to themselves).
        assert_eq!(
            bytes.len(),
            kakehashi_datadog_translate::pb::AgentPayload::from(p.to_full()).encoded_len()
        );
        let _ = gzip(&bytes, 1);
    }
});
