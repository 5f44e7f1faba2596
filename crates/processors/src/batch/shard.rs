//! One batching shard: a task that owns the pending payload, applies otelcol's triggers and
//! exports synchronously (a slow or failing downstream stalls only this shard's intake).

use kakehashi_component::{Batch, ClientMetadata, Consumer};
use kakehashi_pdata::{Payload, Signal};
use kakehashi_telemetry::BatchMetrics;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// After a retry that the downstream's "room" signal woke was refused again (another caller took
/// the room first, or the room was measured for a slightly different size), the next such retry
/// waits at least this long more, doubling: a wrong signal costs a few short waits, never a spin.
const ROOM_SETTLE_START: Duration = Duration::from_millis(1);

/// What every shard of one processor shares.
#[derive(Clone)]
pub(crate) struct ShardSettings {
    pub signal: Signal,
    pub send_batch_size: usize,
    /// 0 = no limit.
    pub max_size: usize,
    /// `None` when there is no timer (timeout 0 or send_batch_size 0): send at once.
    pub timeout: Option<Duration>,
    pub next: Arc<dyn Consumer>,
    pub metrics: BatchMetrics,
    pub dropped: Arc<AtomicU64>,
}

#[derive(Clone, Copy)]
enum Trigger {
    Size,
    Timeout,
    Shutdown,
}

pub(crate) struct Shard {
    s: ShardSettings,
    metadata: ClientMetadata,
    pending: Payload,
    count: usize,
    shutdown: watch::Receiver<bool>,
    /// The processor was dropped without shutdown; retries must end.
    orphaned: bool,
}

impl Shard {
    pub fn new(
        s: ShardSettings,
        metadata: ClientMetadata,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Shard {
            pending: Payload::empty(s.signal),
            s,
            metadata,
            count: 0,
            shutdown,
            orphaned: false,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Batch>) {
        // otelcol starts the timer with the shard, then resets it after every send or fire.
        let mut deadline = self.s.timeout.map(|t| Instant::now() + t);
        loop {
            let item = match deadline {
                Some(at) => tokio::select! {
                    item = rx.recv() => item,
                    () = sleep_until(at) => {
                        if self.count > 0 {
                            self.send_chunk(Trigger::Timeout).await;
                        }
                        deadline = self.s.timeout.map(|t| Instant::now() + t);
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            let Some(batch) = item else { break };
            self.count += batch.item_count();
            self.pending.append(batch.into_payload());
            let mut sent = false;
            while self.count > 0 && (deadline.is_none() || self.count >= self.s.send_batch_size) {
                self.send_chunk(Trigger::Size).await;
                sent = true;
            }
            if sent {
                deadline = self.s.timeout.map(|t| Instant::now() + t);
            }
        }
        // Intake closed (shutdown): flush everything, in max-size chunks.
        while self.count > 0 {
            self.send_chunk(Trigger::Shutdown).await;
        }
    }

    /// Sends exactly `max` items when more are pending, else everything.
    async fn send_chunk(&mut self, trigger: Trigger) {
        let chunk = if self.s.max_size > 0 && self.count > self.s.max_size {
            self.pending.split_front(self.s.max_size)
        } else {
            std::mem::replace(&mut self.pending, Payload::empty(self.s.signal))
        };
        let n = chunk.item_count();
        self.count = self.count.saturating_sub(n);
        if self.count == 0 {
            // Keep the count honest even if the split and the counter ever disagree.
            self.pending = Payload::empty(self.s.signal);
        }
        let bytes = self
            .s
            .metrics
            .send_size_bytes
            .as_ref()
            .map(|_| chunk.encoded_len());
        // otelcol records a batch's size and trigger once it is sent, and counts the flush at
        // shutdown as a timeout.
        if !self.export(chunk, n).await {
            return;
        }
        match trigger {
            Trigger::Size => self.s.metrics.size_trigger.inc(),
            Trigger::Timeout | Trigger::Shutdown => self.s.metrics.timeout_trigger.inc(),
        }
        self.s.metrics.send_size.observe(n as f64);
        if let (Some(hist), Some(bytes)) = (&self.s.metrics.send_size_bytes, bytes) {
            hist.observe(bytes as f64);
        }
    }

    fn drop_items(&self, n: usize) {
        self.s.dropped.fetch_add(n as u64, Ordering::Relaxed);
        self.s.metrics.dropped_items.inc_by(n as u64);
    }

    /// Hands one chunk downstream. Retryable errors are retried with backoff until they succeed
    /// or shutdown begins (then one last attempt); permanent errors drop the chunk, as otelcol.
    /// True when the chunk was delivered.
    async fn export(&mut self, chunk: Payload, n: usize) -> bool {
        let mut backoff = BACKOFF_START;
        // No settling before the first retry that room for the batch wakes.
        let mut room_settle = Duration::ZERO;
        // Shared with the consumer: kept for a retry without copying the data.
        let batch = Batch::with_metadata(chunk, self.metadata.clone());
        loop {
            let e = match self.s.next.consume(batch.clone()).await {
                Ok(()) => return true,
                Err(e) => e,
            };
            if e.permanent {
                tracing::warn!(error = %e, dropped_items = n, "Sender failed");
                self.drop_items(n);
                return false;
            }
            if *self.shutdown.borrow() || self.orphaned {
                tracing::error!(error = %e, dropped_items = n,
                    "Sender failed at shutdown; dropping data");
                self.drop_items(n);
                return false;
            }
            tracing::debug!(error = %e, items = n, retry_in = ?backoff, "Sender failed, retrying");
            // A full sending queue says when it has room again: retrying then, rather than
            // after the backoff, keeps the exporter from running dry while this shard sleeps
            // (with a small queue the sleeps halved throughput and left the CPU idle).
            let next = self.s.next.clone();
            let room = async {
                next.room_for(&batch).await;
                if !room_settle.is_zero() {
                    tokio::time::sleep(room_settle).await;
                }
            };
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = room => {
                    room_settle = (room_settle * 2).max(ROOM_SETTLE_START).min(BACKOFF_MAX);
                    continue;
                }
                // An error means the processor is gone without a shutdown: stop retrying.
                res = self.shutdown.changed() => self.orphaned = res.is_err(),
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}
