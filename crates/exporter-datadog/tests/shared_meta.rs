//! What the exporter sends when a payload's spans share their resource attributes
//! (`kakehashi_datadog_translate::SharedMeta`): the same AgentPayloads, cut at the same places,
//! and the same APM stats as when every span carries them, as in Go; and the same APM stats
//! whether the spans' key filters (`SpanKeyFilters`) answer the concentrator's lookups or not.

#[path = "../benches/common/mod.rs"]
mod common;

use kakehashi_datadog_translate::{pb, translate, TranslateConfig, TranslatedPayload, Translation};
use kakehashi_exporter_datadog::payload::{build_measured_payloads, AgentInfo, MAX_PAYLOAD_BYTES};
use kakehashi_exporter_datadog::stats::{StatsAggregator, StatsSettings, DEFAULT_MAX_GROUPS};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use prost::Message;
use std::time::{Duration, SystemTime};

fn translations() -> (Translation, Translation) {
    let mut req = common::request();
    // Resource attributes the stats read: a configured peer tag, a base peer tag and the HTTP
    // endpoint.
    let attrs = &mut req.resource_spans[0].resource.as_mut().unwrap().attributes;
    for (k, v) in [
        ("custom.peer", "p1"),
        ("db.instance", "orders"),
        ("http.endpoint", "/res"),
    ] {
        attrs.push(KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        });
    }
    let cfg = TranslateConfig {
        fallback_hostname: "test-collector".into(),
        ..TranslateConfig::default()
    };
    let copied = TranslateConfig {
        share_resource_meta: false,
        ..cfg.clone()
    };
    let shared = translate(&req, &cfg);
    assert!(
        shared
            .tracer_payloads
            .iter()
            .all(|tp| tp.shared.entries().len() > 10),
        "the request's resource attributes are shared"
    );
    (shared, translate(&req, &copied))
}

fn without_key_filters(tp: &TranslatedPayload) -> TranslatedPayload {
    TranslatedPayload {
        key_filters: Default::default(),
        ..tp.clone()
    }
}

fn info() -> AgentInfo {
    AgentInfo {
        host_name: "test-collector".into(),
        agent_version: "datadogexporter-kakehashi-test".into(),
    }
}

/// The decoded AgentPayloads, cut at `limit` bytes.
fn sent(t: &Translation, limit: usize) -> Vec<pb::AgentPayload> {
    build_measured_payloads(&info(), t.tracer_payloads.clone(), limit)
        .iter()
        .map(|m| {
            let body = m.encode();
            let decoded = pb::AgentPayload::decode(&body[..]).expect("decodes");
            assert_eq!(decoded, m.to_full().into());
            decoded
        })
        .collect()
}

#[test]
fn the_same_payloads_whole_and_cut() {
    let (shared, copied) = translations();
    for limit in [MAX_PAYLOAD_BYTES, 60_000, 3_000] {
        let (a, b) = (sent(&shared, limit), sent(&copied, limit));
        assert!(limit == MAX_PAYLOAD_BYTES || a.len() > 1, "cut at {limit}");
        assert_eq!(a, b, "cut at {limit}");
    }
}

#[test]
fn the_same_stats() {
    let (shared, copied) = translations();
    let now = SystemTime::now();
    let stats = |t: &Translation| {
        let mut agg = StatsAggregator::new(StatsSettings {
            hostname: "test-collector".into(),
            agent_version: "datadogexporter-kakehashi-test".into(),
            compute_stats_by_span_kind: true,
            peer_tags_aggregation: true,
            peer_tags: vec!["custom.peer".into()],
            max_groups: DEFAULT_MAX_GROUPS,
            bucket_duration: kakehashi_exporter_datadog::stats::BUCKET_DURATION,
            group_by_language: true,
        });
        for tp in t.tracer_payloads.iter().chain(&t.sampled_out) {
            agg.add(tp, now);
        }
        let mut payloads = agg.flush(now + Duration::from_secs(60), true);
        // The concentrator's grouped stats come out of a hash map, in no fixed order.
        for bucket in payloads
            .iter_mut()
            .flat_map(|p| &mut p.stats)
            .flat_map(|c| &mut c.stats)
        {
            bucket.stats.sort_by_cached_key(|g| format!("{g:?}"));
        }
        payloads
    };
    let unfiltered = Translation {
        tracer_payloads: shared
            .tracer_payloads
            .iter()
            .map(without_key_filters)
            .collect(),
        sampled_out: shared.sampled_out.iter().map(without_key_filters).collect(),
        ..shared.clone()
    };
    assert!(
        shared.tracer_payloads.iter().all(|tp| tp
            .payload
            .chunks
            .iter()
            .flat_map(|c| &c.spans)
            .all(|s| tp.key_filters.get(s).is_some())),
        "every span has a key filter"
    );
    let (a, b) = (stats(&shared), stats(&copied));
    assert_eq!(a, stats(&unfiltered), "with and without key filters");
    let peer_tags: Vec<&String> = a
        .iter()
        .flat_map(|p| &p.stats)
        .flat_map(|c| &c.stats)
        .flat_map(|b| &b.stats)
        .flat_map(|g| &g.peer_tags)
        .collect();
    assert!(
        peer_tags.iter().any(|t| *t == "custom.peer:p1"),
        "a peer tag from the shared resource attributes: {peer_tags:?}"
    );
    assert_eq!(a, b);
}
