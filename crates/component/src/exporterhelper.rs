//! otelcol's exporterhelper settings: `timeout`, `retry_on_failure`, `sending_queue`.
//! Exporter configs embed these fields; the pipeline crate's exporter runner applies them.

mod batch;

pub use batch::{PartitionSettings, QueueBatchSettings};
use kakehashi_config::{Duration, Validate};
use serde::Deserialize;

/// `retry_on_failure`, with otelcol's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    pub initial_interval: Duration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: Duration,
    /// 0 means retry forever.
    pub max_elapsed_time: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl Validate for RetrySettings {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if !self.enabled {
            return errs;
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errs.push("'randomization_factor' must be within [0, 1]".into());
        }
        // 0 is allowed, as in otelcol: every retry after the first waits ~0.
        if self.multiplier < 0.0 {
            errs.push("'multiplier' must be non-negative".into());
        }
        if !self.max_elapsed_time.is_zero() {
            if self.max_elapsed_time < self.initial_interval {
                errs.push("'max_elapsed_time' must not be less than 'initial_interval'".into());
            }
            if self.max_elapsed_time < self.max_interval {
                errs.push("'max_elapsed_time' must not be less than 'max_interval'".into());
            }
        }
        errs
    }
}

/// What `queue_size` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sizer {
    #[default]
    Requests,
    Items,
    Bytes,
}

/// `sending_queue`, with otelcol's defaults (on for network exporters; the debug exporter turns
/// it off by default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawQueueSettings")]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    pub sizer: Sizer,
    pub block_on_overflow: bool,
    pub wait_for_result: bool,
    /// A storage extension id (`file_storage[/name]`): the queue is persisted there and survives
    /// restarts. The resolver checks that the extension is configured and enabled.
    pub storage: Option<String>,
    /// Exporter-side batching after the queue (`batch:`; off when absent).
    pub batch: Option<QueueBatchSettings>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: false,
            wait_for_result: false,
            storage: None,
            batch: None,
        }
    }
}

/// `sending_queue` as written: whether `sizer` was set matters to `batch`, which inherits it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawQueueSettings {
    enabled: bool,
    num_consumers: usize,
    queue_size: usize,
    sizer: Option<Sizer>,
    block_on_overflow: bool,
    wait_for_result: bool,
    storage: Option<String>,
    #[serde(deserialize_with = "batch::null_is_default")]
    batch: Option<batch::RawBatch>,
}

impl Default for RawQueueSettings {
    fn default() -> Self {
        let d = QueueSettings::default();
        RawQueueSettings {
            enabled: d.enabled,
            num_consumers: d.num_consumers,
            queue_size: d.queue_size,
            sizer: None,
            block_on_overflow: d.block_on_overflow,
            wait_for_result: d.wait_for_result,
            storage: d.storage,
            batch: None,
        }
    }
}

impl From<RawQueueSettings> for QueueSettings {
    fn from(raw: RawQueueSettings) -> Self {
        let batch = raw.batch.map(|b| b.resolve(raw.sizer));
        QueueSettings {
            enabled: raw.enabled,
            num_consumers: raw.num_consumers,
            queue_size: raw.queue_size,
            sizer: raw.sizer.unwrap_or_default(),
            block_on_overflow: raw.block_on_overflow,
            wait_for_result: raw.wait_for_result,
            storage: raw.storage,
            batch,
        }
    }
}

impl QueueSettings {
    pub fn disabled() -> Self {
        QueueSettings {
            enabled: false,
            ..Default::default()
        }
    }
}

impl Validate for QueueSettings {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if !self.enabled {
            // As otelcol, nothing else is checked (a `batch` section then has no effect: the
            // runner says so at start).
            return errs;
        }
        if self.num_consumers == 0 {
            errs.push("`num_consumers` must be positive".into());
        }
        if self.queue_size == 0 {
            errs.push("`queue_size` must be positive".into());
        }
        if self.storage.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errs.push("sending_queue::storage: must be a storage extension id".into());
        }
        if self.storage.is_some() && self.wait_for_result {
            errs.push(
                "`wait_for_result` is not supported with a persistent queue configured with `storage`"
                    .into(),
            );
        }
        if let Some(b) = &self.batch {
            errs.extend(b.validate().into_iter().map(|e| format!("batch: {e}")));
            if b.sizer() == self.sizer && b.min_size > self.queue_size as i64 {
                // otelcol's rule: a queue that cannot hold one batch would never flush on size.
                errs.push("`min_size` must be less than or equal to `queue_size`".into());
            }
        }
        errs
    }
}

/// The runner's settings for one exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterHelperSettings {
    /// Per-attempt timeout; zero means none.
    pub timeout: Duration,
    pub retry: RetrySettings,
    pub queue: QueueSettings,
}

impl Default for ExporterHelperSettings {
    fn default() -> Self {
        ExporterHelperSettings {
            timeout: Duration::from_secs(5),
            retry: RetrySettings::default(),
            queue: QueueSettings::default(),
        }
    }
}

impl ExporterHelperSettings {
    /// Validation of the embedded settings, for an exporter config's own `validate`.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = self.retry.validate();
        errs.extend(self.queue.validate());
        errs
    }
}
