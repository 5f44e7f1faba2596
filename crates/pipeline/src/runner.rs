//! The exporter runner: otelcol's exporterhelper chain — sending queue → retry → timeout →
//! exporter — around one [`Exporter`] attempt.
//!
//! Every item that does not reach the backend is counted (`otelcol_exporter_send_failed_*`,
//! `otelcol_exporter_enqueue_failed_*`) and logged with its count: nothing is dropped silently.
//!
//! The queue lives in memory, or, with `sending_queue::storage`, in a storage extension
//! ([`persistent_queue`]). With `sending_queue::batch`, the in-memory queue's requests are merged
//! and cut into batches before export ([`batcher`]).

mod batcher;
mod persistent_queue;

use crate::backoff::Backoff;
use async_trait::async_trait;
use batcher::Batcher;
use kakehashi_component::exporterhelper::{ExporterHelperSettings, Sizer};
use kakehashi_component::{Batch, ConsumeError, Consumer, ExportError, Exporter, Storage};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::ExporterMetrics;
use persistent_queue::PersistentQueue;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for an in-memory queue to drain before dropping (and counting) what is
/// left. Kubernetes' default grace period is 30 s; our manifests give more.
pub const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_secs(20);

struct QueueItem {
    batch: Batch,
    /// Capacity units held while the item is queued or in flight.
    _permit: OwnedSemaphorePermit,
    units: usize,
    /// Set with `wait_for_result: true`: the caller waits for the export result.
    reply: Option<oneshot::Sender<Result<(), ExportError>>>,
}

struct Shared {
    id: String,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    settings: ExporterHelperSettings,
    metrics: ExporterMetrics,
    /// Shutdown has begun: retries stop, each remaining item gets one attempt.
    stopping: CancellationToken,
    /// The drain deadline passed: remaining items are dropped and counted.
    abort: CancellationToken,
}

/// Runs one exporter for one signal. It is the [`Consumer`] at the end of a pipeline.
pub struct ExporterRunner {
    shared: Arc<Shared>,
    queue: Option<Queue>,
    persistent: Option<PersistentQueue>,
}

struct Queue {
    tx: Mutex<Option<mpsc::UnboundedSender<QueueItem>>>,
    capacity: Arc<Semaphore>,
    capacity_units: usize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl ExporterRunner {
    /// A runner with an in-memory queue (when `sending_queue` is enabled).
    pub fn new(
        id: String,
        signal: Signal,
        exporter: Arc<dyn Exporter>,
        settings: ExporterHelperSettings,
        metrics: ExporterMetrics,
    ) -> Self {
        Self::with_storage(id, signal, exporter, settings, metrics, None)
    }

    /// A runner whose queue is persisted in `storage` (the extension `sending_queue::storage`
    /// names, resolved by the topology); with `None`, the same as [`ExporterRunner::new`].
    pub fn with_storage(
        id: String,
        signal: Signal,
        exporter: Arc<dyn Exporter>,
        settings: ExporterHelperSettings,
        metrics: ExporterMetrics,
        storage: Option<Arc<dyn Storage>>,
    ) -> Self {
        let queue_settings = settings.queue.clone();
        let shared = Arc::new(Shared {
            id,
            signal,
            exporter,
            settings,
            metrics,
            stopping: CancellationToken::new(),
            abort: CancellationToken::new(),
        });
        let persistent = storage.filter(|_| queue_settings.enabled).map(|storage| {
            shared
                .metrics
                .queue_capacity
                .set(queue_settings.queue_size as i64);
            PersistentQueue::new(
                storage,
                queue_settings.queue_size,
                queue_settings.num_consumers,
            )
        });
        if !queue_settings.enabled {
            shared.metrics.without_queue();
        }
        if !queue_settings.enabled && queue_settings.batch.is_some() {
            // otelcol ignores the section with the queue off; say so rather than stay silent.
            tracing::warn!(
                exporter = %shared.id,
                "sending_queue::batch has no effect: the sending queue is off (`enabled: false`)"
            );
        }
        let queue = (queue_settings.enabled && persistent.is_none()).then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            shared
                .metrics
                .queue_capacity
                .set(queue_settings.queue_size as i64);
            let workers = match queue_settings.batch.clone() {
                Some(batch) => {
                    let (incoming, batched) = mpsc::channel(1);
                    let batcher =
                        Batcher::new(shared.clone(), batch, queue_settings.num_consumers, None);
                    vec![
                        tokio::spawn(batcher::forward_memory_queue(shared.clone(), rx, incoming)),
                        tokio::spawn(batcher.run(batched)),
                    ]
                }
                None => {
                    let rx = Arc::new(tokio::sync::Mutex::new(rx));
                    (0..queue_settings.num_consumers)
                        .map(|_| tokio::spawn(worker(shared.clone(), rx.clone())))
                        .collect()
                }
            };
            Queue {
                tx: Mutex::new(Some(tx)),
                capacity: Arc::new(Semaphore::new(queue_settings.queue_size)),
                capacity_units: queue_settings.queue_size,
                workers: Mutex::new(workers),
            }
        });
        ExporterRunner {
            shared,
            queue,
            persistent,
        }
    }

    pub async fn start(&self) -> Result<(), kakehashi_component::BuildError> {
        self.shared.exporter.start().await?;
        if let Some(p) = &self.persistent {
            p.start(&self.shared).await?;
        }
        Ok(())
    }

    /// Stops intake, drains the queue within `deadline` (what is left after it is dropped and
    /// counted, or, in a persistent queue, kept on disk for the next start), then shuts the
    /// exporter down.
    pub async fn shutdown(&self, deadline: Duration) {
        self.shared.stopping.cancel();
        self.shared.exporter.begin_shutdown();
        if let Some(q) = &self.queue {
            q.tx.lock().expect("queue lock").take();
            let workers: Vec<_> = std::mem::take(&mut *q.workers.lock().expect("workers lock"));
            let all = futures::future::join_all(workers);
            tokio::pin!(all);
            if tokio::time::timeout(deadline, &mut all).await.is_err() {
                tracing::warn!(
                    exporter = %self.shared.id,
                    deadline = ?deadline,
                    "Sending queue did not drain before the shutdown deadline; dropping what is left."
                );
                self.shared.abort.cancel();
                all.await;
            }
        }
        if let Some(p) = &self.persistent {
            p.shutdown(&self.shared, deadline).await;
        }
        self.shared.exporter.shutdown().await;
    }

    fn units(&self, batch: &Batch) -> usize {
        match self.shared.settings.queue.sizer {
            Sizer::Requests => 1,
            Sizer::Items => batch.item_count(),
            Sizer::Bytes => batch.payload.encoded_len(),
        }
    }

    async fn enqueue(&self, q: &Queue, batch: Batch) -> Result<(), ConsumeError> {
        let items = batch.item_count();
        let units = self.units(&batch).max(1);
        // otelcol's BaseExporter.Send line: the data goes back to the caller, so `rejected_items`.
        let full = || {
            self.shared.metrics.enqueue_failed.inc_by(items as u64);
            tracing::error!(
                exporter = %self.shared.id,
                data_type = %self.shared.signal,
                error = "sending queue is full",
                rejected_items = items,
                "Exporting failed. Rejecting data."
            );
            ConsumeError::retryable("sending queue is full")
        };
        if units > q.capacity_units {
            return Err(never_fits(&self.shared, items, units, q.capacity_units));
        }
        let permit = match q.capacity.clone().try_acquire_many_owned(units as u32) {
            Ok(p) => p,
            Err(_) if self.shared.settings.queue.block_on_overflow => {
                tokio::select! {
                    p = q.capacity.clone().acquire_many_owned(units as u32) => {
                        p.map_err(|_| ConsumeError::retryable("exporter is shutting down"))?
                    }
                    _ = self.shared.stopping.cancelled() => {
                        return Err(ConsumeError::retryable("exporter is shutting down"));
                    }
                }
            }
            Err(_) => return Err(full()),
        };
        let (reply, wait) = if self.shared.settings.queue.wait_for_result {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let item = QueueItem {
            batch,
            _permit: permit,
            units,
            reply,
        };
        let sent =
            q.tx.lock()
                .expect("queue lock")
                .as_ref()
                .map(|tx| tx.send(item).is_ok())
                .unwrap_or(false);
        if !sent {
            return Err(ConsumeError::retryable("exporter is shutting down"));
        }
        self.shared.metrics.queue_size.add(units as i64);
        match wait {
            Some(rx) => match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(to_consume_error(e)),
                Err(_) => Err(ConsumeError::retryable("exporter is shutting down")),
            },
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Consumer for ExporterRunner {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if let Some(p) = &self.persistent {
            return p.enqueue(&self.shared, batch).await;
        }
        match &self.queue {
            Some(q) => self.enqueue(q, batch).await,
            None => {
                let items = batch.item_count();
                let result = send_with_retry(&self.shared, &batch).await;
                record(&self.shared, items, &result, REJECTED);
                result.map_err(to_consume_error)
            }
        }
    }

    /// Room in the sending queue, in memory or persistent (both count capacity with a
    /// semaphore): waits in line at the semaphore, then gives the units back for the hand-off to
    /// take. `false` at once where a hand-off would be refused whatever the queue holds, or
    /// where there is no queue to wait for.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        let (capacity, capacity_units) = match (&self.queue, &self.persistent) {
            (Some(q), _) => (&q.capacity, q.capacity_units),
            (None, Some(p)) => p.capacity(),
            (None, None) => return false,
        };
        if self.shared.stopping.is_cancelled() || self.shared.settings.queue.block_on_overflow {
            return false;
        }
        let units = self.units(batch).max(1);
        if units > capacity_units {
            return false;
        }
        tokio::select! {
            permit = capacity.acquire_many(units as u32) => permit.is_ok(),
            () = self.shared.stopping.cancelled() => false,
        }
    }
}

fn to_consume_error(e: ExportError) -> ConsumeError {
    ConsumeError {
        message: e.message,
        permanent: e.permanent,
        retry_after: e.throttle,
        grpc_code: e.grpc_code,
    }
}

async fn worker(
    shared: Arc<Shared>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<QueueItem>>>,
) {
    loop {
        let next = rx.lock().await.recv().await;
        let Some(item) = next else { return };
        let items = item.batch.item_count();
        let result = if shared.abort.is_cancelled() {
            Err(ExportError::permanent(
                "dropped: the sending queue did not drain before the shutdown deadline",
            ))
        } else {
            send_with_retry(&shared, &item.batch).await
        };
        record(&shared, items, &result, "Dropping data.");
        shared.metrics.queue_size.sub(item.units as i64);
        if let Some(reply) = item.reply {
            let _ = reply.send(result);
        }
    }
}

/// A request larger than the whole sending queue (in the queue's `sizer` units): refused for
/// good. A retryable "queue is full" would be retried forever by the batch processor, wedging
/// everything behind it, since no amount of draining makes room for it; otelcol's batch
/// processor drops it, and so does ours on a permanent error (counted and logged there).
fn never_fits(shared: &Shared, items: usize, units: usize, capacity: usize) -> ConsumeError {
    shared.metrics.enqueue_failed.inc_by(items as u64);
    let error = format!(
        "the request ({units} {}) is larger than the whole sending queue (queue_size {capacity}); lower the batch processor's send_batch_max_size or raise queue_size",
        sizer_unit(shared.settings.queue.sizer)
    );
    tracing::error!(
        exporter = %shared.id,
        data_type = %shared.signal,
        error = %error,
        rejected_items = items,
        "Exporting failed. Rejecting data."
    );
    ConsumeError::permanent(error)
}

fn sizer_unit(sizer: Sizer) -> &'static str {
    match sizer {
        Sizer::Requests => "requests",
        Sizer::Items => "items",
        Sizer::Bytes => "bytes",
    }
}

/// Counts and logs the outcome of one batch.
/// The verdict of an export without a queue: the data goes back to the caller.
const REJECTED: &str = "Rejecting data.";

fn record(shared: &Shared, items: usize, result: &Result<(), ExportError>, verdict: &str) {
    match result {
        Ok(()) => shared.metrics.sent.inc_by(items as u64),
        Err(e) => {
            // A partial failure: the rest of the batch was delivered.
            let failed = e.failed_items.unwrap_or(items).min(items);
            shared.metrics.sent.inc_by((items - failed) as u64);
            shared.metrics.send_failed.inc_by(failed as u64);
            let items = failed;
            if verdict == REJECTED {
                // No queue: the caller gets the error back (otelcol's BaseExporter.Send line).
                tracing::error!(
                    exporter = %shared.id,
                    data_type = %shared.signal,
                    error = %e.message,
                    rejected_items = items,
                    "Exporting failed. Rejecting data. Try enabling sending_queue to survive temporary failures."
                );
                return;
            }
            let hint =
                if shared.settings.retry.enabled || e.permanent || shared.stopping.is_cancelled() {
                    ""
                } else {
                    " Try enabling retry_on_failure config option to retry on retryable errors."
                };
            tracing::error!(
                exporter = %shared.id,
                data_type = %shared.signal,
                error = %e.message,
                dropped_items = items,
                "Exporting failed. {verdict}{hint}"
            );
        }
    }
}

/// One export attempt, bounded by `timeout` and by the shutdown abort.
async fn attempt(shared: &Shared, batch: &Batch) -> Result<(), ExportError> {
    let export = shared.exporter.export(batch);
    let timeout = shared.settings.timeout.get();
    let bounded = async {
        if timeout.is_zero() {
            export.await
        } else {
            tokio::time::timeout(timeout, export)
                .await
                .unwrap_or_else(|_| Err(ExportError::retryable("context deadline exceeded")))
        }
    };
    tokio::select! {
        r = bounded => r,
        _ = shared.abort.cancelled() => Err(ExportError::permanent("interrupted due to shutdown deadline")),
    }
}

/// The retry sender: retries retryable errors with jittered exponential backoff (and server
/// throttle hints) until `max_elapsed_time`; permanent errors stop at once.
async fn send_with_retry(shared: &Shared, batch: &Batch) -> Result<(), ExportError> {
    let retry = &shared.settings.retry;
    let started = Instant::now();
    let mut backoff = Backoff::new(retry);
    loop {
        shared.metrics.in_flight.inc();
        let result = attempt(shared, batch).await;
        shared.metrics.in_flight.dec();
        let err = match result {
            Ok(()) => return Ok(()),
            Err(e) if e.permanent => {
                return Err(ExportError {
                    message: format!("not retryable error: {e}"),
                    ..e
                })
            }
            Err(e) => e,
        };
        if !retry.enabled {
            return Err(err);
        }
        if shared.stopping.is_cancelled() {
            return Err(prefixed(err, "interrupted due to shutdown"));
        }
        let mut wait = backoff.next_interval();
        if let Some(t) = err.throttle {
            wait = wait.max(t);
        }
        let max_elapsed = retry.max_elapsed_time.get();
        // Saturating: a throttle hint comes from the network and may be any length.
        if !max_elapsed.is_zero() && started.elapsed().saturating_add(wait) > max_elapsed {
            return Err(prefixed(err, "no more retries left"));
        }
        tracing::info!(
            exporter = %shared.id,
            data_type = %shared.signal,
            error = %err.message,
            interval = ?wait,
            "Exporting failed. Will retry the request after interval."
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.stopping.cancelled() => return Err(prefixed(err, "interrupted due to shutdown")),
        }
    }
}

fn prefixed(e: ExportError, prefix: &str) -> ExportError {
    ExportError {
        message: format!("{prefix}: {}", e.message),
        ..e
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
