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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A queued request handed to the batcher.
pub(super) struct Incoming {
    pub batch: Batch,
    pub request: Request,
}

/// A persistent-queue item the batcher is done with: to be deleted from disk, and only then
/// its queue capacity given back.
pub(super) struct Done {
    pub id: u64,
    pub permit: OwnedSemaphorePermit,
    /// The permit was added beyond `queue_size` (see the persistent queue): forgotten.
    pub excess: bool,
}

impl Done {
    /// Gives the capacity back.
    pub(super) fn release(self) {
        release(self.permit, self.excess);
    }
}

/// Gives queue capacity back; an excess permit is forgotten instead, so the capacity returns to
/// `queue_size`.
fn release(permit: OwnedSemaphorePermit, excess: bool) {
    if excess {
        permit.forget();
    }
}

/// A queued request while parts of it are in batches. Dropped when the last batch holding a
/// part of it is done: it then answers its caller and, from the persistent queue, has itself
/// deleted from disk; its queue capacity is given back then (after the delete, from disk).
pub(super) struct Request {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    excess: bool,
    units: usize,
    reply: Option<oneshot::Sender<Result<(), ExportError>>>,
    first_error: Mutex<Option<ExportError>>,
    /// From the persistent queue: its id, and where to send it when done.
    stored: Option<(u64, mpsc::UnboundedSender<Done>)>,
    /// A batch holding part of it was interrupted by shutdown: it stays on disk.
    kept: AtomicBool,
    /// The batcher took it; batches holding part of it; those whose export ended with a result.
    /// A request dropped short of that (a batcher or an export that died) did not complete.
    taken: AtomicBool,
    parts: AtomicUsize,
    finished: AtomicUsize,
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
            taken: AtomicBool::new(false),
            parts: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        }
    }

    /// A request of the persistent queue: sent to `done` when every batch holding part of it
    /// is done (unless it is kept on disk).
    pub(super) fn stored(
        mut self,
        id: u64,
        excess: bool,
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        self.excess = excess;
        self.stored = Some((id, done));
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

    fn completed(&self) -> bool {
        self.taken.load(Ordering::Relaxed)
            && self.finished.load(Ordering::Relaxed) == self.parts.load(Ordering::Relaxed)
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.shared.metrics.queue_size.sub(self.units as i64);
        let completed = self.completed();
        let mut error = self.first_error.lock().expect("request lock").take();
        if !completed && error.is_none() {
            error = Some(ExportError::retryable(
                "the export of a batch did not complete",
            ));
        }
        // An item whose export did not complete stays on disk, as one interrupted by shutdown.
        let kept = self.kept.load(Ordering::Relaxed) || !completed;
        let permit = self.permit.take();
        match (self.stored.take(), permit) {
            (Some((id, done)), Some(permit)) if !kept => {
                let excess = self.excess;
                if let Err(unsent) = done.send(Done { id, permit, excess }) {
                    unsent.0.release();
                }
            }
            (_, Some(permit)) => release(permit, self.excess),
            _ => {}
        }
        if let Some(reply) = self.reply.take() {
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
    /// Set for the persistent queue: cancelled when an export is interrupted by shutdown, after
    /// which the remaining batches stay on disk without an attempt (and the reader stops).
    /// Without it an interrupted export counts as dropped, as the in-memory queue's.
    interrupted: Option<CancellationToken>,
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
        interrupted: Option<CancellationToken>,
    ) -> Self {
        Batcher {
            shared,
            interrupted,
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
        request.taken.store(true, Ordering::Relaxed);
        let metadata = item.batch.metadata.clone();
        let mut rest = item.batch.into_payload();
        let max = self.settings.max();
        let bytes = self.settings.sizer() == Sizer::Bytes;
        let mut size = self.size(&rest);
        // After a cut, `size` is an estimate in bytes (a cut repeats the resource and scope);
        // it is measured again only when it says the rest fits, so cutting stays linear.
        let mut estimated = false;
        loop {
            let filled = self.open.as_ref().map_or(0, |o| o.size);
            // What cannot be cut further goes whole into an empty batch.
            if max == 0 || filled + size <= max || (filled == 0 && rest.item_count() <= 1) {
                if estimated {
                    estimated = false;
                    size = self.size(&rest);
                    continue;
                }
                self.append(rest, size, &request, &metadata);
                break;
            }
            let (front, front_size) = match self.take_front(&mut rest, size, max - filled) {
                Some(front) => front,
                // Not one item fits next to what is open: that goes first.
                None if filled > 0 => {
                    self.flush().await;
                    continue;
                }
                // One item alone is above `max_size` (bytes): it goes alone, uncut.
                None => {
                    let one = rest.split_front(1);
                    let one_size = self.size(&one);
                    (one, one_size)
                }
            };
            size = size.saturating_sub(front_size);
            estimated = bytes;
            self.append(front, front_size, &request, &metadata);
            self.flush().await;
        }
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.size >= self.settings.min())
        {
            self.flush().await;
        }
    }

    /// The largest front part of `rest` (of `size` in the batch's sizer) of at most `room`,
    /// or `None` if not even its first item fits.
    fn take_front(&self, rest: &mut Payload, size: usize, room: usize) -> Option<(Payload, usize)> {
        if room == 0 {
            return None;
        }
        if self.settings.sizer() != Sizer::Bytes {
            let front = rest.split_front(room);
            let size = front.item_count();
            return Some((front, size));
        }
        // Bytes: the item count from the average item size, then fewer items until it fits;
        // what a trial cut took too many goes back in front of the rest.
        let items = rest.item_count();
        let mut n = (items * room / size.max(1)).clamp(1, items.max(1));
        let mut front = rest.split_front(n);
        loop {
            let front_size = front.encoded_len();
            if front_size <= room {
                return Some((front, front_size));
            }
            if n == 1 {
                put_back(rest, front);
                return None;
            }
            n = (n * room / front_size).clamp(1, n - 1);
            let mut over = front;
            front = over.split_front(n);
            put_back(rest, over);
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
        // Requests of different clients merged: the batch belongs to none of them.
        if open.metadata != *metadata {
            open.metadata = ClientMetadata::default();
        }
        if !open
            .requests
            .last()
            .is_some_and(|r| Arc::ptr_eq(r, request))
        {
            request.parts.fetch_add(1, Ordering::Relaxed);
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
        let interrupted = self.interrupted.clone();
        tokio::spawn(async move {
            let batch = Batch::with_metadata(open.payload, open.metadata);
            let items = batch.item_count();
            if let Some(h) = &shared.metrics.batch_send_size {
                h.observe(items as f64);
            }
            if let Some(h) = &shared.metrics.batch_send_size_bytes {
                h.observe(batch.payload.encoded_len() as f64);
            }
            let skipped = interrupted.as_ref().is_some_and(|t| t.is_cancelled());
            let result = if skipped {
                Err(ExportError::retryable(
                    "not sent: an export was interrupted by shutdown",
                ))
            } else if shared.abort.is_cancelled() {
                Err(ExportError::permanent(
                    "dropped: the sending queue did not drain before the shutdown deadline",
                ))
            } else {
                send_with_retry(&shared, &batch).await
            };
            let cut_short = skipped
                || result.as_ref().is_err_and(|e| {
                    shared.abort.is_cancelled() || (shared.stopping.is_cancelled() && !e.permanent)
                });
            match &interrupted {
                Some(token) if cut_short => {
                    // As the persistent queue without batching: left on disk, not counted, and
                    // the rest is not tried either.
                    if !token.is_cancelled() {
                        tracing::debug!(
                            exporter = %shared.id,
                            data_type = %shared.signal,
                            "Export interrupted by shutdown; the rest stays in the persistent queue."
                        );
                        token.cancel();
                    }
                    open.requests
                        .iter()
                        .for_each(|r| r.kept.store(true, Ordering::Relaxed));
                }
                _ => record(&shared, items, &result, "Dropping data."),
            }
            for r in &open.requests {
                if let Err(e) = &result {
                    r.failed(e);
                }
                r.finished.fetch_add(1, Ordering::Relaxed);
            }
            drop(open.requests);
            drop(permit);
        });
    }
}

/// Puts `front` back in front of `rest`, in order.
fn put_back(rest: &mut Payload, mut front: Payload) {
    let signal = rest.signal();
    front.append(std::mem::replace(rest, Payload::empty(signal)));
    *rest = front;
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
