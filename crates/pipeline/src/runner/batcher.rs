//! `sending_queue::batch`: one task takes requests off the sending queue in order and merges
//! them into a batch until it reaches `min_size` (or `flush_timeout` after its first request),
//! cutting at `max_size`; up to `num_consumers` batches are exported at once, with the runner's
//! retry and timeout.
//!
//! A request keeps its queue capacity, and a `wait_for_result` caller keeps waiting, until every
//! batch that holds a part of it is done; the caller gets the first error of any part. A request
//! of the persistent queue is deleted from disk only then, and stays there for the next start if
//! a batch holding part of it was interrupted by shutdown.

use super::{record, send_with_retry, QueueItem, Shared};
use kakehashi_component::exporterhelper::{QueueBatchSettings, Sizer};
use kakehashi_component::{Batch, ClientMetadata, ExportError, Payload};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A queued request handed to the batcher.
pub(super) struct Incoming {
    pub batch: Batch,
    pub request: Request,
}

/// What becomes of a request of the persistent queue once every batch holding part of it is
/// done: its id is sent here to be deleted, unless it was kept.
pub(super) type Stored = (u64, mpsc::UnboundedSender<u64>);

/// A queued request while parts of it are in batches. Dropped when the last batch holding a
/// part of it is done: it then frees its queue capacity, answers its caller and, from the
/// persistent queue, has itself deleted from disk.
pub(super) struct Request {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    /// The permit was added beyond `queue_size` (persistent queue, see there): forgotten.
    excess: bool,
    units: usize,
    reply: Option<oneshot::Sender<Result<(), ExportError>>>,
    first_error: Mutex<Option<ExportError>>,
    stored: Option<Stored>,
    /// A batch holding part of it was interrupted by shutdown: it stays on disk.
    kept: AtomicBool,
}

impl Request {
    pub(super) fn new(
        shared: Arc<Shared>,
        permit: OwnedSemaphorePermit,
        units: usize,
        reply: Option<oneshot::Sender<Result<(), ExportError>>>,
    ) -> Self {
        Request {
            shared,
            permit: Some(permit),
            excess: false,
            units,
            reply,
            first_error: Mutex::new(None),
            stored: None,
            kept: AtomicBool::new(false),
        }
    }

    /// A request of the persistent queue: `id` is sent to `deleted` when it is done.
    pub(super) fn stored(
        mut self,
        id: u64,
        excess: bool,
        deleted: mpsc::UnboundedSender<u64>,
    ) -> Self {
        self.excess = excess;
        self.stored = Some((id, deleted));
        self
    }

    fn from_memory(shared: Arc<Shared>, item: QueueItem) -> Incoming {
        Incoming {
            request: Request::new(shared, item._permit, item.units, item.reply),
            batch: item.batch,
        }
    }

    fn failed(&self, e: &ExportError) {
        self.first_error
            .lock()
            .expect("request lock")
            .get_or_insert_with(|| e.clone());
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.shared.metrics.queue_size.sub(self.units as i64);
        if self.excess {
            if let Some(p) = self.permit.take() {
                p.forget();
            }
        }
        let kept = self.kept.load(Ordering::Relaxed);
        if let Some((id, deleted)) = self.stored.take() {
            if !kept {
                let _ = deleted.send(id);
            }
        }
        if let Some(reply) = self.reply.take() {
            let error = self.first_error.lock().expect("request lock").take();
            let _ = reply.send(error.map_or(Ok(()), Err));
        }
    }
}

/// Feeds the in-memory queue's items to a batcher, in order.
pub(super) async fn forward_memory_queue(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<QueueItem>,
    tx: mpsc::Sender<Incoming>,
) {
    while let Some(item) = rx.recv().await {
        if tx
            .send(Request::from_memory(shared.clone(), item))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The batch being filled.
struct Open {
    payload: Payload,
    metadata: ClientMetadata,
    requests: Vec<Arc<Request>>,
    size: usize,
    /// When the batch goes out whatever its size.
    deadline: Instant,
}

pub(super) struct Batcher {
    shared: Arc<Shared>,
    /// Requests come from the persistent queue: an export interrupted by shutdown keeps them on
    /// disk instead of counting them as dropped.
    persistent: bool,
    settings: QueueBatchSettings,
    /// One permit per concurrent export (`num_consumers`).
    exports: Arc<Semaphore>,
    consumers: usize,
    open: Option<Open>,
}

impl Batcher {
    pub(super) fn new(
        shared: Arc<Shared>,
        settings: QueueBatchSettings,
        consumers: usize,
        persistent: bool,
    ) -> Self {
        Batcher {
            shared,
            persistent,
            settings,
            exports: Arc::new(Semaphore::new(consumers)),
            consumers,
            open: None,
        }
    }

    /// Runs until the queue is closed and drained; returns once every batch is done.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Incoming>) {
        loop {
            let deadline = self.open.as_ref().map(|o| o.deadline);
            let next = tokio::select! {
                item = rx.recv() => item,
                () = sleep_until(deadline) => {
                    self.flush().await;
                    continue;
                }
            };
            match next {
                Some(item) => self.add(item).await,
                None => break,
            }
        }
        self.flush().await;
        // Every export holds a permit until it is done.
        let _all = self
            .exports
            .acquire_many(self.consumers as u32)
            .await
            .expect("the export semaphore is never closed");
    }

    fn size(&self, payload: &Payload) -> usize {
        match self.settings.sizer() {
            Sizer::Bytes => payload.encoded_len(),
            Sizer::Items | Sizer::Requests => payload.item_count(),
        }
    }

    async fn add(&mut self, item: Incoming) {
        let request = Arc::new(item.request);
        let metadata = item.batch.metadata.clone();
        let mut rest = item.batch.into_payload();
        let max = self.settings.max();
        loop {
            let size = self.size(&rest);
            let filled = self.open.as_ref().map_or(0, |o| o.size);
            // What cannot be cut further goes whole into an empty batch.
            if max == 0 || filled + size <= max || (filled == 0 && rest.item_count() <= 1) {
                self.append(rest, size, &request, &metadata);
                break;
            }
            match self.take_front(&mut rest, max - filled) {
                Some((front, front_size)) => {
                    self.append(front, front_size, &request, &metadata);
                    self.flush().await;
                }
                // Not one item fits next to what is open: that goes first.
                None if filled > 0 => self.flush().await,
                // One item alone is above `max_size` (bytes): it goes alone, uncut.
                None => {
                    let one = rest.split_front(1);
                    let one_size = self.size(&one);
                    self.append(one, one_size, &request, &metadata);
                    self.flush().await;
                }
            }
        }
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.size >= self.settings.min())
        {
            self.flush().await;
        }
    }

    /// The largest front part of `rest` of at most `room` in the batch's sizer, or `None` if
    /// not even its first item fits.
    fn take_front(&self, rest: &mut Payload, room: usize) -> Option<(Payload, usize)> {
        if room == 0 {
            return None;
        }
        if self.settings.sizer() != Sizer::Bytes {
            let front = rest.split_front(room);
            let size = front.item_count();
            return Some((front, size));
        }
        // Bytes: guess the item count from the average item size, then halve until it fits.
        let (items, bytes) = (rest.item_count(), rest.encoded_len().max(1));
        let mut n = (items * room / bytes).clamp(1, items.max(1));
        loop {
            let mut trial = rest.clone();
            let front = trial.split_front(n);
            let size = front.encoded_len();
            if size <= room {
                *rest = trial;
                return Some((front, size));
            }
            if n == 1 {
                return None;
            }
            n /= 2;
        }
    }

    fn append(
        &mut self,
        payload: Payload,
        size: usize,
        request: &Arc<Request>,
        metadata: &ClientMetadata,
    ) {
        if payload.item_count() == 0 && size == 0 {
            return;
        }
        let timeout = self.settings.flush_timeout.get();
        let open = self.open.get_or_insert_with(|| Open {
            payload: Payload::empty(payload.signal()),
            metadata: metadata.clone(),
            requests: Vec::new(),
            size: 0,
            deadline: Instant::now() + timeout,
        });
        open.payload.append(payload);
        open.size += size;
        if !open
            .requests
            .last()
            .is_some_and(|r| Arc::ptr_eq(r, request))
        {
            open.requests.push(request.clone());
        }
    }

    /// Sends the open batch, once one of the `num_consumers` exports is free.
    async fn flush(&mut self) {
        let Some(open) = self.open.take() else { return };
        let permit = self
            .exports
            .clone()
            .acquire_owned()
            .await
            .expect("the export semaphore is never closed");
        let shared = self.shared.clone();
        let persistent = self.persistent;
        tokio::spawn(async move {
            let batch = Batch::with_metadata(open.payload, open.metadata);
            let items = batch.item_count();
            if let Some(h) = &shared.metrics.batch_send_size {
                h.observe(items as f64);
            }
            if let Some(h) = &shared.metrics.batch_send_size_bytes {
                h.observe(batch.payload.encoded_len() as f64);
            }
            let result = if shared.abort.is_cancelled() {
                Err(ExportError::permanent(
                    "dropped: the sending queue did not drain before the shutdown deadline",
                ))
            } else {
                send_with_retry(&shared, &batch).await
            };
            let interrupted = result.as_ref().is_err_and(|e| {
                shared.abort.is_cancelled() || (shared.stopping.is_cancelled() && !e.permanent)
            });
            if persistent && interrupted {
                // As the persistent queue without batching: left on disk, not counted.
                tracing::debug!(
                    exporter = %shared.id,
                    data_type = %shared.signal,
                    "Export interrupted by shutdown; its items stay in the persistent queue."
                );
                open.requests
                    .iter()
                    .for_each(|r| r.kept.store(true, Ordering::Relaxed));
            } else {
                record(&shared, items, &result, "Dropping data.");
            }
            if let Err(e) = &result {
                open.requests.iter().for_each(|r| r.failed(e));
            }
            drop(open.requests);
            drop(permit);
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "batcher_tests.rs"]
mod tests;
