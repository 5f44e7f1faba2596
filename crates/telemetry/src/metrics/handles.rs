//! The metric handles a component holds: its own series of the registry's families, resolved
//! once at build time (`Telemetry::receiver`, `exporter`, `batch_processor`, `memory_limiter`).

use super::{idx, PerSignal};
use kakehashi_pdata::Signal;
use prometheus::{Histogram, IntCounter, IntGauge, IntGaugeVec};

/// `otelcol_receiver_{accepted,refused,failed}_*` for one receiver and transport.
#[derive(Clone)]
pub struct ReceiverMetrics {
    pub(super) accepted: PerSignal<IntCounter>,
    pub(super) refused: PerSignal<IntCounter>,
    pub(super) failed: PerSignal<IntCounter>,
}

impl ReceiverMetrics {
    pub fn accepted(&self, s: Signal, n: usize) {
        self.accepted[idx(s)].inc_by(n as u64);
    }
    pub fn refused(&self, s: Signal, n: usize) {
        self.refused[idx(s)].inc_by(n as u64);
    }
    pub fn failed(&self, s: Signal, n: usize) {
        self.failed[idx(s)].inc_by(n as u64);
    }
}

/// `otelcol_exporter_*` for one exporter and signal.
#[derive(Clone)]
pub struct ExporterMetrics {
    pub sent: IntCounter,
    pub send_failed: IntCounter,
    pub enqueue_failed: IntCounter,
    pub queue_size: IntGauge,
    pub queue_capacity: IntGauge,
    pub in_flight: IntGauge,
    /// With `sending_queue::batch`, the size of each batch sent, in items and in bytes; only at
    /// the `detailed` level, as otelcol.
    pub batch_send_size: Option<Histogram>,
    pub batch_send_size_bytes: Option<Histogram>,
    /// The families of `queue_size` and `queue_capacity` and this exporter's labels in them,
    /// for [`Self::without_queue`].
    pub(super) queue_families: (IntGaugeVec, IntGaugeVec, [String; 2]),
}

impl ExporterMetrics {
    /// This exporter has no sending queue: its `queue_size` and `queue_capacity` series are not
    /// exported (otelcol registers them only with a queue; a 0 ≥ 0 "queue full" alert would
    /// fire on them).
    pub fn without_queue(&self) {
        let (size, capacity, labels) = &self.queue_families;
        let labels = [labels[0].as_str(), labels[1].as_str()];
        let _ = size.remove_label_values(&labels);
        let _ = capacity.remove_label_values(&labels);
    }
}

/// `otelcol_processor_batch_*` for one batch processor.
#[derive(Clone)]
pub struct BatchMetrics {
    pub send_size: Histogram,
    pub size_trigger: IntCounter,
    pub timeout_trigger: IntCounter,
    /// Only at the `detailed` level (as otelcol): measuring a batch's size costs an encoding
    /// pass over it.
    pub send_size_bytes: Option<Histogram>,
    pub metadata_cardinality: IntGauge,
    pub dropped_items: IntCounter,
}

/// `otelcol_processor_memory_limiter_*` for one memory_limiter.
#[derive(Clone)]
pub struct MemoryLimiterMetrics {
    pub(super) accepted: PerSignal<IntCounter>,
    pub(super) refused: PerSignal<IntCounter>,
}

impl MemoryLimiterMetrics {
    pub fn accepted(&self, s: Signal, n: usize) {
        self.accepted[idx(s)].inc_by(n as u64);
    }
    pub fn refused(&self, s: Signal, n: usize) {
        self.refused[idx(s)].inc_by(n as u64);
    }
}
