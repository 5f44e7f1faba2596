//! The processor's self-metrics, otelcol-contrib's names under `otelcol_processor_tail_sampling_`,
//! each labelled with the processor's id so that several instances do not mix.

use super::policy::Decision;
use kakehashi_component::BuildContext;
use prometheus::{IntCounter, IntCounterVec, IntGauge};

pub(super) struct Metrics {
    processor: String,
    traces_sampled: IntCounterVec,
    global_sampled: IntCounterVec,
    pub new_traces: IntCounter,
    pub dropped_too_early: IntCounter,
    pub evaluation_errors: IntCounter,
    pub too_large: IntCounter,
    cache_releases: IntCounterVec,
    pub on_memory: IntGauge,
    pub forward_failures: IntCounter,
    pub undecodable: IntCounter,
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Sampled => "sampled",
        Decision::NotSampled => "not_sampled",
        Decision::Dropped => "dropped",
    }
}

impl Metrics {
    pub(super) fn new(ctx: &BuildContext) -> Metrics {
        let t = &ctx.telemetry;
        let processor = ctx.id.to_string();
        let name = |n: &str| format!("otelcol_processor_tail_sampling_{n}");
        let counter = |n: &str, help: &str| {
            t.counter_vec(&name(n), help, &["processor"])
                .with_label_values(&[processor.as_str()])
        };
        Metrics {
            traces_sampled: t.counter_vec(
                &name("count_traces_sampled"),
                "Count of traces that were sampled or not per sampling policy",
                &["processor", "policy", "sampled", "decision"],
            ),
            global_sampled: t.counter_vec(
                &name("global_count_traces_sampled"),
                "Global count of traces that were sampled or not by at least one policy",
                &["processor", "sampled", "decision"],
            ),
            new_traces: counter("new_trace_id_received", "Counts the arrival of new traces"),
            dropped_too_early: counter(
                "sampling_trace_dropped_too_early",
                "Count of traces that needed to be dropped before the configured wait time",
            ),
            evaluation_errors: counter(
                "sampling_policy_evaluation_error",
                "Count of sampling policy evaluation errors",
            ),
            too_large: counter(
                "traces_dropped_too_large",
                "Count of traces not sampled because they exceeded maximum_trace_size_bytes",
            ),
            cache_releases: t.counter_vec(
                &name("early_releases_from_cache_decision"),
                "Number of spans that were able to be immediately released due to a decision cache hit",
                &["processor", "sampled"],
            ),
            on_memory: t
                .gauge_vec(
                    &name("sampling_traces_on_memory"),
                    "Tracks the number of traces current on memory",
                    &["processor"],
                )
                .with_label_values(&[processor.as_str()]),
            forward_failures: counter(
                "spans_dropped_downstream_refused",
                "Spans of sampled traces lost because the next component refused them",
            ),
            undecodable: counter(
                "spans_dropped_undecodable",
                "Spans of waiting traces lost because their held protobuf could not be decoded back",
            ),
            processor,
        }
    }

    /// One policy's decision for one trace.
    pub(super) fn policy_decided(&self, policy: &str, d: Decision) {
        self.traces_sampled
            .with_label_values(&[
                self.processor.as_str(),
                policy,
                yes_no(d == Decision::Sampled),
                decision_name(d),
            ])
            .inc();
    }

    /// A trace's final decision.
    pub(super) fn trace_decided(&self, d: Decision) {
        self.global_sampled
            .with_label_values(&[
                self.processor.as_str(),
                yes_no(d == Decision::Sampled),
                decision_name(d),
            ])
            .inc();
    }

    /// Spans a decision cache answered for.
    pub(super) fn released_by_cache(&self, sampled: bool, spans: u64) {
        self.cache_releases
            .with_label_values(&[self.processor.as_str(), yes_no(sampled)])
            .inc_by(spans);
    }
}
