//! Each `tail_sampling` policy's rule, as otelcol-contrib's evaluator of the same name decides.

use super::policy::{Decision, Policy, TraceView};
use super::tests::{config, rs, s, span};
use crate::test_util::kv_of;
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::trace::v1::{span::Event, status::StatusCode, Span, Status};
use std::time::{Duration, Instant};

fn policy(yaml: &str) -> Policy {
    let cfg = config(&format!("policies: [{yaml}]"));
    Policy::compile(&cfg.policies[0])
}

/// The policy's decision on one batch of spans under one resource.
fn decide_one(p: &mut Policy, resource: Vec<KeyValue>, spans: Vec<Span>) -> Decision {
    let batches = vec![rs(resource, spans)];
    let view = TraceView {
        span_count: batches[0].scope_spans[0].spans.len() as u64,
        batches: &batches,
    };
    p.evaluate(&[1; 16], &view, Instant::now())
        .expect("no error")
}

use Decision::{Dropped, NotSampled, Sampled};

#[test]
fn latency_is_the_window_from_earliest_start_to_latest_end() {
    let mut p = policy("{name: l, type: latency, latency: {threshold_ms: 100}}");
    let mut a = span(1, false, vec![]);
    a.end_time_unix_nano = a.start_time_unix_nano + 60_000_000;
    let mut b = span(1, true, vec![]);
    b.start_time_unix_nano = a.start_time_unix_nano + 50_000_000;
    b.end_time_unix_nano = a.start_time_unix_nano + 99_000_000;
    // 99 ms is under 100 ms.
    assert_eq!(
        decide_one(&mut p, vec![], vec![a.clone(), b.clone()]),
        NotSampled
    );
    // 100 ms reaches it (Go's `>=`).
    b.end_time_unix_nano += 1_000_000;
    assert_eq!(
        decide_one(&mut p, vec![], vec![a.clone(), b.clone()]),
        Sampled
    );
    // threshold_ms 0 keeps every trace, sub-millisecond ones included.
    let mut zero = policy("{name: l, type: latency, latency: {threshold_ms: 0}}");
    let mut quick = span(2, false, vec![]);
    quick.end_time_unix_nano = quick.start_time_unix_nano + 300_000;
    assert_eq!(decide_one(&mut zero, vec![], vec![quick]), Sampled);
    let mut bounded =
        policy("{name: l, type: latency, latency: {threshold_ms: 10, upper_threshold_ms: 50}}");
    // The first span alone (60 ms) is past the bound; the window only grows.
    assert_eq!(decide_one(&mut bounded, vec![], vec![a, b]), NotSampled);
}

#[test]
fn numeric_attribute_reads_ints_only_on_resources_and_spans() {
    let mut p = policy(
        "{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 499}}",
    );
    let code = |v| vec![kv_of("code", v)];
    assert_eq!(
        decide_one(
            &mut p,
            vec![],
            vec![span(1, false, code(Value::IntValue(404)))]
        ),
        Sampled
    );
    assert_eq!(
        decide_one(
            &mut p,
            code(Value::IntValue(450)),
            vec![span(1, false, vec![])]
        ),
        Sampled
    );
    assert_eq!(
        decide_one(
            &mut p,
            vec![],
            vec![span(1, false, code(Value::DoubleValue(404.0)))]
        ),
        NotSampled
    );
    assert_eq!(
        decide_one(
            &mut p,
            vec![],
            vec![span(1, false, code(Value::IntValue(500)))]
        ),
        NotSampled
    );
    // A double reads as 0: inside a range with no lower bound.
    let mut below =
        policy("{name: n, type: numeric_attribute, numeric_attribute: {key: code, max_value: 10}}");
    assert_eq!(
        decide_one(
            &mut below,
            vec![],
            vec![span(1, false, code(Value::DoubleValue(404.0)))]
        ),
        Sampled
    );
    let mut inv = policy(
        "{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 499, invert_match: true}}",
    );
    assert_eq!(
        decide_one(
            &mut inv,
            vec![],
            vec![span(1, false, code(Value::IntValue(404)))]
        ),
        NotSampled
    );
    assert_eq!(
        decide_one(&mut inv, vec![], vec![span(1, false, vec![])]),
        Sampled
    );
}

#[test]
fn string_attribute_exact_regex_and_invert() {
    let route = |v: &str| vec![kv_of("http.route", s(v))];
    let mut exact = policy(
        "{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}",
    );
    assert_eq!(
        decide_one(&mut exact, vec![], vec![span(1, false, route("/health"))]),
        Sampled
    );
    assert_eq!(
        decide_one(&mut exact, vec![], vec![span(1, false, route("/healthz"))]),
        NotSampled
    );
    let mut re = policy(
        "{name: s, type: string_attribute, string_attribute: {key: http.route, values: [heal], enabled_regex_matching: true}}",
    );
    assert_eq!(
        decide_one(&mut re, vec![], vec![span(1, false, route("/healthz"))]),
        Sampled,
        "unanchored"
    );
    let mut inv = policy(
        "{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}",
    );
    assert_eq!(
        decide_one(&mut inv, vec![], vec![span(1, false, route("/health"))]),
        NotSampled
    );
    assert_eq!(
        decide_one(&mut inv, vec![], vec![span(1, false, route("/api"))]),
        Sampled
    );
    // A resource's non-string value reads as "", which `.*` matches; a span's is skipped.
    let mut any = policy(
        "{name: s, type: string_attribute, string_attribute: {key: k, values: ['.*'], enabled_regex_matching: true}}",
    );
    let k = vec![kv_of("k", Value::IntValue(1))];
    assert_eq!(
        decide_one(&mut any, k.clone(), vec![span(1, false, vec![])]),
        Sampled
    );
    assert_eq!(
        decide_one(&mut any, vec![], vec![span(1, false, k)]),
        NotSampled
    );
}

#[test]
fn status_span_count_flags_trace_state_and_boolean() {
    let mut status = policy("{name: s, type: status_code, status_code: {status_codes: [ERROR]}}");
    let mut err = span(1, true, vec![]);
    err.status = Some(Status {
        code: StatusCode::Error as i32,
        ..Default::default()
    });
    assert_eq!(
        decide_one(&mut status, vec![], vec![span(1, false, vec![]), err]),
        Sampled
    );
    assert_eq!(
        decide_one(&mut status, vec![], vec![span(1, false, vec![])]),
        NotSampled
    );
    let mut unset = policy("{name: s, type: status_code, status_code: {status_codes: [UNSET]}}");
    assert_eq!(
        decide_one(&mut unset, vec![], vec![span(1, false, vec![])]),
        Sampled
    );

    let mut count = policy("{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}");
    let n = |k| (0..k).map(|_| span(1, true, vec![])).collect::<Vec<_>>();
    assert_eq!(decide_one(&mut count, vec![], n(1)), NotSampled);
    assert_eq!(decide_one(&mut count, vec![], n(3)), Sampled);
    assert_eq!(decide_one(&mut count, vec![], n(4)), NotSampled);

    let mut flags = policy("{name: f, type: trace_flags}");
    let mut flagged = span(1, false, vec![]);
    flagged.flags = 0x101;
    assert_eq!(decide_one(&mut flags, vec![], vec![flagged]), Sampled);
    assert_eq!(
        decide_one(&mut flags, vec![], vec![span(1, false, vec![])]),
        NotSampled
    );

    let mut ts = policy("{name: t, type: trace_state, trace_state: {key: vendor, values: [gold]}}");
    let with_state = |st: &str| {
        let mut sp = span(1, false, vec![]);
        sp.trace_state = st.into();
        sp
    };
    assert_eq!(
        decide_one(&mut ts, vec![], vec![with_state("ot=th:8,vendor=gold")]),
        Sampled
    );
    assert_eq!(
        decide_one(&mut ts, vec![], vec![with_state("vendor=silver")]),
        NotSampled
    );
    assert_eq!(
        decide_one(&mut ts, vec![], vec![with_state("vendor=gold,vendor=gold")]),
        NotSampled,
        "invalid"
    );

    let mut b =
        policy("{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}");
    let dbg = |v| vec![kv_of("debug", v)];
    assert_eq!(
        decide_one(
            &mut b,
            vec![],
            vec![span(1, false, dbg(Value::BoolValue(true)))]
        ),
        Sampled
    );
    assert_eq!(
        decide_one(&mut b, vec![], vec![span(1, false, dbg(s("true")))]),
        NotSampled
    );
    let mut f =
        policy("{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: false}}");
    assert_eq!(
        decide_one(&mut f, vec![], vec![span(1, false, dbg(s("yes")))]),
        Sampled,
        "non-bool reads false"
    );
}

#[test]
fn ottl_conditions_on_spans_and_events_with_error_modes() {
    let mut p = policy(
        r#"{name: o, type: ottl_condition, ottl_condition: {span: ['attributes["tier"] == "gold"'], spanevent: ['name == "exception"']}}"#,
    );
    assert_eq!(
        decide_one(
            &mut p,
            vec![],
            vec![span(1, false, vec![kv_of("tier", s("gold"))])]
        ),
        Sampled
    );
    let mut with_event = span(1, false, vec![]);
    with_event.events.push(Event {
        name: "exception".into(),
        ..Default::default()
    });
    assert_eq!(decide_one(&mut p, vec![], vec![with_event]), Sampled);
    assert_eq!(
        decide_one(&mut p, vec![], vec![span(1, false, vec![])]),
        NotSampled
    );

    // A failing condition: an error by default (propagate), false with ignore.
    let failing = r#"['Substring(attributes["n"], 5, 10) == "a"']"#;
    let batches = vec![rs(vec![], vec![span(1, false, vec![kv_of("n", s("x"))])])];
    let view = TraceView {
        batches: &batches,
        span_count: 1,
    };
    let mut strict = policy(&format!(
        "{{name: o, type: ottl_condition, ottl_condition: {{span: {failing}}}}}"
    ));
    assert!(strict.evaluate(&[1; 16], &view, Instant::now()).is_err());
    let mut lenient = policy(&format!(
        "{{name: o, type: ottl_condition, ottl_condition: {{error_mode: silent, span: {failing}}}}}"
    ));
    assert_eq!(
        lenient.evaluate(&[1; 16], &view, Instant::now()),
        Ok(NotSampled)
    );
}

#[test]
fn and_drop_and_not_combine_sub_policies() {
    let gold =
        r#"{name: g, type: string_attribute, string_attribute: {key: tier, values: [gold]}}"#;
    let slow = r#"{name: l, type: latency, latency: {threshold_ms: 10}}"#;
    let mut and = policy(&format!(
        "{{name: a, type: and, and: {{and_sub_policy: [{gold}, {slow}]}}}}"
    ));
    let tier = vec![kv_of("tier", s("gold"))];
    assert_eq!(
        decide_one(&mut and, vec![], vec![span(1, false, tier.clone())]),
        Sampled
    );
    assert_eq!(
        decide_one(&mut and, vec![], vec![span(1, false, vec![])]),
        NotSampled
    );
    let mut empty_and = policy("{name: a, type: and, and: {and_sub_policy: []}}");
    assert_eq!(
        decide_one(&mut empty_and, vec![], vec![span(1, false, vec![])]),
        Sampled
    );
    let mut drop = policy(&format!(
        "{{name: d, type: drop, drop: {{drop_sub_policy: [{gold}]}}}}"
    ));
    assert_eq!(
        decide_one(&mut drop, vec![], vec![span(1, false, tier.clone())]),
        Dropped
    );
    assert_eq!(
        decide_one(&mut drop, vec![], vec![span(1, false, vec![])]),
        NotSampled
    );
    let mut not = policy(&format!(
        "{{name: n, type: not, not: {{not_sub_policy: {gold}}}}}"
    ));
    assert_eq!(
        decide_one(&mut not, vec![], vec![span(1, false, tier)]),
        NotSampled
    );
    assert_eq!(
        decide_one(&mut not, vec![], vec![span(1, false, vec![])]),
        Sampled
    );
}

#[test]
fn rate_limiting_is_a_token_bucket_starting_full() {
    let mut bucket = super::rate::TokenBucket::new(10, 0);
    let t0 = Instant::now();
    assert!(bucket.allow(t0, 20), "burst defaults to twice the rate");
    assert!(!bucket.allow(t0, 1));
    assert!(
        bucket.allow(t0 + Duration::from_millis(500), 5),
        "5 tokens back after 0.5 s"
    );
    assert!(!bucket.allow(t0 + Duration::from_millis(500), 1));
    assert!(
        !bucket.allow(t0 + Duration::from_secs(100), 21),
        "more than the burst never passes"
    );
    assert!(
        bucket.allow(t0 + Duration::from_secs(100), 20),
        "refilled up to the burst only"
    );
}

#[test]
fn composite_shares_a_per_second_span_budget_in_sub_policy_order() {
    let p = policy(
        r#"{name: c, type: composite, composite: {
            max_total_spans_per_second: 10,
            policy_order: [all, gold],
            composite_sub_policy: [
              {name: gold, type: string_attribute, string_attribute: {key: tier, values: [gold]}},
              {name: all, type: always_sample}],
            rate_allocation: [{policy: gold, percent: 60}]}}"#,
    );
    let Policy::Composite(mut c) = p else {
        panic!("a composite policy")
    };
    let trace = |gold: bool, n: usize| {
        let attrs = if gold {
            vec![kv_of("tier", s("gold"))]
        } else {
            vec![]
        };
        vec![rs(
            vec![],
            (0..n).map(|_| span(1, true, attrs.clone())).collect(),
        )]
    };
    let mut run = |batches: &Vec<_>, second| {
        let view = TraceView {
            batches,
            span_count: 4,
        };
        c.evaluate(&[1; 16], &view, Instant::now(), second).unwrap()
    };
    let (gold, other) = (trace(true, 4), trace(false, 4));
    // gold: 60 % of 10 = 6 spans a second; all: an equal share, 10 / 2 = 5.
    assert_eq!(run(&gold, 100), Decision::Sampled);
    assert_eq!(
        run(&gold, 100),
        Decision::NotSampled,
        "over its share; `all` is not tried"
    );
    assert_eq!(run(&other, 100), Decision::Sampled);
    assert_eq!(run(&other, 100), Decision::NotSampled);
    assert_eq!(
        run(&gold, 101),
        Decision::Sampled,
        "a new second, a new budget"
    );
}

#[test]
fn latency_decides_on_the_first_prefix_that_passes() {
    // Go's bounded quirk: the first span alone (20 ms) is inside (10, 50]; the second widens
    // the window to 100 ms, but the decision is already taken.
    let mut bounded =
        policy("{name: l, type: latency, latency: {threshold_ms: 10, upper_threshold_ms: 50}}");
    let mut a = span(1, false, vec![]);
    a.end_time_unix_nano = a.start_time_unix_nano + 20_000_000;
    let mut b = span(1, true, vec![]);
    b.end_time_unix_nano = a.start_time_unix_nano + 100_000_000;
    assert_eq!(
        decide_one(&mut bounded, vec![], vec![a, b]),
        Decision::Sampled
    );
}

#[test]
fn limiters_spend_spans_or_bytes_from_their_configured_bucket() {
    let spans = |n| (0..n).map(|_| span(1, true, vec![])).collect::<Vec<_>>();
    let mut rate = policy(
        "{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 3}}",
    );
    assert_eq!(decide_one(&mut rate, vec![], spans(3)), Decision::Sampled);
    assert_eq!(
        decide_one(&mut rate, vec![], spans(1)),
        Decision::NotSampled
    );
    let mut zero = policy("{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 0}}");
    assert_eq!(
        decide_one(&mut zero, vec![], spans(1)),
        Decision::NotSampled
    );
    let mut once = policy(
        "{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 0, burst_capacity: 2}}",
    );
    assert_eq!(decide_one(&mut once, vec![], spans(2)), Decision::Sampled);
    assert_eq!(
        decide_one(&mut once, vec![], spans(1)),
        Decision::NotSampled,
        "a zero rate never refills"
    );
    // bytes_limiting spends the trace's protobuf size: one span of these is ~40 bytes.
    let one = vec![rs(vec![], spans(1))];
    let size = super::trace_size(&one);
    assert!((30..80).contains(&size), "{size}");
    let mut bytes = policy(&format!(
        "{{name: b, type: bytes_limiting, bytes_limiting: {{bytes_per_second: 1, burst_capacity: {}}}}}",
        size * 2
    ));
    assert_eq!(decide_one(&mut bytes, vec![], spans(1)), Decision::Sampled);
    assert_eq!(decide_one(&mut bytes, vec![], spans(1)), Decision::Sampled);
    assert_eq!(
        decide_one(&mut bytes, vec![], spans(1)),
        Decision::NotSampled
    );
}

#[test]
fn probabilistic_hashes_the_default_salt_and_the_trace_id() {
    use super::policy::{probabilistic_threshold, salted_hash};
    let mut p = policy("{name: p, type: probabilistic, probabilistic: {sampling_percentage: 50}}");
    let batches = vec![rs(vec![], vec![span(1, false, vec![])])];
    let view = TraceView {
        batches: &batches,
        span_count: 1,
    };
    let mut kept = 0;
    for i in 0..=255u8 {
        let id = [i; 16];
        let want = salted_hash(b"default-hash-seed", &id) <= probabilistic_threshold(50.0);
        let got = p.evaluate(&id, &view, Instant::now()).unwrap() == Decision::Sampled;
        assert_eq!(got, want, "{i}");
        kept += usize::from(got);
    }
    assert!((90..170).contains(&kept), "about half: {kept}");
}
