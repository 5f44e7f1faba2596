//! Pushing data downstream.

use crate::error::ConsumeError;
use async_trait::async_trait;
use kakehashi_pdata::{Payload, Signal};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

/// What the receiver knows about the client that sent a batch (otelcol's `client.Info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientMetadata {
    /// The peer address (`client.address` for the attributes processor's `from_context`).
    pub addr: Option<SocketAddr>,
    /// Request headers / gRPC metadata with lowercased keys, filled only with
    /// `include_metadata: true`. Values in arrival order.
    pub headers: Arc<BTreeMap<String, Vec<String>>>,
}

impl ClientMetadata {
    /// The values of one metadata key (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.headers
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

/// A unit of data moving through a pipeline: one signal's payload plus its client metadata.
///
/// The payload is shared, copy-on-write: cloning a batch (a fan-out to several consumers, the
/// batch processor keeping a chunk it may have to send again) costs a reference count, and a
/// component that modifies the payload calls [`Batch::payload_mut`], which copies only when
/// the payload is still shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub payload: Arc<Payload>,
    pub metadata: ClientMetadata,
    /// Shared by this batch's clones and kept when a component modifies the payload in place
    /// ([`Batch::payload_mut`] copies the payload, not the batch): how a fan-out recognises the
    /// batch processor's retry of a chunk, even after a processor in between changed it.
    identity: Arc<Identity>,
}

/// See [`Batch::identity`]. Every batch's is equal to every other's: it takes no part in
/// comparing batches, only its address matters.
#[derive(Debug, Default, PartialEq)]
struct Identity;

/// A weak handle on one batch's identity, which does not keep it alive: it can tell whether a
/// batch is that one (or a clone or in-place modification of it), and whether any holder of
/// that batch is left.
#[derive(Debug, Clone)]
pub struct BatchIdentity(Weak<Identity>);

impl BatchIdentity {
    /// Whether `batch` is the batch this identity was taken from, a clone of it, or that batch
    /// modified in place. (The allocation is kept while this handle exists, so its address
    /// cannot be reused by another batch.)
    pub fn is(&self, batch: &Batch) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&batch.identity))
    }
    /// Whether anything still holds the batch.
    pub fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Batch {
    pub fn new(payload: impl Into<Payload>) -> Self {
        Batch::with_metadata(payload, ClientMetadata::default())
    }
    pub fn with_metadata(payload: impl Into<Payload>, metadata: ClientMetadata) -> Self {
        Batch {
            payload: Arc::new(payload.into()),
            metadata,
            identity: Arc::default(),
        }
    }
    /// This batch's identity (see [`BatchIdentity`]).
    pub fn identity(&self) -> BatchIdentity {
        BatchIdentity(Arc::downgrade(&self.identity))
    }
    /// The payload to modify in place; a copy only if another holder still shares it.
    pub fn payload_mut(&mut self) -> &mut Payload {
        Arc::make_mut(&mut self.payload)
    }
    /// The payload, owned; a copy only if another holder still shares it.
    pub fn into_payload(self) -> Payload {
        Arc::unwrap_or_clone(self.payload)
    }
    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }
    pub fn item_count(&self) -> usize {
        self.payload.item_count()
    }
}

/// Anything a batch can be pushed into. An `Ok` means the data was taken responsibility for
/// (processed, queued or exported); an error tells the caller whether a retry may help.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError>;

    /// Waits until this consumer has room for `batch` (a full sending queue freed enough of it)
    /// and answers `true`, or answers `false` at once where it cannot tell (no queue of its own,
    /// shutdown begun, a batch larger than the whole queue). The batch processor waits here
    /// before each hand-off: a batch refused for want of room would be logged and counted as an
    /// enqueue failure although it is kept and retried, and retrying after a fixed sleep leaves
    /// the exporter idle once the queue drains. Room is not reserved: another caller may take it
    /// first, and the hand-off may still be refused.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        let _ = batch;
        false
    }
}

/// The consumers a receiver pushes into, one per signal that some pipeline uses it for.
#[derive(Clone, Default)]
pub struct SignalConsumers {
    pub traces: Option<Arc<dyn Consumer>>,
    pub metrics: Option<Arc<dyn Consumer>>,
    pub logs: Option<Arc<dyn Consumer>>,
}

impl SignalConsumers {
    pub fn get(&self, signal: Signal) -> Option<&Arc<dyn Consumer>> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }
    pub fn set(&mut self, signal: Signal, c: Arc<dyn Consumer>) {
        match signal {
            Signal::Traces => self.traces = Some(c),
            Signal::Metrics => self.metrics = Some(c),
            Signal::Logs => self.logs = Some(c),
        }
    }
}
