//! The embedded trace-agent's processing of one TracerPayload (§2.11, `Agent.Process`):
//! normalize and validate chunks, pick the root, filter ignored resources, obfuscate, truncate,
//! compute top-level spans, back-fill payload fields and apply the sampling decision
//! (`sampling`).

use crate::key_filter::SpanKeyFilters;
use crate::model;
use crate::normalize::{
    normalize_name_in_place, normalize_peer_service_in_place, normalize_service_in_place,
    normalize_tag_value, normalize_tag_value_in_place, truncate_utf8, MAX_RESOURCE_LEN,
    MAX_TYPE_LEN,
};
use crate::obfuscation::obfuscate_span;
use crate::sampling::{sample, Sampled, CLIENT_RATE_KEY};
use crate::{Dropped, TranslateConfig};

/// Nanoseconds since the epoch on 2000-01-01; earlier starts are a unit mistake.
const YEAR_2000_NANOS: i64 = 946_684_800_000_000_000;
const MAX_META_KEY_LEN: usize = 200;
const MAX_META_VAL_LEN: usize = 25_000;
const MAX_METRICS_KEY_LEN: usize = 200;

/// The sampling decision maker, on the chunk's first span and as a chunk tag.
const DECISION_MAKER_KEY: &str = "_dd.p.dm";

/// Processes `tp` in place; dropped spans are counted in `dropped`. Returns the chunks the
/// samplers dropped, under `tp`'s fields, for the stats (the agent feeds its concentrator
/// before sampling); chunks dropped as invalid or by `ignore_resources` are not in stats. The
/// meta keys of every span that goes to the stats are added to `filters`.
pub(crate) fn process(
    tp: &mut model::TracerPayload,
    cfg: &TranslateConfig,
    now: i64,
    dropped: &mut Dropped,
    filters: &mut SpanKeyFilters,
) -> Option<model::TracerPayload> {
    let mut sampled_out = Vec::new();
    tp.env = normalize_tag_value(&tp.env);
    let lang = tp.language_name.clone();
    let chunks = std::mem::take(&mut tp.chunks);
    filters.reserve(chunks.iter().map(|c| c.spans.len()).sum());
    for mut chunk in chunks {
        let n = chunk.spans.len() as u64;
        if cfg.stats_only.is_some() {
            // The connector's stats: Go's connector indexes the spans by id and passes over
            // each one with an empty trace or span id, where the agent drops its whole chunk.
            chunk.spans.retain(|s| s.trace_id != 0 && s.span_id != 0);
            dropped.invalid_id += n - chunk.spans.len() as u64;
        }
        if chunk.spans.is_empty() {
            continue;
        }
        if !normalize_trace(&mut chunk.spans, &lang, now) {
            dropped.invalid_id += n;
            continue;
        }
        let root = root_index(&chunk.spans);
        set_chunk_attributes(&mut chunk, root);
        let resource = &chunk.spans[root].resource;
        if cfg.ignore_resources.iter().any(|re| re.is_match(resource)) {
            dropped.ignored_resource += n;
            continue;
        }
        for span in &mut chunk.spans {
            obfuscate_span(span, &cfg.obfuscation, &cfg.sql_cache);
            truncate(span);
            // The last write to the span's meta; truncation has just read every key.
            filters.add(span);
            if cfg.compute_top_level_by_span_kind && span.metrics.get("_dd.top_level") == Some(&1.0)
            {
                span.metrics.insert("_top_level".into(), 1.0);
            }
        }
        set_client_rate(&mut chunk.spans[root]);
        if !cfg.compute_top_level_by_span_kind {
            compute_top_level(&mut chunk.spans);
        }
        backfill_payload(tp, &chunk.spans, root);
        match sample(&mut chunk, root) {
            Sampled::Keep => tp.chunks.push(chunk),
            Sampled::Drop => {
                dropped.sampled_out += n;
                sampled_out.push(chunk);
            }
            Sampled::EventsOnly(events) => {
                // The agent sends the dropped trace's analytics events alone (`DroppedTrace`);
                // the other spans only count in the stats.
                let (kept, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut chunk.spans)
                    .into_iter()
                    .enumerate()
                    .partition(|(i, _)| events.contains(i));
                dropped.sampled_out += rest.len() as u64;
                sampled_out.push(model::TraceChunk {
                    spans: rest.into_iter().map(|(_, s)| s).collect(),
                    ..chunk.clone()
                });
                chunk.spans = kept.into_iter().map(|(_, s)| s).collect();
                tp.chunks.push(chunk);
            }
        }
    }
    if sampled_out.is_empty() {
        return None;
    }
    // The payload's fields as back-filled by every chunk, like the kept chunks get them.
    let kept = std::mem::replace(&mut tp.chunks, sampled_out);
    let out = tp.clone();
    tp.chunks = kept;
    Some(out)
}

/// Go's `normalizeTrace` + per-span `normalize`; false ⇒ the chunk is invalid.
fn normalize_trace(spans: &mut [model::Span], lang: &str, now: i64) -> bool {
    let first = spans[0].trace_id;
    if spans
        .iter()
        .any(|s| s.trace_id == 0 || s.span_id == 0 || s.trace_id != first)
    {
        return false;
    }
    for s in spans {
        normalize_span(s, lang, now);
    }
    true
}

/// §3 span normalizer.
pub(crate) fn normalize_span(s: &mut model::Span, lang: &str, now: i64) {
    normalize_service_in_place(&mut s.service, lang);
    if let Some(peer) = s.meta.get_mut("peer.service") {
        normalize_peer_service_in_place(peer);
    }
    if let Some(base) = s.meta.get_mut("_dd.base_service") {
        normalize_peer_service_in_place(base);
    }
    normalize_name_in_place(&mut s.name);
    if s.resource.is_empty() {
        s.resource = s.name.clone();
    }
    if s.parent_id == s.trace_id && s.parent_id == s.span_id {
        s.parent_id = 0;
    }
    if s.duration < 0 {
        s.duration = 0;
    }
    // Go compares against `MaxInt64 - Start`, which wraps for negative starts.
    if s.duration > i64::MAX.wrapping_sub(s.start) {
        s.duration = 0;
    }
    if s.start < YEAR_2000_NANOS {
        s.start = now - s.duration;
        if s.start < 0 {
            s.start = now;
            // Go stops here, so a huge duration (allowed by the check above for a start near 0)
            // makes the span end, start + duration, overflow i64: Go wraps, and the stats
            // concentrator's `start + duration` panicked in our debug builds (found by the
            // datadog_translate fuzz target). Such a duration is garbage anyway.
            if s.duration > i64::MAX - s.start {
                s.duration = 0;
            }
        }
    }
    if s.r#type.len() > MAX_TYPE_LEN {
        s.r#type = truncate_utf8(&s.r#type, MAX_TYPE_LEN).into();
    }
    // A tag value, not a full tag: leading digits and `_` stay (the agent changed this from
    // `NormalizeTag` in 2025; the payload env uses the same rule).
    if let Some(env) = s.meta.get_mut("env") {
        normalize_tag_value_in_place(env);
    }
    if let Some(code) = s.meta.get("http.status_code") {
        if !is_valid_status_code(code) {
            s.meta.remove("http.status_code");
        }
    }
}

/// Go's `isValidStatusCode`: `strconv.ParseUint` (digits only, no sign) in [100, 600).
fn is_valid_status_code(code: &str) -> bool {
    code.bytes().all(|b| b.is_ascii_digit())
        && code.parse::<u64>().is_ok_and(|c| (100..600).contains(&c))
}

/// Go's `GetRoot`: the last span with parent 0, else a span whose parent is not in the chunk,
/// else the last span.
pub(crate) fn root_index(spans: &[model::Span]) -> usize {
    if let Some(i) = spans.iter().rposition(|s| s.parent_id == 0) {
        return i;
    }
    let ids: model::IdSet = spans.iter().map(|s| s.span_id).collect();
    // Go picks from a map (random when several orphans exist); we take the first orphan.
    spans
        .iter()
        .position(|s| !ids.contains(&s.parent_id))
        .unwrap_or(spans.len() - 1)
}

/// Go's `setChunkAttributes`: the origin from the root when the chunk has none, and the
/// decision maker (`_dd.p.dm`) of the first span that has one promoted to a chunk tag.
fn set_chunk_attributes(chunk: &mut model::TraceChunk, root: usize) {
    if chunk.origin.is_empty() {
        if let Some(origin) = chunk.spans[root].meta.get("_dd.origin") {
            chunk.origin = origin.to_string();
        }
    }
    if !chunk.tags.contains_key(DECISION_MAKER_KEY) {
        if let Some(dm) = chunk
            .spans
            .iter()
            .find_map(|s| s.meta.get(DECISION_MAKER_KEY))
        {
            chunk.tags.insert(DECISION_MAKER_KEY.into(), dm.to_string());
        }
    }
}

/// Go's `Agent.Truncate`: resource, meta keys/values and metric keys.
fn truncate(s: &mut model::Span) {
    if s.resource.len() > MAX_RESOURCE_LEN {
        s.resource = truncate_utf8(&s.resource, MAX_RESOURCE_LEN).into();
    }
    let too_long: Vec<model::Str> = s
        .meta
        .iter()
        .filter(|(k, v)| {
            !is_structured(k) && (k.len() > MAX_META_KEY_LEN || v.len() > MAX_META_VAL_LEN)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in too_long {
        let Some(mut v) = s.meta.remove(k.as_str()) else {
            continue;
        };
        let key = if k.len() > MAX_META_KEY_LEN {
            format!("{}...", truncate_utf8(&k, MAX_META_KEY_LEN)).into()
        } else {
            k.clone()
        };
        if v.len() > MAX_META_VAL_LEN {
            v = format!("{}...", truncate_utf8(&v, MAX_META_VAL_LEN)).into();
        }
        s.meta.insert(key, v);
    }
    let long_metrics: Vec<model::Str> = s
        .metrics
        .keys()
        .filter(|k| k.len() > MAX_METRICS_KEY_LEN)
        .cloned()
        .collect();
    for k in long_metrics {
        if let Some(v) = s.metrics.remove(k.as_str()) {
            let key = format!("{}...", truncate_utf8(&k, MAX_METRICS_KEY_LEN));
            s.metrics.insert(key.into(), v);
        }
    }
}

/// Structured meta (`_dd.*.json`, `.msgpack`, `.protobuf`) is never truncated, key or value.
fn is_structured(key: &str) -> bool {
    key.starts_with("_dd.")
        && (key.ends_with(".json") || key.ends_with(".msgpack") || key.ends_with(".protobuf"))
}

/// Go's `setRootSpanTags`: a client-side global rate below 1 is recorded as `_dd1.sr.rcusr`.
fn set_client_rate(root: &mut model::Span) {
    let rate = root.metrics.get("_sample_rate").copied().unwrap_or(1.0);
    if rate < 1.0 {
        root.metrics.insert(CLIENT_RATE_KEY.into(), rate);
    } else {
        root.metrics.remove(CLIENT_RATE_KEY);
    }
}

/// Go's `ComputeTopLevel`: a span is top-level when it is a root, its parent is not in the
/// chunk, or its parent has another service.
pub(crate) fn compute_top_level(spans: &mut [model::Span]) {
    let top_level: Vec<bool> = {
        let service_by_id: model::IdMap<&str> = spans
            .iter()
            .map(|s| (s.span_id, s.service.as_str()))
            .collect();
        spans
            .iter()
            .map(|s| {
                s.parent_id == 0
                    || service_by_id
                        .get(&s.parent_id)
                        .is_none_or(|parent| *parent != s.service)
            })
            .collect()
    };
    for (s, top) in spans.iter_mut().zip(top_level) {
        if top {
            s.metrics.insert("_top_level".into(), 1.0);
        } else {
            s.metrics.remove("_top_level");
        }
    }
}

/// Go's `setPayloadAttributes`: hostname, env and app version from the root (env and version
/// fall back to the other spans of the chunk).
fn backfill_payload(tp: &mut model::TracerPayload, spans: &[model::Span], root: usize) {
    if tp.hostname.is_empty() {
        tp.hostname = spans[root]
            .meta
            .get("_dd.hostname")
            .map(|v| v.to_string())
            .unwrap_or_default();
    }
    let from_chunk = |key: &str| {
        std::iter::once(&spans[root])
            .chain(spans.iter())
            .find_map(|s| s.meta.get(key).filter(|v| !v.is_empty()))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    if tp.env.is_empty() {
        tp.env = from_chunk("env");
    }
    if tp.app_version.is_empty() {
        tp.app_version = from_chunk("version");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::dd_span as span;
    use std::collections::HashMap;

    #[test]
    fn top_level() {
        let mut spans = vec![
            span(1, 0, "a"),
            span(2, 1, "a"),
            span(3, 1, "b"),
            span(4, 99, "a"),
        ];
        spans[1].metrics.insert("_top_level".into(), 1.0);
        compute_top_level(&mut spans);
        let top: Vec<bool> = spans
            .iter()
            .map(|s| s.metrics.contains_key("_top_level"))
            .collect();
        assert_eq!(top, [true, false, true, true]);
    }

    #[test]
    fn roots() {
        assert_eq!(
            root_index(&[span(1, 0, ""), span(2, 1, ""), span(3, 0, "")]),
            2
        );
        assert_eq!(root_index(&[span(2, 1, ""), span(1, 7, "")]), 1);
    }

    #[test]
    fn pre_2000_start_with_a_huge_duration_cannot_overflow_the_end() {
        // Regression (datadog_translate fuzz target): start 1, duration i64::MAX - 1 passes the
        // `MaxInt64 - Start` check, then start becomes `now` and start + duration overflowed.
        let mut s = span(5, 0, "svc");
        s.start = 1;
        s.duration = i64::MAX - 1;
        let now = 1_700_000_000_000_000_000;
        normalize_span(&mut s, "", now);
        assert_eq!((s.start, s.duration), (now, 0));
        assert!(s.start.checked_add(s.duration).is_some());
    }

    #[test]
    fn normalizer() {
        let mut s = span(5, 5, "  SVC ");
        s.trace_id = 5;
        s.duration = -3;
        s.start = 10;
        s.meta.insert("env".into(), "_ENV".into());
        s.meta.insert("http.status_code".into(), "600".into());
        s.meta.insert("peer.service".into(), "%%".into());
        s.r#type = "t".repeat(150).into();
        normalize_span(&mut s, "", 2_000_000_000_000_000_000);
        assert_eq!(s.service, "_svc");
        assert_eq!(s.parent_id, 0);
        assert_eq!(s.duration, 0);
        assert_eq!(s.start, 2_000_000_000_000_000_000);
        assert_eq!(s.name, "unnamed_operation");
        assert_eq!(s.resource, "unnamed_operation");
        // A tag value: the leading `_` stays (NormalizeTag would drop it).
        assert_eq!(s.meta["env"], "_env");
        assert_eq!(s.meta["peer.service"], "");
        assert!(!s.meta.contains_key("http.status_code"));
        assert_eq!(s.r#type.len(), 100);
    }

    #[test]
    fn env_leading_digits_and_base_service() {
        let mut s = span(1, 0, "svc");
        s.meta.insert("env".into(), "2024".into());
        s.meta.insert("_dd.base_service".into(), "Base Svc".into());
        normalize_span(&mut s, "", 2_000_000_000_000_000_000);
        assert_eq!(s.meta["env"], "2024");
        assert_eq!(s.meta["_dd.base_service"], "base_svc");
    }

    #[test]
    fn status_codes_parse_as_go_parse_uint() {
        for (code, valid) in [
            ("200", true),
            ("0200", true),
            ("599", true),
            ("+200", false),
            ("-200", false),
            (" 200", false),
            ("99", false),
            ("600", false),
            ("", false),
            ("2e2", false),
        ] {
            assert_eq!(is_valid_status_code(code), valid, "{code:?}");
        }
    }

    #[test]
    fn sampled_out_chunks_are_returned_for_the_stats() {
        let chunk = |trace: u64, priority: i32, error: bool| model::TraceChunk {
            priority,
            spans: vec![model::Span {
                trace_id: trace,
                span_id: trace,
                service: "svc".into(),
                name: "op".into(),
                error: i32::from(error),
                start: 1_700_000_000_000_000_000,
                ..Default::default()
            }],
            tags: HashMap::from([("_dd.otlp_sr".to_string(), "1.00".to_string())]),
            ..Default::default()
        };
        let mut tp = model::TracerPayload {
            env: "prod".into(),
            hostname: "h".into(),
            chunks: vec![
                chunk(1, 1, false),
                chunk(2, -1, false),
                chunk(3, 0, true),
                chunk(4, 0, false),
            ],
            ..Default::default()
        };
        let mut dropped = Dropped::default();
        let out = process(
            &mut tp,
            &TranslateConfig::default(),
            0,
            &mut dropped,
            &mut Default::default(),
        )
        .expect("two chunks sampled out");
        let ids = |tp: &model::TracerPayload| -> Vec<u64> {
            tp.chunks.iter().map(|c| c.spans[0].trace_id).collect()
        };
        assert_eq!(
            ids(&tp),
            vec![1, 3],
            "kept: auto-keep, and priority 0 with an error"
        );
        assert_eq!(ids(&out), vec![2, 4]);
        assert_eq!((out.env.as_str(), out.hostname.as_str()), ("prod", "h"));
        assert_eq!(dropped.sampled_out, 2);

        let mut all_kept = model::TracerPayload {
            chunks: vec![chunk(5, 1, false)],
            ..Default::default()
        };
        assert!(process(
            &mut all_kept,
            &TranslateConfig::default(),
            0,
            &mut dropped,
            &mut Default::default()
        )
        .is_none());
    }

    #[test]
    fn decision_maker_is_promoted_to_a_chunk_tag() {
        let mut spans = vec![span(1, 0, "a"), span(2, 1, "a"), span(3, 1, "a")];
        spans[1].meta.insert("_dd.p.dm".into(), "-4".into());
        spans[2].meta.insert("_dd.p.dm".into(), "-9".into());
        spans[0].meta.insert("_dd.origin".into(), "lambda".into());
        let mut chunk = model::TraceChunk {
            spans,
            ..Default::default()
        };
        set_chunk_attributes(&mut chunk, 0);
        assert_eq!(chunk.tags["_dd.p.dm"], "-4", "the first span that has one");
        assert_eq!(chunk.origin, "lambda");

        // A chunk tag already there is kept.
        chunk.tags.insert("_dd.p.dm".into(), "-3".into());
        set_chunk_attributes(&mut chunk, 0);
        assert_eq!(chunk.tags["_dd.p.dm"], "-3");
    }

    #[test]
    fn truncation() {
        let mut s = span(1, 0, "a");
        s.meta.insert("k".repeat(201).into(), "v".into());
        s.meta.insert("big".into(), "x".repeat(25_001).into());
        s.meta
            .insert("_dd.x.json".into(), "x".repeat(25_001).into());
        let structured_key = format!("_dd.{}.json", "k".repeat(200));
        s.meta.insert(structured_key.clone().into(), "v".into());
        s.metrics.insert("m".repeat(201).into(), 1.0);
        truncate(&mut s);
        assert_eq!(
            s.meta[structured_key.as_str()],
            "v",
            "structured keys are not truncated"
        );
        assert_eq!(s.meta[format!("{}...", "k".repeat(200)).as_str()], "v");
        assert_eq!(s.meta["big"].len(), 25_003);
        assert_eq!(s.meta["_dd.x.json"].len(), 25_001);
        assert_eq!(s.metrics[format!("{}...", "m".repeat(200)).as_str()], 1.0);
    }
}
