//! Processors: batch, resource, attributes, memory_limiter, reproducing otelcol-contrib.
//!
//! * [`batch`]: item-count batching with otelcol's triggers, bounded intake (backpressure) and
//!   lossless retry of retryable downstream errors.
//! * [`resource`] / [`attributes`]: the shared [`attraction`] action engine applied to resource
//!   attributes, or to span / data point / log record attributes with include/exclude filters.
//! * [`memory_limiter`]: refuses data (retryable) while process memory is above the soft limit.
//! * [`resourcedetection`]: merges the resource the `env` and `system` detectors find into
//!   every batch's resources.
//! * [`transform`]: [`ottl`] statements (`set`, `delete_key`, `replace_pattern`, ...) on
//!   resources, scopes, spans, span events, log records, metrics and data points.
//! * [`filter`]: drops what [`ottl`] conditions match, at any level of any signal (or by the
//!   legacy span and metric include/exclude matches).
//! * [`probabilistic_sampler`]: keeps a percentage of spans and log records, deciding as
//!   otelcol-contrib does (hash_seed, proportional, equalizing; W3C `tracestate`).
//! * [`tail_sampling`]: holds each trace for `decision_wait`, then keeps or drops it whole by
//!   its policies, as otelcol-contrib's `trace-complete` strategy.

/// A processor factory's description: its type name and its config type (decoded and validated
/// with otelcol's rules). Every processor here handles all three signals.
macro_rules! processor_factory_info {
    ($factory:ident, $type_name:literal, $config:ty) => {
        impl kakehashi_component::FactoryInfo for $factory {
            fn type_name(&self) -> &'static str {
                $type_name
            }
            fn signals(&self) -> &'static [kakehashi_pdata::Signal] {
                crate::ALL_SIGNALS
            }
            fn decode(
                &self,
                node: &kakehashi_config::Node,
                path: &str,
            ) -> Result<kakehashi_component::AnyConfig, kakehashi_config::ConfigErrors> {
                kakehashi_component::decode_config::<$config>(node, path)
            }
        }
    };
}
pub(crate) use processor_factory_info;

/// A stateless processor's factory: its description ([`processor_factory_info`]) and how an
/// instance is built from the typed config (`cfg`) for one pipeline.
macro_rules! processor_factory {
    ($factory:ident, $type_name:literal, $config:ty,
     |$ctx:ident, $cfg:ident, $signal:ident, $next:ident| $build:block) => {
        pub struct $factory;

        crate::processor_factory_info!($factory, $type_name, $config);

        impl kakehashi_component::ProcessorFactory for $factory {
            fn build(
                &self,
                $ctx: &kakehashi_component::BuildContext,
                cfg: &kakehashi_component::AnyConfig,
                $signal: kakehashi_pdata::Signal,
                $next: std::sync::Arc<dyn kakehashi_component::Consumer>,
            ) -> Result<
                std::sync::Arc<dyn kakehashi_component::Processor>,
                kakehashi_component::BuildError,
            > {
                let $cfg = kakehashi_component::config_as::<$config>(cfg);
                $build
            }
        }
    };
}
pub(crate) use processor_factory;

pub mod attraction;
pub mod attributes;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod ottl;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resourcedetection;
pub mod tail_sampling;
#[cfg(test)]
mod test_util;
pub mod transform;
mod tree;

pub use attributes::{AttributesConfig, AttributesProcessorFactory};
pub use batch::{BatchConfig, BatchProcessorFactory};
pub use filter::{FilterConfig, FilterProcessorFactory};
pub use memory_limiter::{MemoryLimiterConfig, MemoryLimiterProcessorFactory};
pub use probabilistic_sampler::{ProbabilisticSamplerConfig, ProbabilisticSamplerProcessorFactory};
pub use resource::{ResourceConfig, ResourceProcessorFactory};
pub use resourcedetection::{ResourceDetectionConfig, ResourceDetectionProcessorFactory};
pub use tail_sampling::{TailSamplingConfig, TailSamplingProcessorFactory};
pub use transform::{TransformConfig, TransformProcessorFactory};

use kakehashi_pdata::Signal;

/// Every processor here handles all three signals.
const ALL_SIGNALS: &[Signal] = &Signal::ALL;
