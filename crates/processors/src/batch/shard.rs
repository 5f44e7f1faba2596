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
/// The first wait, after a room signal that proved wrong, before trusting the next one.
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

    /// Hands one chunk downstream, once the downstream has room for it. Retryable errors are
    /// retried until they succeed or shutdown begins (then one last attempt); permanent errors
    /// drop the chunk, as otelcol. True when the chunk was delivered.
    async fn export(&mut self, chunk: Payload, n: usize) -> bool {
        let mut wait = Wait::default();
        // Shared with the consumer: kept for a retry without copying the data.
        let batch = Batch::with_metadata(chunk, self.metadata.clone());
        loop {
            self.wait_before_attempt(&batch, &mut wait).await;
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
            wait.note_refusal();
            tracing::debug!(error = %e, items = n, retry_in = ?wait.backoff, "Sender failed, retrying");
        }
    }

    /// Waits until the downstream has room for the chunk (a full sending queue says when), at
    /// most [`BACKOFF_MAX`]; where it cannot tell, not at all before a first attempt and the
    /// backoff after a refusal. Not at all once shutdown has begun.
    async fn wait_before_attempt(&mut self, batch: &Batch, wait: &mut Wait) {
        if *self.shutdown.borrow() || self.orphaned {
            return;
        }
        let next = self.s.next.clone();
        let (refused, settle) = (wait.refused, wait.room_settle);
        let room = async {
            if next.wait_for_room(batch).await {
                if refused && !settle.is_zero() {
                    tokio::time::sleep(settle).await;
                }
            } else if refused {
                std::future::pending::<()>().await;
            }
        };
        let limit = if refused { wait.backoff } else { BACKOFF_MAX };
        tokio::select! {
            () = room => {}
            () = tokio::time::sleep(limit) => {}
            // An error means the processor is gone without a shutdown: stop retrying.
            res = self.shutdown.changed() => self.orphaned = res.is_err(),
        }
    }
}

/// How long a chunk's next attempt may wait.
struct Wait {
    /// Whether the chunk was refused at least once.
    refused: bool,
    /// The longest wait after a refusal where the downstream cannot say when it has room.
    backoff: Duration,
    /// After a refusal, how long a retry woken by the downstream's room waits more: that room
    /// was taken by another caller, or measured for a slightly different size, and a wrong
    /// signal must cost a few short waits, never a spin. Doubles per refusal.
    room_settle: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            refused: false,
            backoff: BACKOFF_START,
            room_settle: Duration::ZERO,
        }
    }
}

impl Wait {
    fn note_refusal(&mut self) {
        if self.refused {
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            self.room_settle = (self.room_settle * 2)
                .max(ROOM_SETTLE_START)
                .min(BACKOFF_MAX);
        }
        self.refused = true;
    }
}
