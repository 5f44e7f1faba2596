//! The `tail_sampling` config: Go's defaults, its README's policies, and every setting that is
//! an error (unsupported, or invalid as in Go); the probabilistic policy's threshold and hash.

use super::policy::{probabilistic_threshold, salted_hash};
use super::tests::{config, errors};
use std::time::Duration;

#[test]
fn defaults_are_go_defaults() {
    let c = config("policies: []");
    assert_eq!(c.decision_wait.get(), Duration::from_secs(30));
    assert_eq!(c.num_traces, 50_000);
    assert_eq!(c.sampling_strategy, "trace-complete");
    assert!(!c.sample_on_first_match);
}

#[test]
fn otelcol_readme_policies_are_accepted() {
    config(
        r#"
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 1000}
policies:
  - {name: test-policy-1, type: always_sample}
  - {name: test-policy-2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000}}
  - {name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
  - {name: test-policy-4, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}
  - {name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - {name: test-policy-7, type: string_attribute, string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10}}
  - {name: test-policy-8, type: rate_limiting, rate_limiting: {spans_per_second: 35}}
  - {name: test-policy-9, type: string_attribute, string_attribute: {key: http.url, values: [\/health, \/metrics], enabled_regex_matching: true, invert_match: true}}
  - {name: test-policy-10, type: span_count, span_count: {min_spans: 2, max_spans: 20}}
  - {name: test-policy-11, type: trace_state, trace_state: {key: key3, values: [value1, value2]}}
  - {name: test-policy-12, type: boolean_attribute, boolean_attribute: {key: key4, value: true}}
  - name: test-policy-13
    type: ottl_condition
    ottl_condition:
      error_mode: ignore
      span: ['attributes["test_attr_key_1"] == "test_attr_val_1"']
      spanevent: ['name != "test_span_event_name"']
  - name: and-policy-1
    type: and
    and:
      and_sub_policy:
        - {name: test-and-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-and-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - name: drop-it
    type: drop
    drop:
      drop_sub_policy:
        - {name: health, type: string_attribute, string_attribute: {key: url.path, values: [\/health]}}
  - name: composite-policy-1
    type: composite
    composite:
      max_total_spans_per_second: 1000
      policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3]
      composite_sub_policy:
        - {name: test-composite-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-composite-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
        - {name: test-composite-policy-3, type: always_sample}
      rate_allocation:
        - {policy: test-composite-policy-1, percent: 50}
        - {policy: test-composite-policy-2, percent: 25}
  - name: not-ok
    type: not
    not: {not_sub_policy: {name: ok, type: status_code, status_code: {status_codes: [OK]}}}
"#,
    );
}

#[test]
fn unsupported_and_invalid_settings_are_errors() {
    let cases = [
        ("policies: [{name: a, type: nope}]", "unknown sampling policy type \"nope\""),
        ("policies: [{type: always_sample}]", "policy name cannot be empty"),
        (
            "policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
            "duplicate policy name \"a\"",
        ),
        (
            "policies: [{name: c, type: composite, composite: {composite_sub_policy: [{name: n, type: not}]}}]",
            "unknown sampling policy type \"not\"",
        ),
        (
            "policies: [{name: c, type: composite, composite: {composite_sub_policy: [{name: n, type: always_sample, drop: {}}]}}]",
            "has invalid keys: drop",
        ),
        ("sampling_strategy: span-ingest", "\"span-ingest\" is not supported yet"),
        ("sampling_strategy: other", "invalid sampling_strategy \"other\""),
        ("tail_storage: file_storage", "tail_storage is not supported yet"),
        ("num_shards: 300", "num_shards (300) must not exceed 256"),
        (
            "policies: [{name: s, type: status_code, status_code: {status_codes: [FAIL]}}]",
            "unknown status code \"FAIL\", supported: OK, ERROR, UNSET",
        ),
        (
            "policies: [{name: s, type: status_code}]",
            "expected at least one status code to filter on",
        ),
        (
            "policies: [{name: n, type: numeric_attribute, numeric_attribute: {key: k}}]",
            "at least one of min_value or max_value must be set",
        ),
        (
            "policies: [{name: r, type: string_attribute, string_attribute: {key: k, values: ['('], enabled_regex_matching: true}}]",
            "invalid regex",
        ),
        (
            "policies: [{name: o, type: ottl_condition}]",
            "expected at least one OTTL condition to filter on",
        ),
        (
            "policies: [{name: o, type: ottl_condition, ottl_condition: {span: ['attributes[\"a\" == 1']}}]",
            "unable to parse OTTL condition",
        ),
        (
            "policies: [{name: l, type: latency, latency: {threshold: 5}}]",
            "threshold",
        ),
        (
            "policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: and}]}}]",
            "unknown sampling policy type \"and\"",
        ),
        (
            "policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: always_sample, drop: {}}]}}]",
            "has invalid keys: drop",
        ),
        (
            "policies: [{name: d, type: drop, drop: {drop_sub_policy: [{name: b, type: not}]}}]",
            "unknown sampling policy type \"not\"",
        ),
    ];
    for (yaml, want) in cases {
        let got = errors(yaml);
        assert!(got.contains(want), "{yaml}: {got:?} lacks {want:?}");
    }
}

#[test]
fn probabilistic_threshold_and_hash_are_gos() {
    // Exact products rounded to a 64-bit mantissa, then truncated (computed with rationals).
    assert_eq!(probabilistic_threshold(10.0), 1_844_674_407_370_955_263);
    assert_eq!(probabilistic_threshold(33.3), 6_142_765_776_545_279_999);
    assert_eq!(probabilistic_threshold(0.01), 1_844_674_407_370_955);
    assert_eq!(probabilistic_threshold(99.9999), 18_446_725_626_965_477_375);
    assert_eq!(probabilistic_threshold(50.0), 9_223_372_036_854_775_807);
    assert_eq!(probabilistic_threshold(0.0), 0);
    assert_eq!(probabilistic_threshold(-5.0), 0);
    assert_eq!(probabilistic_threshold(100.0), u64::MAX);
    assert_eq!(probabilistic_threshold(250.0), u64::MAX);
    let id: [u8; 16] = std::array::from_fn(|i| i as u8);
    assert_eq!(
        salted_hash(b"default-hash-seed", &id),
        0xa662_2cfe_5bfb_0e0d
    );
}
