//! The `probabilistic_sampler` processor: keeps a percentage of spans (and log records) with
//! otelcol-contrib's decisions bit for bit, so Go and Rust collectors in one fleet sample the
//! same traces.
//!
//! * `hash_seed` (otelcol's default mode): a 14-bit FNV-1a hash of the seed and the trace id
//!   against `sampling_percentage` × 163.84 buckets; the span's `tracestate` gets the
//!   randomness and threshold that decision stands for (`ot=rv:…;th:…`).
//! * `proportional` / `equalizing`: OpenTelemetry's consistent probability sampling — the
//!   trace id's last 56 bits (or an incoming `ot=rv:`) against a threshold; proportional
//!   multiplies an incoming `th` probability by the configured one, equalizing keeps the lower
//!   of the two.
//!
//! Decisions are per span (the same trace id decides the same way); `sampling.priority` on a
//! span forces a decision; spans and log records whose sampling state cannot be read are
//! dropped with `fail_closed` (default) or kept.

mod carrier;
mod config;
mod priority;
mod sampler;

pub use config::{Mode, ProbabilisticSamplerConfig};

use async_trait::async_trait;
use kakehashi_component::{
    AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer, FactoryInfo, Processor,
    ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::{Payload, Signal};
use prometheus::IntCounterVec;
use sampler::{Policy, Sampler};
use std::sync::Arc;

pub struct ProbabilisticSamplerProcessor {
    sampler: Sampler,
    sampling_priority: String,
    sampled: IntCounterVec,
    next: Arc<dyn Consumer>,
}

impl ProbabilisticSamplerProcessor {
    fn new(
        cfg: &ProbabilisticSamplerConfig,
        ctx: &BuildContext,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Self {
        let what = if signal == Signal::Logs {
            "logs"
        } else {
            "traces"
        };
        ProbabilisticSamplerProcessor {
            sampler: Sampler::new(cfg),
            sampling_priority: cfg.sampling_priority.clone(),
            sampled: ctx.telemetry.counter_vec(
                &format!("otelcol_processor_probabilistic_sampler_count_{what}_sampled"),
                &format!("Count of {what} that were sampled or not [Development]"),
                &["policy", "sampled"],
            ),
            next,
        }
    }

    fn count(&self, policy: &Policy, sampled: bool) {
        self.sampled
            .with_label_values(&[policy.name(), if sampled { "true" } else { "false" }])
            .inc();
    }

    /// Drops what is not sampled; whether anything is left.
    fn sample(&self, payload: &mut Payload) -> bool {
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    for ss in &mut rs.scope_spans {
                        ss.spans.retain_mut(|span| {
                            let (keep, policy) = self.sampler.keep_span(span);
                            self.count(&policy, keep);
                            keep
                        });
                    }
                    rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                }
                req.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
                !req.resource_spans.is_empty()
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    for sl in &mut rl.scope_logs {
                        sl.log_records.retain_mut(|record| {
                            let (keep, policy) =
                                self.sampler.keep_log(record, &self.sampling_priority);
                            self.count(&policy, keep);
                            keep
                        });
                    }
                    rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
                }
                req.resource_logs.retain(|rl| !rl.scope_logs.is_empty());
                !req.resource_logs.is_empty()
            }
            // Refused when the pipeline is built.
            Payload::Metrics(_) => true,
        }
    }
}

#[async_trait]
impl Consumer for ProbabilisticSamplerProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        if !self.sample(batch.payload_mut()) {
            // Everything was sampled out: accepted, nothing to send on (otelcol's
            // ErrSkipProcessingData).
            return Ok(());
        }
        self.next.consume(batch).await
    }

    /// Sampling only removes data: the downstream's room is enough.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for ProbabilisticSamplerProcessor {}

pub struct ProbabilisticSamplerProcessorFactory;

impl FactoryInfo for ProbabilisticSamplerProcessorFactory {
    fn type_name(&self) -> &'static str {
        "probabilistic_sampler"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Logs]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        kakehashi_component::decode_config::<ProbabilisticSamplerConfig>(node, path)
    }
}

impl ProcessorFactory for ProbabilisticSamplerProcessorFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = kakehashi_component::config_as::<ProbabilisticSamplerConfig>(cfg);
        Ok(Arc::new(ProbabilisticSamplerProcessor::new(
            cfg, ctx, signal, next,
        )))
    }
}

#[cfg(test)]
mod tests;
