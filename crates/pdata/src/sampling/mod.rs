//! OpenTelemetry's consistent probability sampling in the W3C `tracestate` (otelcol's
//! `pkg/sampling`): the `ot` member's randomness (`rv`) and rejection threshold (`th`). The
//! `probabilistic_sampler` processor writes them; the Datadog mapping reads the probability.

mod threshold;
mod tracestate;

pub use threshold::{Randomness, Threshold, MAX_ADJUSTED_COUNT, MIN_PROBABILITY};
pub use tracestate::{w3c_members, TraceState};
