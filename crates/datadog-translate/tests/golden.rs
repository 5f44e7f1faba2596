//! Golden cases: `tests/golden/*.json`, each an OTLP JSON request, an optional config and the
//! expected Datadog output written by hand from the spec (docs: `/work/shared/spec/datadog.md`).
//! Expectations are partial on purpose: each case checks the fields it is about, plus
//! `*_absent` keys and optional exact maps. There is no bless mode: expectations are never
//! generated from the implementation.

mod common;

use common::full;
use kakehashi_datadog_translate::{pb, translate_at, TranslateConfig, Translation};
use kakehashi_pdata::ExportTraceServiceRequest;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The clock for pre-2000 start times.
const NOW: i64 = 1_700_000_000_000_000_000;

#[test]
fn golden_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "golden cases missing");
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).expect("read");
        let case: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            case["description"].is_string(),
            "{name}: description missing"
        );
        let cfg = config(&case["config"]);
        let req: ExportTraceServiceRequest = serde_json::from_value(case["input"].clone())
            .unwrap_or_else(|e| panic!("{name}: bad OTLP JSON: {e}"));
        let out = translate_at(&req, &cfg, NOW);
        let mut errs = Vec::new();
        check(&out, &case["expect"], &mut errs);
        // Resource attributes shared per payload or copied into each span (Go's way): the
        // same spans.
        let copied = TranslateConfig {
            share_resource_meta: false,
            ..cfg.clone()
        };
        if full(&translate_at(&req, &copied, NOW)) != full(&out) {
            errs.push("differs when resource attributes are copied into each span".into());
        }
        for e in errs {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "golden failures:\n{}",
        failures.join("\n")
    );
}

fn config(v: &Value) -> TranslateConfig {
    let mut cfg = TranslateConfig::default();
    let Some(o) = v.as_object() else { return cfg };
    if let Some(b) = o.get("span_name_as_resource_name") {
        cfg.span_name_as_resource_name = b.as_bool().unwrap();
    }
    if let Some(b) = o.get("operation_and_resource_name_v2") {
        cfg.operation_and_resource_name_v2 = b.as_bool().unwrap();
    }
    if let Some(b) = o.get("compute_top_level_by_span_kind") {
        cfg.compute_top_level_by_span_kind = b.as_bool().unwrap();
    }
    if let Some(m) = o.get("span_name_remappings").and_then(Value::as_object) {
        cfg.span_name_remappings = m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
    }
    if let Some(l) = o.get("ignore_resources").and_then(Value::as_array) {
        cfg.ignore_resources = l
            .iter()
            .map(|r| regex::Regex::new(r.as_str().unwrap()).unwrap())
            .collect();
    }
    if let Some(h) = o.get("fallback_hostname") {
        cfg.fallback_hostname = h.as_str().unwrap().to_string();
    }
    cfg
}

fn check(out: &Translation, exp: &Value, errs: &mut Vec<String>) {
    let payloads = exp["payloads"].as_array().cloned().unwrap_or_default();
    let want_count = exp["payload_count"]
        .as_u64()
        .unwrap_or(payloads.len() as u64);
    if out.tracer_payloads.len() as u64 != want_count {
        errs.push(format!(
            "payload count {} != {want_count}",
            out.tracer_payloads.len()
        ));
        return;
    }
    for (i, (tp, want)) in out.tracer_payloads.iter().zip(&payloads).enumerate() {
        check_payload(&tp.to_full().into(), want, &format!("payload[{i}]"), errs);
    }
    if let Some(d) = exp.get("dropped") {
        let got = [
            ("invalid_id", out.dropped.invalid_id),
            ("ignored_resource", out.dropped.ignored_resource),
            ("sampled_out", out.dropped.sampled_out),
        ];
        for (k, v) in got {
            let want = d.get(k).and_then(Value::as_u64).unwrap_or(0);
            if v != want {
                errs.push(format!("dropped.{k} {v} != {want}"));
            }
        }
    }
    for (key, got) in [("languages", &out.languages), ("hosts", &out.hosts)] {
        if let Some(l) = exp.get(key) {
            let want: BTreeSet<String> = strings(l).into_iter().collect();
            if &want != got {
                errs.push(format!("{key} {got:?} != {want:?}"));
            }
        }
    }
    if let Some(l) = exp.get("attribute_hosts") {
        let want = strings(l);
        if want != out.attribute_hosts {
            errs.push(format!(
                "attribute_hosts {:?} != {want:?}",
                out.attribute_hosts
            ));
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn check_payload(tp: &pb::TracerPayload, want: &Value, at: &str, errs: &mut Vec<String>) {
    let fields = [
        ("hostname", &tp.hostname),
        ("env", &tp.env),
        ("container_id", &tp.container_id),
        ("language_name", &tp.language_name),
        ("tracer_version", &tp.tracer_version),
        ("app_version", &tp.app_version),
    ];
    for (k, got) in fields {
        if let Some(w) = want.get(k) {
            if w.as_str() != Some(got.as_str()) {
                errs.push(format!("{at}.{k} {got:?} != {w}"));
            }
        }
    }
    // Container tags are compared as a multiset: Go's order is random.
    if let Some(w) = want.get("container_tags") {
        let got = tp.tags.get("_dd.tags.container").cloned();
        let mut got_list: Vec<String> = got
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let mut w = strings(w);
        got_list.sort();
        w.sort();
        if got_list != w {
            errs.push(format!("{at}.container_tags {got_list:?} != {w:?}"));
        }
    }
    if want.get("tags_empty") == Some(&Value::Bool(true)) && !tp.tags.is_empty() {
        errs.push(format!("{at}.tags not empty: {:?}", tp.tags));
    }
    if let Some(chunks) = want.get("chunks").and_then(Value::as_array) {
        if chunks.len() != tp.chunks.len() {
            errs.push(format!(
                "{at} chunk count {} != {}",
                tp.chunks.len(),
                chunks.len()
            ));
            return;
        }
        for (j, (c, w)) in tp.chunks.iter().zip(chunks).enumerate() {
            check_chunk(c, w, &format!("{at}.chunk[{j}]"), errs);
        }
    }
}

fn check_chunk(c: &pb::TraceChunk, want: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(p) = want.get("priority").and_then(Value::as_i64) {
        if i64::from(c.priority) != p {
            errs.push(format!("{at}.priority {} != {p}", c.priority));
        }
    }
    if let Some(o) = want.get("origin").and_then(Value::as_str) {
        if c.origin != o {
            errs.push(format!("{at}.origin {:?} != {o:?}", c.origin));
        }
    }
    if let Some(d) = want.get("dropped_trace").and_then(Value::as_bool) {
        if c.dropped_trace != d {
            errs.push(format!("{at}.dropped_trace {} != {d}", c.dropped_trace));
        }
    }
    if let Some(t) = want.get("tags").and_then(Value::as_object) {
        let want: HashMap<String, String> = t
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        if want != c.tags {
            errs.push(format!("{at}.tags {:?} != {want:?}", c.tags));
        }
    }
    if let Some(spans) = want.get("spans").and_then(Value::as_array) {
        if spans.len() != c.spans.len() {
            errs.push(format!(
                "{at} span count {} != {}",
                c.spans.len(),
                spans.len()
            ));
            return;
        }
        for (k, (s, w)) in c.spans.iter().zip(spans).enumerate() {
            check_span(s, w, &format!("{at}.span[{k}]"), errs);
        }
    }
}

fn check_span(s: &pb::Span, want: &Value, at: &str, errs: &mut Vec<String>) {
    let strs = [
        ("service", &s.service),
        ("name", &s.name),
        ("resource", &s.resource),
        ("type", &s.r#type),
    ];
    for (k, got) in strs {
        if let Some(w) = want.get(k) {
            if w.as_str() != Some(got.as_str()) {
                errs.push(format!("{at}.{k} {got:?} != {w}"));
            }
        }
    }
    // Ids are decimal strings in the golden files: JSON numbers lose precision past 2^53.
    let ids = [
        ("trace_id", s.trace_id),
        ("span_id", s.span_id),
        ("parent_id", s.parent_id),
    ];
    for (k, got) in ids {
        if let Some(w) = want.get(k) {
            if w.as_str() != Some(got.to_string().as_str()) {
                errs.push(format!("{at}.{k} {got} != {w}"));
            }
        }
    }
    let nums = [
        ("start", s.start),
        ("duration", s.duration),
        ("error", i64::from(s.error)),
    ];
    for (k, got) in nums {
        if let Some(w) = want.get(k) {
            let w = w
                .as_i64()
                .or_else(|| w.as_str().and_then(|x| x.parse().ok()));
            if w != Some(got) {
                errs.push(format!("{at}.{k} {got} != {w:?}"));
            }
        }
    }
    if let Some(m) = want.get("meta").and_then(Value::as_object) {
        meta_subset(&s.meta, m, &format!("{at}.meta"), errs);
    }
    if let Some(m) = want.get("meta_exact").and_then(Value::as_object) {
        meta_subset(&s.meta, m, &format!("{at}.meta"), errs);
        if s.meta.len() != m.len() {
            let extra: BTreeMap<_, _> =
                s.meta.iter().filter(|(k, _)| !m.contains_key(*k)).collect();
            errs.push(format!("{at}.meta has extra keys {extra:?}"));
        }
    }
    if let Some(m) = want.get("metrics").and_then(Value::as_object) {
        metrics_subset(&s.metrics, m, &format!("{at}.metrics"), errs);
    }
    if let Some(m) = want.get("metrics_exact").and_then(Value::as_object) {
        metrics_subset(&s.metrics, m, &format!("{at}.metrics"), errs);
        if s.metrics.len() != m.len() {
            errs.push(format!("{at}.metrics {:?} has extra keys", s.metrics));
        }
    }
    for (key, map_keys) in [
        (
            "meta_absent",
            s.meta.keys().cloned().collect::<BTreeSet<_>>(),
        ),
        ("metrics_absent", s.metrics.keys().cloned().collect()),
    ] {
        if let Some(l) = want.get(key) {
            for k in strings(l) {
                if map_keys.contains(&k) {
                    errs.push(format!("{at}.{key}: {k} is present"));
                }
            }
        }
    }
}

fn meta_subset(
    got: &HashMap<String, String>,
    want: &Map<String, Value>,
    at: &str,
    errs: &mut Vec<String>,
) {
    for (k, w) in want {
        let w = w.as_str().unwrap();
        match got.get(k) {
            Some(g) if g == w => {}
            other => errs.push(format!("{at}[{k}] {other:?} != {w:?}")),
        }
    }
}

fn metrics_subset(
    got: &HashMap<String, f64>,
    want: &Map<String, Value>,
    at: &str,
    errs: &mut Vec<String>,
) {
    for (k, w) in want {
        let w = w.as_f64().unwrap();
        match got.get(k) {
            Some(g) if *g == w => {}
            other => errs.push(format!("{at}[{k}] {other:?} != {w}")),
        }
    }
}
