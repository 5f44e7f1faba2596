//! The persistent sending queue (`sending_queue::storage`): the same contract as the in-memory
//! queue, with every item committed to a storage extension's [`QueueStore`] before `consume`
//! returns `Ok`.
//!
//! * Capacity is `queue_size` in units of the `sizer`, counted over what is on disk; a full queue
//!   refuses with the memory queue's retryable error.
//! * `num_consumers` workers take the oldest items, read and decode them from disk, and export
//!   them with the runner's retry and timeout. An item is deleted only after it was delivered,
//!   or given up on (permanent error, retries exhausted: counted in `send_failed` and logged).
//! * An item that fails its checksum or does not decode is logged, counted as failed, deleted
//!   and skipped.
//! * On start, what a previous run left is queued first, oldest first.
//! * On shutdown the workers keep sending until the drain deadline or the first failure; what is
//!   left stays on disk for the next start and is not counted as dropped.
//! * With `sending_queue::batch`, one reader hands the items in order to the batcher
//!   (`batcher.rs`); an item is deleted once every batch holding part of it is done, and stays
//!   on disk if one of them was interrupted by shutdown.

use super::batcher::{Batcher, Done, Incoming, Request};
use super::{record, send_with_retry, to_consume_error, Shared};
use kakehashi_component::exporterhelper::Sizer;
use kakehashi_component::{
    Batch, BuildError, ConsumeError, ExportError, Payload, QueueStore, Storage, StorageError,
    StoredItem,
};
use kakehashi_config::{ComponentId, Kind};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Entry {
    item: StoredItem,
    /// Capacity units held while the item is queued or in flight.
    permit: OwnedSemaphorePermit,
    /// The permit was added for an item recovered beyond `queue_size` (after `queue_size` was
    /// lowered); it is forgotten when the item leaves, so the capacity returns to `queue_size`.
    excess: bool,
    reply: Option<oneshot::Sender<Result<(), ExportError>>>,
}

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Entry>>>;

pub(super) struct PersistentQueue {
    storage: Arc<dyn Storage>,
    /// Opened at start (after the storage extension started), released at shutdown so the
    /// file is closed (and its lock freed) once the workers are done with it.
    store: Mutex<Option<Arc<dyn QueueStore>>>,
    tx: Mutex<Option<mpsc::UnboundedSender<Entry>>>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Entry>>>,
    capacity: Arc<Semaphore>,
    capacity_units: usize,
    num_consumers: usize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// What happened to one item taken from the queue.
enum Outcome {
    /// Delivered, or given up on and deleted.
    Done(Result<(), ExportError>),
    /// Left on disk for the next start (shutdown, or the storage could not be read).
    Kept(ExportError),
}

impl PersistentQueue {
    pub(super) fn new(storage: Arc<dyn Storage>, queue_size: usize, num_consumers: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        PersistentQueue {
            storage,
            store: Mutex::new(None),
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(Some(rx)),
            capacity: Arc::new(Semaphore::new(queue_size)),
            capacity_units: queue_size,
            num_consumers,
            workers: Mutex::new(Vec::new()),
        }
    }

    /// Opens the queue file, queues what a previous run left, and starts the workers.
    pub(super) async fn start(&self, shared: &Arc<Shared>) -> Result<(), BuildError> {
        let owner = ComponentId::parse(&shared.id).map_err(BuildError)?;
        let (storage, signal) = (self.storage.clone(), shared.signal);
        let store = blocking(move || storage.open_queue(Kind::Exporter, &owner, signal))
            .await
            .and_then(|r| r)
            .map_err(|e| BuildError(format!("sending_queue: {e}")))?;
        let pending = {
            let store = store.clone();
            blocking(move || store.pending().map_err(|e| e.to_string()))
                .await
                .and_then(|r| r)
        };
        match pending {
            Ok(items) if !items.is_empty() => {
                let count: u64 = items.iter().map(|i| i.items).sum();
                tracing::info!(
                    exporter = %shared.id,
                    data_type = %shared.signal,
                    requests = items.len(),
                    items = count,
                    "Resuming the persistent queue: sending what the previous run left first."
                );
                for item in items {
                    self.requeue(shared, item);
                }
            }
            Ok(_) => {}
            // The file passed its integrity check, so this is unexpected; new data still flows
            // and the old rows are read again at the next start.
            Err(e) => tracing::error!(
                exporter = %shared.id,
                data_type = %shared.signal,
                error = %e,
                "Cannot list the items left in the persistent queue; they stay on disk."
            ),
        }
        *self.store.lock().expect("store lock") = Some(store.clone());
        let rx = self.rx.lock().expect("queue lock").take();
        if let Some(rx) = rx {
            let rx: Receiver = Arc::new(tokio::sync::Mutex::new(rx));
            let mut workers = self.workers.lock().expect("workers lock");
            match shared.settings.queue.batch.clone() {
                Some(batch) => {
                    let (deleted, done) = mpsc::unbounded_channel();
                    let (incoming, batched) = mpsc::channel(1);
                    let interrupted = CancellationToken::new();
                    let batcher = Batcher::new(
                        shared.clone(),
                        batch,
                        self.num_consumers,
                        Some(interrupted.clone()),
                    );
                    workers.push(tokio::spawn(read_for_batches(
                        shared.clone(),
                        store.clone(),
                        rx,
                        incoming,
                        deleted,
                        interrupted,
                    )));
                    workers.push(tokio::spawn(batcher.run(batched)));
                    workers.push(tokio::spawn(delete_done(
                        shared.clone(),
                        store.clone(),
                        done,
                    )));
                }
                None => {
                    for _ in 0..self.num_consumers {
                        workers.push(tokio::spawn(worker(
                            shared.clone(),
                            store.clone(),
                            rx.clone(),
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The capacity semaphore and `queue_size`, for waiting for room.
    pub(super) fn capacity(&self) -> (&Arc<Semaphore>, usize) {
        (&self.capacity, self.capacity_units)
    }

    /// Queues an item found on disk at start.
    fn requeue(&self, shared: &Shared, item: StoredItem) {
        let units = clamp_units(item.units);
        let (permit, excess) = match self.capacity.clone().try_acquire_many_owned(units) {
            Ok(p) => (p, false),
            Err(_) => {
                self.capacity.add_permits(units as usize);
                match self.capacity.clone().try_acquire_many_owned(units) {
                    Ok(p) => (p, true),
                    Err(_) => return, // no waiters exist yet, so this cannot happen
                }
            }
        };
        let entry = Entry {
            item,
            permit,
            excess,
            reply: None,
        };
        if self.send(entry) {
            shared.metrics.queue_size.add(i64::from(units));
        }
    }

    fn send(&self, entry: Entry) -> bool {
        self.tx
            .lock()
            .expect("queue lock")
            .as_ref()
            .is_some_and(|tx| tx.send(entry).is_ok())
    }

    pub(super) async fn enqueue(&self, shared: &Shared, batch: Batch) -> Result<(), ConsumeError> {
        let Some(store) = self.store.lock().expect("store lock").clone() else {
            return Err(ConsumeError::retryable("exporter is not running"));
        };
        let items = batch.item_count();
        let data = batch.payload.encode_to_vec();
        let units = match shared.settings.queue.sizer {
            Sizer::Requests => 1,
            Sizer::Items => items,
            Sizer::Bytes => data.len(),
        }
        .max(1);
        let full = || {
            shared.metrics.enqueue_failed.inc_by(items as u64);
            tracing::error!(
                exporter = %shared.id,
                data_type = %shared.signal,
                dropped_items = items,
                "Exporting failed. Rejecting data. sending queue is full"
            );
            ConsumeError::retryable("sending queue is full")
        };
        if units > self.capacity_units {
            return Err(super::never_fits(shared, items, units, self.capacity_units));
        }
        let units32 = clamp_units(units as u64);
        let permit = match self.capacity.clone().try_acquire_many_owned(units32) {
            Ok(p) => p,
            Err(_) if shared.settings.queue.block_on_overflow => {
                tokio::select! {
                    p = self.capacity.clone().acquire_many_owned(units32) => {
                        p.map_err(|_| ConsumeError::retryable("exporter is shutting down"))?
                    }
                    _ = shared.stopping.cancelled() => {
                        return Err(ConsumeError::retryable("exporter is shutting down"));
                    }
                }
            }
            Err(_) => return Err(full()),
        };
        if shared.stopping.is_cancelled() {
            return Err(ConsumeError::retryable("exporter is shutting down"));
        }
        // The insert commits before we answer: an `Ok` means the data is on disk.
        let pushed = blocking(move || {
            store
                .push(units as u64, items as u64, &data)
                .map_err(|e| e.to_string())
        })
        .await
        .and_then(|r| r);
        let id = match pushed {
            Ok(id) => id,
            Err(e) => {
                shared.metrics.enqueue_failed.inc_by(items as u64);
                tracing::error!(
                    exporter = %shared.id,
                    data_type = %shared.signal,
                    error = %e,
                    dropped_items = items,
                    "Exporting failed. Rejecting data. Cannot write to the persistent queue."
                );
                return Err(ConsumeError::retryable(format!(
                    "sending queue: cannot persist data: {e}"
                )));
            }
        };
        let (reply, wait) = if shared.settings.queue.wait_for_result {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let entry = Entry {
            item: StoredItem {
                id,
                units: units as u64,
                items: items as u64,
            },
            permit,
            excess: false,
            reply,
        };
        if !self.send(entry) {
            // Shutting down: the item is on disk and will be sent after the next start.
            return match wait {
                Some(_) => Err(ConsumeError::retryable("exporter is shutting down")),
                None => Ok(()),
            };
        }
        shared.metrics.queue_size.add(i64::from(units32));
        match wait {
            Some(rx) => match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(to_consume_error(e)),
                Err(_) => Err(ConsumeError::retryable("exporter is shutting down")),
            },
            None => Ok(()),
        }
    }

    /// Stops intake and lets the workers drain until `deadline` (see the module docs).
    pub(super) async fn shutdown(&self, shared: &Shared, deadline: Duration) {
        self.tx.lock().expect("queue lock").take();
        self.store.lock().expect("store lock").take();
        let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().expect("workers lock"));
        let all = futures::future::join_all(workers);
        tokio::pin!(all);
        if tokio::time::timeout(deadline, &mut all).await.is_err() {
            tracing::info!(
                exporter = %shared.id,
                deadline = ?deadline,
                "Persistent queue not drained before the shutdown deadline; the rest stays on disk for the next start."
            );
            shared.abort.cancel();
            all.await;
        }
    }
}

fn clamp_units(units: u64) -> u32 {
    units.clamp(1, u64::from(u32::MAX)) as u32
}

/// Runs blocking storage I/O off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("storage task failed: {e}"))
}

async fn worker(shared: Arc<Shared>, store: Arc<dyn QueueStore>, rx: Receiver) {
    loop {
        if shared.abort.is_cancelled() {
            return;
        }
        let next = rx.lock().await.recv().await;
        let Some(entry) = next else { return };
        let outcome = process(&shared, &store, entry.item).await;
        if settle(&shared, entry, outcome) {
            return;
        }
    }
}

/// The end of an item taken from the queue: its capacity back, its caller answered. `true` when
/// its worker should stop (shutdown, and the item was kept). An item kept on disk (shutdown, or
/// a read that failed) keeps its capacity and its place in `queue_size`: the queue is counted
/// over what is on disk, which it still is until the next start.
fn settle(shared: &Shared, entry: Entry, outcome: Outcome) -> bool {
    let kept = matches!(outcome, Outcome::Kept(_));
    if kept || entry.excess {
        entry.permit.forget();
    }
    if !kept {
        shared
            .metrics
            .queue_size
            .sub(i64::from(clamp_units(entry.item.units)));
    }
    let (result, stop) = match outcome {
        Outcome::Done(r) => (r, false),
        Outcome::Kept(e) => (Err(e), shared.stopping.is_cancelled()),
    };
    if let Some(reply) = entry.reply {
        let _ = reply.send(result);
    }
    stop
}

/// With `sending_queue::batch`: reads the items in order and hands them to the batcher, which
/// sends the id of each item done to `deleted`.
async fn read_for_batches(
    shared: Arc<Shared>,
    store: Arc<dyn QueueStore>,
    rx: Receiver,
    out: mpsc::Sender<Incoming>,
    deleted: mpsc::UnboundedSender<Done>,
    interrupted: CancellationToken,
) {
    loop {
        // After an interrupted export, what is left stays on disk for the next start.
        if shared.abort.is_cancelled() || interrupted.is_cancelled() {
            return;
        }
        let next = rx.lock().await.recv().await;
        let Some(entry) = next else { return };
        let batch = match load(&shared, &store, entry.item).await {
            Ok(batch) => batch,
            Err(outcome) => {
                if settle(&shared, entry, outcome) {
                    return;
                }
                continue;
            }
        };
        let units = clamp_units(entry.item.units) as usize;
        let request = Request::new(shared.clone(), entry.permit, units, entry.reply).stored(
            entry.item.id,
            entry.excess,
            deleted.clone(),
        );
        if out.send(Incoming { batch, request }).await.is_err() {
            return;
        }
    }
}

/// Deletes the items the batcher is done with, then gives their capacity back.
async fn delete_done(
    shared: Arc<Shared>,
    store: Arc<dyn QueueStore>,
    mut done: mpsc::UnboundedReceiver<Done>,
) {
    while let Some(item) = done.recv().await {
        remove(&shared, &store, item.id).await;
        item.release();
    }
}

/// Reads and decodes one item. A corrupt one is counted, deleted and given up on
/// (`Outcome::Done`); one that cannot be read stays on disk (`Outcome::Kept`).
async fn load(
    shared: &Shared,
    store: &Arc<dyn QueueStore>,
    item: StoredItem,
) -> Result<Batch, Outcome> {
    let read = {
        let store = store.clone();
        blocking(move || store.read(item.id)).await
    };
    let payload = match read {
        Ok(Ok(bytes)) => Payload::decode(shared.signal, &bytes)
            .map_err(|e| format!("item {} does not decode: {e}", item.id)),
        Ok(Err(StorageError::Corrupt(m))) => Err(m),
        Ok(Err(StorageError::Io(m))) | Err(m) => {
            tracing::error!(
                exporter = %shared.id,
                data_type = %shared.signal,
                error = %m,
                "Cannot read an item of the persistent queue; it stays on disk for the next start."
            );
            return Err(Outcome::Kept(ExportError::retryable(m)));
        }
    };
    match payload {
        Ok(p) => Ok(Batch::new(p)),
        Err(m) => {
            shared.metrics.send_failed.inc_by(item.items);
            tracing::error!(
                exporter = %shared.id,
                data_type = %shared.signal,
                error = %m,
                dropped_items = item.items,
                "Dropping a corrupt item of the persistent queue."
            );
            remove(shared, store, item.id).await;
            Err(Outcome::Done(Err(ExportError::permanent(m))))
        }
    }
}

async fn process(shared: &Shared, store: &Arc<dyn QueueStore>, item: StoredItem) -> Outcome {
    let batch = match load(shared, store, item).await {
        Ok(batch) => batch,
        Err(outcome) => return outcome,
    };
    let result = send_with_retry(shared, &batch).await;
    if let Err(e) = &result {
        let interrupted =
            shared.abort.is_cancelled() || (shared.stopping.is_cancelled() && !e.permanent);
        if interrupted {
            tracing::debug!(
                exporter = %shared.id,
                data_type = %shared.signal,
                error = %e.message,
                "Export interrupted by shutdown; the item stays in the persistent queue."
            );
            return Outcome::Kept(e.clone());
        }
    }
    record(shared, batch.item_count(), &result, "Dropping data.");
    remove(shared, store, item.id).await;
    Outcome::Done(result)
}

async fn remove(shared: &Shared, store: &Arc<dyn QueueStore>, id: u64) {
    let store = store.clone();
    let removed = blocking(move || store.remove(id).map_err(|e| e.to_string()))
        .await
        .and_then(|r| r);
    if let Err(e) = removed {
        // The item will be sent again after the next start (a duplicate, not a loss).
        tracing::error!(
            exporter = %shared.id,
            data_type = %shared.signal,
            error = %e,
            "Cannot delete a sent item from the persistent queue."
        );
    }
}

#[cfg(test)]
#[path = "persistent_queue_tests.rs"]
mod tests;
