//! Storage: otelcol's `storage.Extension` as the persistent sending queue sees it.
//!
//! A storage extension (`file_storage`) hands each (component, signal) its own durable FIFO of
//! encoded batches, a [`QueueStore`]. The exporter runner in `crates/pipeline` builds the
//! `sending_queue.storage` semantics on top: what to store, when to delete, how capacity is
//! counted.

use kakehashi_config::{ComponentId, Kind};
use kakehashi_pdata::Signal;
use std::fmt;
use std::sync::Arc;

/// One item waiting in a persistent queue, without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredItem {
    /// Increases with every push and is never reused: the oldest item has the lowest id.
    pub id: u64,
    /// Capacity units (in the queue's `sizer`) the item was admitted with.
    pub units: u64,
    /// Spans, data points or log records in the item, for accounting when it cannot be read.
    pub items: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The stored bytes fail their checksum or the database page holding them is damaged: the
    /// item is lost and retrying will not help.
    Corrupt(String),
    /// Any other failure (I/O error, disk full, database locked); a later attempt may succeed.
    Io(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Corrupt(m) => write!(f, "corrupt queue item: {m}"),
            StorageError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StorageError {}

/// A durable FIFO of encoded batches for one component and signal.
///
/// Every method does file I/O and may block: call them from a blocking thread
/// (`tokio::task::spawn_blocking`). Implementations serialize access internally.
pub trait QueueStore: Send + Sync {
    /// Appends an item. When this returns `Ok` the item is committed: it survives a crash of the
    /// process, and with `fsync: true` a crash of the machine.
    fn push(&self, units: u64, items: u64, data: &[u8]) -> Result<u64, StorageError>;
    /// Every stored item, oldest first. Called once at start, to resume what a previous run left.
    fn pending(&self) -> Result<Vec<StoredItem>, StorageError>;
    /// The bytes of an item, verified against the checksum stored with them.
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError>;
    /// Deletes an item (exported, or given up on). Deleting a missing item is not an error.
    fn remove(&self, id: u64) -> Result<(), StorageError>;
}

/// What a storage extension offers to other components.
pub trait Storage: Send + Sync {
    /// Opens, creating it if needed, the queue that `owner` (a component of `kind`) uses for
    /// `signal`. A damaged queue file is set aside (logged) and a fresh queue started, so a
    /// corrupt file never stops the collector from starting; an `Err` means that no queue could be
    /// opened at all (unwritable directory, file locked by another process).
    fn open_queue(
        &self,
        kind: Kind,
        owner: &ComponentId,
        signal: Signal,
    ) -> Result<Arc<dyn QueueStore>, String>;
}
