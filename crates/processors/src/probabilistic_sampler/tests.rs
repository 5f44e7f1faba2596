//! otelcol-contrib's test vectors (processor/probabilisticsamplerprocessor and pkg/sampling),
//! decision by decision and tracestate by tracestate.

use super::priority::go_parse_float;
use super::sampler::fnv1a;
use super::*;
use crate::test_util::{kv_of, Sink};
use kakehashi_config::ComponentId;
use kakehashi_pdata::attrs::str_value;
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::logs::v1::{ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans};
use kakehashi_pdata::{ExportLogsServiceRequest, ExportTraceServiceRequest};
use kakehashi_telemetry::Telemetry;

/// A sampler as otelcol's tests make it: `&Config{...}` (fail_closed false, precision 0 = 14).
fn sampler(mode: &str, pct: f32, precision: i32) -> Sampler {
    Sampler::new(&ProbabilisticSamplerConfig {
        mode: mode.into(),
        sampling_percentage: pct,
        sampling_precision: precision,
        fail_closed: false,
        ..Default::default()
    })
}

fn span(tid: &str, tracestate: &str) -> Span {
    Span {
        trace_id: hex::decode(tid).unwrap(),
        span_id: vec![1; 8],
        trace_state: tracestate.into(),
        ..Default::default()
    }
}

/// The tracestate a kept span leaves with; `None` when dropped.
fn run(s: &Sampler, tid: &str, tracestate: &str) -> Option<String> {
    let mut sp = span(tid, tracestate);
    let (keep, _) = s.keep_span(&mut sp);
    keep.then_some(sp.trace_state)
}

const ANY_TID: &str = "fefefefefefefefefefefefefefefefe";

#[test]
fn proportional_and_equalizing_vectors() {
    for mode in ["proportional", "equalizing"] {
        let at = |pct, prec, tid, ts| run(&sampler(mode, pct, prec), tid, ts);
        assert_eq!(
            at(50.0, 0, "fefefefefefefefefe80000000000000", "").as_deref(),
            Some("ot=th:8")
        );
        assert_eq!(at(49.0, 0, "fefefefefefefefefe80000000000000", ""), None);
        assert_eq!(
            at(25.0, 0, "fefefefefefefefefec0000000000000", "").as_deref(),
            Some("ot=th:c")
        );
        assert_eq!(at(25.0, 0, "fefefefefefefefefeb0000000000000", ""), None);
        assert_eq!(
            at(1.0, 0, ANY_TID, "ot=rv:FD70A3D70A3D71").as_deref(),
            Some("ot=rv:FD70A3D70A3D71;th:fd70a3d70a3d71")
        );
        assert_eq!(at(1.0, 0, ANY_TID, "ot=rv:FD70A3D70A3D70"), None);
        assert_eq!(
            at(1.0, 4, ANY_TID, "ot=rv:FD70A3D70A3D71").as_deref(),
            Some("ot=rv:FD70A3D70A3D71;th:fd70a")
        );
        assert_eq!(at(1.0, 3, ANY_TID, "ot=rv:FD70A3D70A3D71"), None, "th fd71");
        assert_eq!(
            at(40.0, 3, ANY_TID, "ot=rv:a0000000000000").as_deref(),
            Some("ot=rv:a0000000000000;th:99a")
        );
        assert_eq!(at(200.0, 4, ANY_TID, "").as_deref(), Some("ot=th:0"));
        // An arriving threshold the randomness contradicts is cleared (fail open here).
        assert_eq!(
            at(100.0, 4, ANY_TID, "ot=rv:40000000000000;th:8").as_deref(),
            Some("ot=rv:40000000000000;th:0")
        );
    }
    let p = |pct, prec, tid, ts| run(&sampler("proportional", pct, prec), tid, ts);
    let e = |pct, prec, tid, ts| run(&sampler("equalizing", pct, prec), tid, ts);
    let d0 = "fefefefefefefefefed0000000000000";
    assert_eq!(p(40.0, 6, d0, "ot=th:8").as_deref(), Some("ot=th:cccccd"));
    assert_eq!(e(40.0, 6, d0, "ot=th:8").as_deref(), Some("ot=th:99999a"));
    let ff = "ffffffffffffffffffffffffffffffff";
    assert_eq!(p(25.0, 4, ff, "ot=th:8").as_deref(), Some("ot=th:e"));
    assert_eq!(e(25.0, 4, ff, "ot=th:8").as_deref(), Some("ot=th:c"));
    let ts = "ot=rv:c0000000000000;th:8";
    assert_eq!(
        p(50.0, 4, ANY_TID, ts).as_deref(),
        Some("ot=rv:c0000000000000;th:c")
    );
    assert_eq!(
        e(50.0, 4, ANY_TID, ts).as_deref(),
        Some("ot=rv:c0000000000000;th:8")
    );
    let ts = "ot=rv:90000000000000;th:80000000000000";
    assert_eq!(
        e(50.0, 4, ANY_TID, ts).as_deref(),
        Some("ot=rv:90000000000000;th:8")
    );
    assert_eq!(p(50.0, 4, ANY_TID, ts), None);
    let pct = (100.0f64 * 2f64.powi(-14)) as f32;
    assert_eq!(
        p(pct, 0, ff, "ot=th:fffc").as_deref(),
        Some("ot=th:fffffff")
    );
    assert_eq!(e(pct, 0, ff, "ot=th:fffc").as_deref(), Some("ot=th:fffc"));
    assert_eq!(
        p(((1.0 - 8e-7) * 100.0) as f32, 10, ff, "").as_deref(),
        Some("ot=th:00000cccccccd")
    );
    // A probability too small to express: dropped (proportional); equalizing keeps its own.
    assert_eq!(p(0.0625, 0, ff, "ot=th:fffffffffffff8"), None);
    assert_eq!(
        e(0.0625, 0, ff, "ot=th:fffffffffffff8").as_deref(),
        Some("ot=th:fffffffffffff8")
    );
}

#[test]
fn unreadable_state_follows_fail_closed() {
    for ts in ["ot=rv:abababababababab", "ot=th:-1"] {
        let mut s = sampler("proportional", 50.0, 4);
        assert_eq!(
            run(&s, ANY_TID, ts).as_deref(),
            Some(ts),
            "fail open: kept as it came"
        );
        s.fail_closed = true;
        assert_eq!(run(&s, ANY_TID, ts), None);
    }
    // No randomness at all (an all-zero trace id).
    let zero = "00000000000000000000000000000000";
    let mut s = sampler("proportional", 100.0, 4);
    s.fail_closed = true;
    assert_eq!(run(&s, zero, ""), None);
}

#[test]
fn hash_seed_vectors() {
    let at = |seed: u32, pct: f32, tid: &str, ts: &str| {
        let s = Sampler::new(&ProbabilisticSamplerConfig {
            sampling_percentage: pct,
            hash_seed: seed,
            fail_closed: false,
            ..Default::default()
        });
        run(&s, tid, ts)
    };
    assert_eq!(
        at(653, 50.0, "474a03c76d75951a4b4c537ced8f1122", "").as_deref(),
        Some("ot=rv:fa402373dec16f;th:8")
    );
    for (seed, tid, keep) in [
        (904, "4e40762d3ee97a1c0932e4fa584f89a8", false),
        (38, "0c8717ced36216037af657e9d7f8b35b", true),
        (561, "2a8aa76c18d08e1e8be935541f9318c7", false),
        (460, "60c3b9a2dde734d71ba5cca7eb164bce", true),
    ] {
        assert_eq!(at(seed, 50.0, tid, "").is_some(), keep, "seed {seed}");
    }
    assert_eq!(fnv1a(0, &[]) & 0x3fff, 0x3515);
    assert_eq!(fnv1a(0, &[0; 16]) & 0x3fff, 0x2455);
    for (pct, th) in [
        (100.0, "0"),
        (75.0, "4"),
        (50.0, "8"),
        (25.0, "c"),
        (10.0, "e668"),
        (100.0 / 3.0, "aaac"),
        (1.0, "fd74"),
        (0.01, "fffc"),
    ] {
        let s = Sampler::new(&ProbabilisticSamplerConfig {
            sampling_percentage: pct,
            ..Default::default()
        });
        assert_eq!(s.threshold.tvalue(), th, "{pct}%");
    }
    // Below one bucket (0.0061 %): nothing is kept.
    assert!(sampler("", 0.006, 4).never);
    // Existing sampling state is not this mode's to change: fail open keeps the span as is.
    assert_eq!(at(1, 100.0, ANY_TID, "ot=th:8").as_deref(), Some("ot=th:8"));
    assert_eq!(
        at(1, 100.0, "00000000000000000000000000000000", "").as_deref(),
        Some("ot=rv:ffffffffffffff;th:0")
    );
}

#[test]
fn span_priority_forces_a_decision() {
    let with = |v: Value| {
        let mut sp = span(ANY_TID, "");
        sp.attributes.push(kv_of("sampling.priority", v));
        sp
    };
    let s = sampler("proportional", 100.0, 4);
    assert!(!s.keep_span(&mut with(Value::IntValue(0))).0);
    assert!(!s.keep_span(&mut with(Value::StringValue("0".into()))).0);
    let none = sampler("proportional", 0.0, 4);
    let mut sp = with(Value::DoubleValue(1.5));
    let (keep, policy) = none.keep_span(&mut sp);
    assert!(keep && policy.name() == "sampling_priority");
    assert_eq!(sp.trace_state, "ot=th:0");
    assert!(none.keep_span(&mut with(Value::StringValue("2".into()))).0);
    // Go's ParseFloat reads hexadecimal floats.
    assert!(
        none.keep_span(&mut with(Value::StringValue("0x1.8p1".into())))
            .0
    );
    assert!(
        !s.keep_span(&mut with(Value::StringValue("-0x0p0".into())))
            .0
    );
    assert_eq!(go_parse_float("0x_1p0"), None);
    assert_eq!(go_parse_float("0x1_0p-4"), Some(1.0));
    assert_eq!(go_parse_float("0x1p"), None);
    assert_eq!(go_parse_float("0x1p99999"), None, "out of range");
    assert_eq!(go_parse_float("-Inf"), Some(f64::NEG_INFINITY));
    for defer in [
        Value::IntValue(-1),
        Value::StringValue("1e400".into()),
        Value::StringValue("x".into()),
        Value::BoolValue(true),
    ] {
        assert!(!none.keep_span(&mut with(defer.clone())).0, "{defer:?}");
        assert!(s.keep_span(&mut with(defer)).0);
    }
}

fn log(tid: &str, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        trace_id: if tid.is_empty() {
            Vec::new()
        } else {
            hex::decode(tid).unwrap()
        },
        attributes: attrs,
        ..Default::default()
    }
}

fn str_kv(k: &str, v: &str) -> KeyValue {
    kv_of(k, Value::StringValue(v.into()))
}

#[test]
fn logs_priority_randomness_and_attribute_hashing() {
    let mut s = sampler("proportional", 1.0, 6);
    let mut rec = log(
        "",
        vec![
            str_kv("sampling.randomness", "e6147c00000000"),
            kv_of("prio", Value::DoubleValue(10.125)),
        ],
    );
    let (keep, policy) = s.keep_log(&mut rec, "prio");
    assert!(keep && policy.name() == "sampling_priority");
    assert_eq!(str_value(&rec.attributes, "sampling.threshold"), "e6147b");
    // Without the priority attribute the configured 1 % decides.
    let mut rec = log("", vec![str_kv("sampling.randomness", "e6147c00000000")]);
    assert!(!s.keep_log(&mut rec, "prio").0);
    // From the trace id as W3C randomness.
    s.ratio = 0.5;
    let mut rec = log("fefefefefefefefefe80000000000000", vec![]);
    assert!(s.keep_log(&mut rec, "").0);
    assert_eq!(str_value(&rec.attributes, "sampling.threshold"), "8");

    // hash_seed from a record attribute.
    let h = Sampler::new(&ProbabilisticSamplerConfig {
        sampling_percentage: 50.0,
        hash_seed: 653,
        attribute_source: "record".into(),
        from_attribute: "request.id".into(),
        fail_closed: false,
        ..Default::default()
    });
    let mut rec = log(
        "",
        vec![kv_of(
            "request.id",
            Value::BytesValue(hex::decode("474a03c76d75951a4b4c537ced8f1122").unwrap()),
        )],
    );
    let (keep, policy) = h.keep_log(&mut rec, "");
    assert!(keep);
    assert_eq!(policy.name(), "request.id");
    assert_eq!(
        str_value(&rec.attributes, "sampling.randomness"),
        "fa402373dec16f"
    );
    assert_eq!(str_value(&rec.attributes, "sampling.threshold"), "8");
}

#[tokio::test]
async fn the_processor_drops_emptied_batches_and_counts_by_policy() {
    let t = Telemetry::new();
    let ctx = BuildContext::new(ComponentId::new("probabilistic_sampler", None), t.clone());
    let sink = Arc::new(Sink::default());
    let cfg = ProbabilisticSamplerConfig {
        sampling_percentage: 25.0,
        mode: "proportional".into(),
        ..Default::default()
    };
    let p = ProbabilisticSamplerProcessor::new(&cfg, &ctx, Signal::Traces, sink.clone());
    let request = |tids: &[&str]| {
        Batch::new(Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: tids.iter().map(|t| span(t, "")).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }))
    };
    let keep = "fefefefefefefefefec0000000000000";
    let drop = "fefefefefefefefefeb0000000000000";
    p.consume(request(&[drop, drop])).await.unwrap();
    assert!(sink.taken().is_empty(), "nothing left: not sent on");
    p.consume(request(&[keep, drop])).await.unwrap();
    let got = sink.taken();
    assert_eq!(got[0].payload.item_count(), 1);
    let sampled = |v: &str| {
        t.counter_value(
            "otelcol_processor_probabilistic_sampler_count_traces_sampled",
            &[("policy", "trace_id_w3c"), ("sampled", v)],
        )
    };
    assert_eq!((sampled("true"), sampled("false")), (Some(1), Some(3)));

    let lp = ProbabilisticSamplerProcessor::new(&cfg, &ctx, Signal::Logs, sink.clone());
    let logs = Batch::new(Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![log(keep, vec![]), log(drop, vec![])],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }));
    lp.consume(logs).await.unwrap();
    assert_eq!(sink.taken()[0].payload.item_count(), 1);
}
