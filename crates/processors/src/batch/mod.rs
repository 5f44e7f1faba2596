//! The `batch` processor (§4): otelcol's size/timeout triggers over item counts, with two
//! deliberate differences that keep data safe:
//! * intake is a small bounded channel per shard; when it stays full for [`ENQUEUE_WAIT`] the
//!   caller gets a retryable error (clients see UNAVAILABLE/503) instead of unbounded buffering;
//! * retryable downstream errors are retried (holding the shard, which stalls intake) instead of
//!   being dropped, and shutdown flushes everything pending, not one chunk.

mod config;
mod shard;

pub use config::BatchConfig;

use async_trait::async_trait;
use kakehashi_component::{Batch, ClientMetadata, ConsumeError, Consumer, Processor};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::BatchMetrics;
use shard::{Shard, ShardSettings};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long `consume` waits for room in a full shard channel before answering with a retryable
/// error. Long enough to ride out a short downstream hiccup, short enough that clients (whose
/// deadlines are typically 5–10 s) get a clean UNAVAILABLE they can retry.
pub const ENQUEUE_WAIT: Duration = Duration::from_secs(2);

/// Requests buffered per shard before `consume` blocks: 2 × cores, like otelcol's NumCPU-sized
/// channel with a little slack. Memory stays bounded by this times the request size.
fn channel_capacity() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// One shard per distinct combination of metadata values (`None` = key absent).
type ShardKey = Vec<Option<Vec<String>>>;

struct Shards {
    senders: HashMap<ShardKey, mpsc::Sender<Batch>>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct BatchProcessor {
    settings: ShardSettings,
    /// Lowercased and sorted, as otelcol does.
    metadata_keys: Vec<String>,
    cardinality_limit: usize,
    capacity: usize,
    shards: Mutex<Shards>,
    closed: AtomicBool,
    /// Set to `true` at shutdown so shards stuck retrying give up.
    shutdown_tx: watch::Sender<bool>,
}

impl BatchProcessor {
    pub fn new(
        cfg: &BatchConfig,
        signal: Signal,
        next: Arc<dyn Consumer>,
        metrics: BatchMetrics,
    ) -> Self {
        let mut keys: Vec<String> = cfg.metadata_keys.iter().map(|k| k.to_lowercase()).collect();
        keys.sort();
        let timeout = cfg.timeout.get();
        let (shutdown_tx, _) = watch::channel(false);
        BatchProcessor {
            settings: ShardSettings {
                signal,
                send_batch_size: cfg.send_batch_size as usize,
                max_size: cfg.send_batch_max_size as usize,
                timeout: (!timeout.is_zero() && cfg.send_batch_size > 0).then_some(timeout),
                next,
                metrics,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            metadata_keys: keys,
            cardinality_limit: cfg.metadata_cardinality_limit as usize,
            capacity: channel_capacity(),
            shards: Mutex::new(Shards {
                senders: HashMap::new(),
                tasks: Vec::new(),
            }),
            closed: AtomicBool::new(false),
            shutdown_tx,
        }
    }

    /// Items dropped because downstream failed permanently, or still failed at shutdown.
    pub fn dropped_items(&self) -> u64 {
        self.settings.dropped.load(Ordering::Relaxed)
    }

    /// The shard's sender for this client's metadata, starting the shard on first use.
    fn sender_for(&self, meta: &ClientMetadata) -> Result<mpsc::Sender<Batch>, ConsumeError> {
        let key: ShardKey = self
            .metadata_keys
            .iter()
            .map(|k| meta.get(k).map(<[String]>::to_vec))
            .collect();
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = shards.senders.get(&key) {
            return Ok(tx.clone());
        }
        // 0 means no limit (otelcol's `metadataLimit != 0` check).
        if !self.metadata_keys.is_empty()
            && self.cardinality_limit != 0
            && shards.senders.len() >= self.cardinality_limit
        {
            return Err(ConsumeError::permanent(
                "too many batcher metadata-value combinations",
            ));
        }
        // Outgoing batches carry only the configured keys (otelcol builds a fresh context).
        let headers: BTreeMap<String, Vec<String>> = self
            .metadata_keys
            .iter()
            .zip(&key)
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let metadata = ClientMetadata {
            addr: None,
            headers: Arc::new(headers),
        };
        let (tx, rx) = mpsc::channel(self.capacity);
        let shard = Shard::new(
            self.settings.clone(),
            metadata,
            self.shutdown_tx.subscribe(),
        );
        shards.tasks.push(tokio::spawn(shard.run(rx)));
        shards.senders.insert(key, tx.clone());
        self.settings
            .metrics
            .metadata_cardinality
            .set(shards.senders.len() as i64);
        Ok(tx)
    }
}

#[async_trait]
impl Consumer for BatchProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if batch.item_count() == 0 {
            return Ok(());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(ConsumeError::retryable("batch processor is shut down"));
        }
        let tx = self.sender_for(&batch.metadata)?;
        match tokio::time::timeout(ENQUEUE_WAIT, tx.send(batch)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ConsumeError::retryable("batch processor is shut down")),
            Err(_) => Err(ConsumeError::retryable(
                "batch processor is full: downstream is not keeping up",
            )),
        }
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    /// Closes intake, lets every shard flush all it holds, and waits for them.
    async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let tasks = {
            let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
            // Dropping the senders ends each shard's receive loop once its channel is drained.
            shards.senders.clear();
            std::mem::take(&mut shards.tasks)
        };
        // `send_replace`: stored even when no shard is subscribed yet, so a shard that a
        // racing `consume` starts afterwards still sees that shutdown has begun.
        self.shutdown_tx.send_replace(true);
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "batch shard task failed");
            }
        }
    }
}

crate::processor_factory!(
    BatchProcessorFactory,
    "batch",
    BatchConfig,
    |ctx, cfg, signal, next| {
        let metrics = ctx.telemetry.batch_processor(&ctx.id.to_string());
        Ok(Arc::new(BatchProcessor::new(cfg, signal, next, metrics)))
    }
);

#[cfg(test)]
mod tests;
