//! The agent's sampling step with the exporter's samplers (Go `Agent.sample`): the trace
//! decision by priority, then the analytics events. The rates the Go samplers compute are 1
//! here: each service's traffic is taken as under their targets (docs/datadog.md).

use crate::model;

/// The error sampler's rate, on the root of a priority-0 trace it keeps.
pub(crate) const ERRORS_RATE_KEY: &str = "_dd.errors_sr";
/// An analytics event's extraction rate (`analytics.event`).
pub(crate) const EVENT_EXTRACTION_RATE_KEY: &str = "_dd1.sr.eausr";
/// The max-events-per-second limiter's rate on an event.
pub(crate) const MAX_EPS_RATE_KEY: &str = "_dd1.sr.eamax";
/// The client's sampling rate (from the root's `_sample_rate`).
pub(crate) const CLIENT_RATE_KEY: &str = "_dd1.sr.rcusr";
/// The agent's pre-sampler rate.
pub(crate) const PRE_SAMPLE_RATE_KEY: &str = "_dd1.sr.rapre";
/// Marks a span as an analytics event.
pub(crate) const ANALYZED_KEY: &str = "_dd.analyzed";

/// Metric the priority sampler writes on kept roots (rate of the agent sampler; 1 here).
pub const PRIORITY_RATE_KEY: &str = "_sampling_priority_rate_v1";

/// What the samplers decided for a chunk.
#[derive(Debug, PartialEq)]
pub(crate) enum Sampled {
    Keep,
    Drop,
    /// Dropped, but these spans (indices) are analytics events and are sent.
    EventsOnly(Vec<usize>),
}

/// Go's `Agent.sample` with the exporter's samplers: priority < 0 is dropped; priority 0 is
/// kept by the error sampler when a span has an error and the trace id samples at the root's
/// client rate (`_sample_rate`, 1 without), else dropped; priority > 0 is kept, and
/// an auto-keep root gets the priority sampler's rate. The rates are 1: each service's
/// traffic is assumed under the samplers' targets (10 traces/s). Then the analytics events of
/// a trace that was not a user drop.
pub(crate) fn sample(chunk: &mut model::TraceChunk, root: usize) -> Sampled {
    let priority = chunk.priority;
    if priority < 0 {
        return Sampled::Drop;
    }
    let keep = if priority == 0 {
        // The error sampler at its rate of 1, times the client's rate on the root
        // (ScoreSampler.applySampleRate), decided by the trace id as the agent does.
        let root_span = &chunk.spans[root];
        let client_rate = root_span
            .metrics
            .get(crate::span::SAMPLE_RATE)
            .copied()
            .unwrap_or(1.0);
        let kept = chunk.spans.iter().any(|s| s.error != 0)
            && sample_by_rate(root_span.trace_id, client_rate);
        if kept {
            chunk.spans[root]
                .metrics
                .insert(ERRORS_RATE_KEY.into(), 1.0);
        }
        kept
    } else {
        if priority == 1 {
            let root = &mut chunk.spans[root];
            let has_rate = ["_dd.agent_psr", "_dd.rule_psr", PRIORITY_RATE_KEY]
                .iter()
                .any(|k| root.metrics.contains_key(*k));
            if root.parent_id == 0 && !has_rate {
                root.metrics.insert(PRIORITY_RATE_KEY.into(), 1.0);
            }
        }
        true
    };
    chunk.dropped_trace = !keep;
    let events = extract_events(chunk, root);
    match (keep, events.is_empty()) {
        (true, _) => Sampled::Keep,
        (false, true) => Sampled::Drop,
        (false, false) => Sampled::EventsOnly(events),
    }
}

/// Go's event processor with its metric-based extractor (the only one the exporter's agent
/// has): a span carrying `_dd1.sr.eausr` (set from `analytics.event`) is an event when its
/// trace id samples at that rate (any rate > 0 counts as 1 in a user-keep trace). Events are
/// marked `_dd.analyzed` and carry the sampling rates below 1 (`_dd1.sr.eausr`, the root's
/// `_dd1.sr.rcusr` and `_dd1.sr.rapre`); rates of 1 are left out, as Go does to save
/// bandwidth. The max-events-per-second limiter (200) is taken as never reached.
fn extract_events(chunk: &mut model::TraceChunk, root: usize) -> Vec<usize> {
    let rate_of_root = |key: &str| chunk.spans[root].metrics.get(key).copied().unwrap_or(1.0);
    let (client_rate, pre_sample_rate) = (
        rate_of_root(CLIENT_RATE_KEY),
        rate_of_root(PRE_SAMPLE_RATE_KEY),
    );
    let user_keep = chunk.priority >= 2;
    let mut events = Vec::new();
    for (i, span) in chunk.spans.iter_mut().enumerate() {
        let Some(&rate) = span.metrics.get(EVENT_EXTRACTION_RATE_KEY) else {
            continue;
        };
        let rate = if rate > 0.0 && user_keep { 1.0 } else { rate };
        if !sample_by_rate(span.trace_id, rate) {
            continue;
        }
        span.metrics.remove(MAX_EPS_RATE_KEY);
        set_rate(&mut span.metrics, CLIENT_RATE_KEY, client_rate);
        set_rate(&mut span.metrics, PRE_SAMPLE_RATE_KEY, pre_sample_rate);
        set_rate(&mut span.metrics, EVENT_EXTRACTION_RATE_KEY, rate);
        span.metrics.insert(ANALYZED_KEY.into(), 1.0);
        events.push(i);
    }
    events
}

/// Go's `SetClientRate` and siblings: a rate below 1 is written, 1 is left out.
fn set_rate(metrics: &mut model::Metrics, key: &str, rate: f64) {
    if rate < 1.0 {
        metrics.insert(key.into(), rate);
    } else {
        metrics.remove(key);
    }
}

/// Go's `SampleByRate`: Knuth's multiplicative hash of the trace id against the rate.
fn sample_by_rate(trace_id: u64, rate: f64) -> bool {
    const KNUTH: u64 = 1_111_111_111_111_111_111;
    if rate < 1.0 {
        return trace_id.wrapping_mul(KNUTH) < (rate * u64::MAX as f64) as u64;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::dd_span as span;

    #[test]
    fn sample_by_rate_is_gos_knuth_hash() {
        // The trace ids of the agent's own 50 % sampling tests.
        assert!(sample_by_rate(123, 0.5));
        assert!(!sample_by_rate(1_237_892_138_897, 0.5));
        assert!(!sample_by_rate(1_237_892_138_898, 0.5));
        assert!(!sample_by_rate(123, 0.0));
        assert!(sample_by_rate(1_237_892_138_897, 1.0));
    }

    #[test]
    fn the_error_sampler_keeps_at_the_clients_rate() {
        let chunk = |trace: u64, rate: Option<f64>| {
            let mut root = span(1, 0, "a");
            root.trace_id = trace;
            root.error = 1;
            if let Some(r) = rate {
                root.metrics.insert("_sample_rate".into(), r);
            }
            model::TraceChunk {
                priority: 0,
                spans: vec![root],
                ..Default::default()
            }
        };
        for (trace, rate, kept) in [
            (1_237_892_138_897, None, true),
            (123, Some(0.5), true),
            (1_237_892_138_897, Some(0.5), false),
        ] {
            let mut c = chunk(trace, rate);
            let want = if kept { Sampled::Keep } else { Sampled::Drop };
            assert_eq!(sample(&mut c, 0), want, "{trace} at {rate:?}");
            assert_eq!(
                c.spans[0].metrics.contains_key(ERRORS_RATE_KEY),
                kept,
                "the error sampler's rate only on what it keeps"
            );
        }
    }

    #[test]
    fn analytics_events_carry_their_rates_below_one() {
        let event = |trace: u64, id: u64, rate: f64| {
            let mut s = span(id, if id == 1 { 0 } else { 1 }, "a");
            s.trace_id = trace;
            s.metrics.insert(EVENT_EXTRACTION_RATE_KEY.into(), rate);
            s
        };
        // The root's client rate 0.25 is copied to the events; a 0.5 extraction rate samples
        // trace 123 and is written; a user keep (priority 2) raises 0.5 to 1.
        let mut chunk = model::TraceChunk {
            priority: 1,
            spans: vec![event(123, 1, 0.5), event(123, 2, 0.0)],
            ..Default::default()
        };
        chunk.spans[0].metrics.insert(CLIENT_RATE_KEY.into(), 0.25);
        chunk.spans[0].metrics.insert(MAX_EPS_RATE_KEY.into(), 0.1);
        assert_eq!(sample(&mut chunk, 0), Sampled::Keep);
        let m = &chunk.spans[0].metrics;
        assert_eq!(m[ANALYZED_KEY], 1.0);
        assert_eq!(m[EVENT_EXTRACTION_RATE_KEY], 0.5);
        assert_eq!(m[CLIENT_RATE_KEY], 0.25);
        assert!(
            !m.contains_key(MAX_EPS_RATE_KEY),
            "the limiter's rate is 1 here"
        );
        assert!(
            !chunk.spans[1].metrics.contains_key(ANALYZED_KEY),
            "rate 0: no event"
        );
        assert!(!chunk.dropped_trace);

        let mut user_keep = model::TraceChunk {
            priority: 2,
            spans: vec![event(1_237_892_138_897, 1, 0.5)],
            ..Default::default()
        };
        assert_eq!(sample(&mut user_keep, 0), Sampled::Keep);
        let m = &user_keep.spans[0].metrics;
        assert_eq!(m[ANALYZED_KEY], 1.0);
        assert!(
            !m.contains_key(EVENT_EXTRACTION_RATE_KEY),
            "raised to 1, left out"
        );

        // A user drop has no events; an auto drop keeps its events alone.
        let mut user_drop = model::TraceChunk {
            priority: -1,
            spans: vec![event(123, 1, 1.0)],
            ..Default::default()
        };
        assert_eq!(sample(&mut user_drop, 0), Sampled::Drop);
        let mut auto_drop = model::TraceChunk {
            priority: 0,
            spans: vec![event(123, 1, 0.0), event(123, 2, 1.0)],
            ..Default::default()
        };
        assert_eq!(sample(&mut auto_drop, 0), Sampled::EventsOnly(vec![1]));
        assert!(auto_drop.dropped_trace);
    }
}
