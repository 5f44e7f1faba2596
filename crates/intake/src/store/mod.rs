//! SQLite storage: schema, inserts (one transaction per payload), the queries behind the JSON
//! API, and retention. Synchronous; the server calls it from blocking threads.
//!
//! Ids (`u64`) are stored bit-cast to SQLite's `INTEGER` (`i64`) and converted back on read.

mod hosts;
mod insert;
mod query;
mod retention;
mod schema;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod hosts_tests;
#[cfg(test)]
mod insert_tests;
#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod retention_tests;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

pub use hosts::Host;
pub use query::{parse_cursor, MAX_PAGE};
pub use retention::Pruned;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "intake.sqlite";

/// A storage error, shown to API clients as a 500 reason.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(format!("sqlite: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    system_time_ns(SystemTime::now())
}

/// A `SystemTime` as ns since the Unix epoch (0 before it, saturating far after it).
pub fn system_time_ns(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn ns_to_ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// Filters and page of `GET /api/traces`.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    /// Traces with at least one span of this service.
    pub service: Option<String>,
    pub env: Option<String>,
    /// Case-insensitive (ASCII) substring of the root span's resource or name.
    pub q: Option<String>,
    /// Only traces with at least one error span.
    pub errors_only: bool,
    pub min_duration_ns: Option<i64>,
    /// Trace start ≥ this (ns).
    pub from_ns: Option<i64>,
    /// Trace start ≤ this (ns).
    pub to_ns: Option<i64>,
    /// Page size (clamped to 1..=1000).
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One row of the trace list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceSummary {
    pub trace_id: String,
    pub start_ns: String,
    pub duration_ms: f64,
    pub service: String,
    pub name: String,
    pub resource: String,
    pub error: bool,
    pub span_count: i64,
    pub services: Vec<String>,
    pub env: String,
    pub root_span_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceList {
    pub traces: Vec<TraceSummary>,
    pub next_cursor: Option<String>,
}

/// One span of `GET /api/traces/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct SpanOut {
    pub span_id: String,
    pub parent_id: String,
    pub service: String,
    pub name: String,
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub start_ns: String,
    pub duration_ms: f64,
    pub error: bool,
    pub meta: Value,
    pub metrics: Value,
    pub env: String,
    pub hostname: String,
    pub priority: i64,
    pub origin: String,
    pub language: String,
    pub tracer_version: String,
    pub app_version: String,
    pub container_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceDetail {
    pub trace_id: String,
    pub start_ns: String,
    pub duration_ms: f64,
    pub spans: Vec<SpanOut>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResourceStats {
    pub resource: String,
    pub name: String,
    pub hits: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceStats {
    pub service: String,
    pub env: String,
    pub hits: u64,
    pub errors: u64,
    pub top_level_hits: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub resources: Vec<ResourceStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facets {
    pub services: Vec<String>,
    pub envs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PayloadCount {
    pub path: String,
    pub status: i64,
    pub count: i64,
    pub bytes: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub spans: i64,
    pub traces: i64,
    pub stats_rows: i64,
    pub series_points: i64,
    pub logs: i64,
    pub host_metadata: i64,
    pub payloads: Vec<PayloadCount>,
    pub payload_bytes: i64,
    pub db_bytes: i64,
}

/// The intake database: one writer connection and one reader connection (WAL lets reads run
/// while a payload is being written).
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A panic while a connection was held leaves it usable (every write is one transaction, rolled
/// back on drop), so a poisoned lock is not a reason to stop serving.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Only takes effect while the file has no table yet, and must precede the switch to WAL:
    // the setting is written with the first table, so it has to be on the connection that
    // creates the schema.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/intake.sqlite` and migrates the schema.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DB_FILE);
        let writer = open_conn(&path)?;
        schema::migrate(&writer)?;
        let reader = open_conn(&path)?;
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
