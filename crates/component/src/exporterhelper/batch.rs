//! `sending_queue::batch`: exporter-side batching, which otelcol runs after the sending queue
//! (its `queuebatch`): requests are merged until `min_size` or `flush_timeout`, and cut at
//! `max_size`.

use super::Sizer;
use kakehashi_config::{Duration, Validate};
use serde::{Deserialize, Deserializer};

/// `sending_queue::batch`, with otelcol's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBatchSettings {
    /// A batch is sent this long after its first request at the latest, whatever its size.
    pub flush_timeout: Duration,
    /// What `min_size` and `max_size` count; unset, it is `items` (or the queue's own `sizer`
    /// where that is set, see `QueueSettings`).
    pub sizer: Option<Sizer>,
    /// Signed, as otelcol's, so that a negative value gets its own message.
    pub min_size: i64,
    /// 0: batches are never cut.
    pub max_size: i64,
    pub partition: PartitionSettings,
}

impl Default for QueueBatchSettings {
    fn default() -> Self {
        QueueBatchSettings {
            flush_timeout: Duration::from_millis(200),
            sizer: None,
            min_size: 8192,
            max_size: 0,
            partition: PartitionSettings::default(),
        }
    }
}

/// `sending_queue::batch::partition`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartitionSettings {
    /// Not supported yet: a non-empty list is a config error.
    pub metadata_keys: Vec<String>,
}

impl QueueBatchSettings {
    /// The sizer `min_size` and `max_size` count in.
    pub fn sizer(&self) -> Sizer {
        self.sizer.unwrap_or(Sizer::Items)
    }

    /// `min_size` as a count (validation has refused a negative one).
    pub fn min(&self) -> usize {
        usize::try_from(self.min_size).unwrap_or(0)
    }

    /// `max_size` as a count; 0 means no limit.
    pub fn max(&self) -> usize {
        usize::try_from(self.max_size).unwrap_or(0)
    }
}

impl Validate for QueueBatchSettings {
    /// otelcol's checks and messages (`queuebatch.BatchConfig.Validate`).
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let sizer = self.sizer();
        if sizer == Sizer::Requests {
            errs.push("`batch` supports only `items` or `bytes` sizer, found \"requests\"".into());
        }
        if self.flush_timeout.is_zero() {
            errs.push("`flush_timeout` must be positive, found 0".into());
        }
        if self.min_size < 0 {
            errs.push(format!(
                "`min_size` must be non-negative, found {}",
                self.min_size
            ));
        }
        if self.max_size < 0 {
            errs.push(format!(
                "`max_size` must be non-negative, found {}",
                self.max_size
            ));
        }
        if self.max_size > 0 && self.max_size < self.min_size {
            errs.push(format!(
                "`max_size` ({}) must be greater or equal to `min_size` ({})",
                self.max_size, self.min_size
            ));
        }
        if !self.partition.metadata_keys.is_empty() {
            errs.push(
                "partition::metadata_keys: batches partitioned by client metadata are not \
                 supported yet"
                    .into(),
            );
        }
        errs
    }
}

/// `batch` as written: whether it sets anything decides whether it takes the queue's `sizer`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBatch {
    flush_timeout: Option<Duration>,
    sizer: Option<Sizer>,
    min_size: Option<i64>,
    max_size: Option<i64>,
    partition: Option<PartitionSettings>,
}

impl RawBatch {
    /// The settings, defaults filled in. otelcol's rule: a section that sets something but no
    /// `sizer` of its own takes an explicitly set queue `sizer`; an empty one keeps `items`.
    pub(super) fn resolve(self, queue_sizer: Option<Sizer>) -> QueueBatchSettings {
        let sets_something = self.flush_timeout.is_some()
            || self.min_size.is_some()
            || self.max_size.is_some()
            || self.partition.is_some();
        let d = QueueBatchSettings::default();
        QueueBatchSettings {
            flush_timeout: self.flush_timeout.unwrap_or(d.flush_timeout),
            sizer: self.sizer.or(queue_sizer.filter(|_| sets_something)),
            min_size: self.min_size.unwrap_or(d.min_size),
            max_size: self.max_size.unwrap_or(d.max_size),
            partition: self.partition.unwrap_or_default(),
        }
    }
}

/// `batch:` with no value turns batching on with its defaults, as in otelcol; an absent key
/// leaves it off.
pub(super) fn null_is_default<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<RawBatch>, D::Error> {
    Ok(Some(
        Option::<RawBatch>::deserialize(d)?.unwrap_or_default(),
    ))
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
