//! The Datadog connector translates spans only for their APM stats
//! (`TranslateConfig::stats_only`): a span's own attributes go into its meta only under the keys
//! the stats and the translation's later steps read. For generated requests whose attributes
//! draw on those keys, the peer tags and ordinary ones in every combination, the stats of that
//! translation must equal the stats of the whole translation, under the settings that change
//! what is read (peer tags on and off, a configured peer tag, top-level by span kind, V1 naming).

#[path = "../../datadog-translate/tests/common/generate.rs"]
mod generate;

use generate::{request, Rng};
use kakehashi_datadog_translate::{pb, stats_only_keys, translate_at, TranslateConfig};
use kakehashi_exporter_datadog::stats::{
    StatsAggregator, StatsSettings, BUCKET_DURATION, DEFAULT_MAX_GROUPS,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const NOW: i64 = 1_700_000_000_000_000_000;

fn settings(peer_tags_aggregation: bool) -> StatsSettings {
    StatsSettings {
        hostname: String::new(),
        agent_version: String::new(),
        compute_stats_by_span_kind: true,
        peer_tags_aggregation,
        // A generated key, so that a configured peer tag is exercised too.
        peer_tags: vec!["custom.a".into()],
        max_groups: DEFAULT_MAX_GROUPS,
        bucket_duration: BUCKET_DURATION,
        group_by_language: false,
    }
}

fn stats(t: &kakehashi_datadog_translate::Translation, s: &StatsSettings) -> Vec<pb::StatsPayload> {
    let mut agg = StatsAggregator::new(s.clone());
    let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(NOW as u64);
    for tp in t.tracer_payloads.iter().chain(&t.sampled_out) {
        agg.add(tp, now);
    }
    let mut out = agg.flush(now, true);
    // The concentrator's entries come out of a hash map: compare them in one order.
    for b in out
        .iter_mut()
        .flat_map(|p| &mut p.stats)
        .flat_map(|c| &mut c.stats)
    {
        b.stats.sort_by_cached_key(|g| format!("{g:?}"));
    }
    out
}

fn meta_entries(t: &kakehashi_datadog_translate::Translation) -> usize {
    t.tracer_payloads
        .iter()
        .chain(&t.sampled_out)
        .flat_map(|tp| &tp.payload.chunks)
        .flat_map(|c| &c.spans)
        .map(|s| s.meta.len())
        .sum()
}

#[test]
fn stats_only_spans_give_the_stats_of_whole_spans() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut whole_meta, mut lite_meta, mut groups) = (0, 0, 0);
    for case in 0..600 {
        let req = request(&mut rng);
        let s = settings(case % 4 != 3);
        let whole_cfg = TranslateConfig {
            compute_top_level_by_span_kind: case % 4 == 1,
            span_name_as_resource_name: case % 4 == 2,
            ..TranslateConfig::default()
        };
        let lite_cfg = TranslateConfig {
            stats_only: Some(Arc::new(stats_only_keys(s.meta_keys()))),
            ..whole_cfg.clone()
        };
        let whole = translate_at(&req, &whole_cfg, NOW);
        let lite = translate_at(&req, &lite_cfg, NOW);
        assert_eq!(whole.dropped, lite.dropped, "case {case}");
        let want = stats(&whole, &s);
        assert_eq!(stats(&lite, &s), want, "case {case}");
        whole_meta += meta_entries(&whole);
        lite_meta += meta_entries(&lite);
        groups += want
            .iter()
            .flat_map(|p| &p.stats)
            .flat_map(|c| &c.stats)
            .map(|b| b.stats.len())
            .sum::<usize>();
    }
    // Not vacuous: there were stats, and the stats-only spans carried less.
    assert!(groups > 1000, "{groups} grouped stats");
    assert!(
        lite_meta * 4 < whole_meta * 3,
        "{lite_meta} meta entries against {whole_meta}"
    );
}
