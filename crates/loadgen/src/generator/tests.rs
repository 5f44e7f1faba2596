use super::*;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use std::collections::HashSet;

fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.as_str()),
            _ => None,
        })
}

fn all_spans(seed: u64) -> Vec<DraftSpan> {
    (0..8)
        .flat_map(|v| Generator::new(seed, v).batch(100).drafts)
        .collect()
}

#[test]
fn attribute_counts_in_range_and_keys_unique() {
    for d in all_spans(1) {
        let n = d.span.attributes.len();
        assert!(
            (MIN_ATTRIBUTES..=MAX_ATTRIBUTES).contains(&n),
            "{} has {n} attributes",
            d.span.name
        );
        let keys: HashSet<&str> = d.span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys.len(), n, "duplicate keys in {}", d.span.name);
    }
}

#[test]
fn realistic_kinds_and_attributes_present() {
    let spans = all_spans(2);
    let kinds: HashSet<i32> = spans.iter().map(|d| d.span.kind).collect();
    for kind in [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Internal,
        SpanKind::Producer,
    ] {
        assert!(kinds.contains(&(kind as i32)), "no {kind:?} span");
    }
    let has = |key: &str, value: Option<&str>| {
        spans
            .iter()
            .any(|d| str_attr(&d.span, key).is_some_and(|v| value.is_none_or(|want| v == want)))
    };
    assert!(has("http.route", None));
    assert!(has("peer.service", None));
    assert!(has("db.system", Some("postgresql")));
    assert!(has("db.system", Some("redis")));
    assert!(has(
        "db.query.text",
        Some("SELECT * FROM orders WHERE id = 42")
    ));
    assert!(has("messaging.system", Some("kafka")));
    assert!(has("user_agent.original", None));
}

#[test]
fn errors_carry_exception_events_and_rates_are_plausible() {
    let spans = all_spans(3);
    let errors: Vec<&DraftSpan> = spans
        .iter()
        .filter(|d| {
            d.span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32)
        })
        .collect();
    for e in &errors {
        let ev = e
            .span
            .events
            .iter()
            .find(|ev| ev.name == "exception")
            .expect("exception event");
        let keys: HashSet<&str> = ev.attributes.iter().map(|kv| kv.key.as_str()).collect();
        for k in [
            "exception.type",
            "exception.message",
            "exception.stacktrace",
        ] {
            assert!(keys.contains(k));
        }
    }
    let n = spans.len() as f64;
    let error_share = errors.len() as f64 / n;
    let event_share = spans.iter().filter(|d| !d.span.events.is_empty()).count() as f64 / n;
    assert!(
        (0.01..0.12).contains(&error_share),
        "error share {error_share}"
    );
    assert!(
        (0.04..0.2).contains(&event_share),
        "event share {event_share}"
    );
}

#[test]
fn traces_have_valid_parents_and_sizes() {
    let batch = Generator::new(4, 0).batch(100);
    assert_eq!(batch.drafts.len(), 100);
    let mut sizes = vec![0usize; batch.traces as usize];
    for (i, d) in batch.drafts.iter().enumerate() {
        sizes[d.trace as usize] += 1;
        match d.parent {
            None => assert_eq!(
                d.span.kind,
                SpanKind::Server as i32,
                "roots are server spans"
            ),
            Some(p) => {
                assert!(p < i, "parent precedes child");
                let parent = &batch.drafts[p];
                assert_eq!(parent.trace, d.trace);
                assert!(parent.start_offset_ns <= d.start_offset_ns);
            }
        }
    }
    let (last, full) = sizes.split_last().unwrap();
    assert!(
        full.iter()
            .all(|s| (MIN_TRACE_SPANS..=MAX_TRACE_SPANS).contains(s)),
        "{sizes:?}"
    );
    assert!((1..=MAX_TRACE_SPANS).contains(last));
    assert_eq!(
        batch.drafts.iter().filter(|d| d.parent.is_none()).count(),
        sizes.len()
    );
}

#[test]
fn deterministic_per_seed() {
    let a = Generator::new(9, 0).batch(50).request;
    let b = Generator::new(9, 0).batch(50).request;
    let c = Generator::new(10, 0).batch(50).request;
    assert_eq!(a, b);
    assert_ne!(a, c);
}
