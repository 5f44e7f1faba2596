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

pub mod attraction;
pub mod attributes;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod ottl;
pub mod resource;
pub mod resourcedetection;
#[cfg(test)]
mod test_util;
pub mod transform;
mod tree;

pub use attributes::{AttributesConfig, AttributesProcessorFactory};
pub use batch::{BatchConfig, BatchProcessorFactory};
pub use filter::{FilterConfig, FilterProcessorFactory};
pub use memory_limiter::{MemoryLimiterConfig, MemoryLimiterProcessorFactory};
pub use resource::{ResourceConfig, ResourceProcessorFactory};
pub use resourcedetection::{ResourceDetectionConfig, ResourceDetectionProcessorFactory};
pub use transform::{TransformConfig, TransformProcessorFactory};

use kakehashi_pdata::Signal;

/// Every processor here handles all three signals.
const ALL_SIGNALS: &[Signal] = &Signal::ALL;
