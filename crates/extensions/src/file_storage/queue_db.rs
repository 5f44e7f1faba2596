//! One persistent queue: a SQLite database file with one table of checksummed items.
//!
//! ```sql
//! CREATE TABLE queue_items (
//!     id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- FIFO order; never reused
//!     units    INTEGER NOT NULL,                   -- capacity units (sizer) at admission
//!     items    INTEGER NOT NULL,                   -- spans / data points / log records
//!     checksum INTEGER NOT NULL,                   -- CRC-32 of (units, items, data)
//!     data     BLOB NOT NULL                       -- the OTLP Export*ServiceRequest
//! );
//! ```
//!
//! Durability: WAL journal, one transaction per push (committed before `push` returns);
//! `synchronous=NORMAL` survives a killed process, `synchronous=FULL` (`fsync: true`) also a
//! power loss. The file is opened with an exclusive lock, so a second collector pointed at the
//! same directory fails to start instead of sending the same items twice.
//!
//! Damage: a file SQLite cannot read as a database, or that fails `PRAGMA quick_check`, is
//! renamed to `<file>.corrupt-<unix seconds>` and a fresh queue is started; the items that can
//! still be read from the damaged copy (and pass their checksum) are moved into the fresh queue.
//! An item whose checksum does not match is reported by [`QueueStore::read`] as corrupt.

use super::config::CompactionConfig;
use kakehashi_component::{QueueStore, StorageError, StoredItem};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `PRAGMA application_id`: marks the file as a kakehashi queue ("kkhq").
const APPLICATION_ID: i64 = 0x6b6b_6871;
const SCHEMA_VERSION: i64 = 1;

/// How a queue database is opened (from the extension's config).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub fsync: bool,
    pub timeout: Duration,
    pub compaction: CompactionConfig,
}

pub struct QueueDb {
    path: PathBuf,
    conn: Mutex<Connection>,
    rebound: Option<Mutex<Rebound>>,
}

/// Online ("rebound") compaction state, as otelcol's: once the file has grown past `needed`
/// bytes, compact when the live data drops below `trigger` bytes.
struct Rebound {
    needed: u64,
    trigger: u64,
    interval: Duration,
    last_check: Instant,
    compaction_needed: bool,
}

enum OpenError {
    /// The file is damaged: set it aside and start fresh.
    Damaged(String),
    /// Anything else (permissions, lock held, newer schema): the queue cannot be opened.
    Fatal(String),
}

fn classify(e: rusqlite::Error) -> OpenError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Damaged(e.to_string())
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::Fatal(format!(
            "{e} (is another collector using the same file_storage directory?)"
        )),
        _ => OpenError::Fatal(e.to_string()),
    }
}

fn item_error(e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StorageError::Corrupt(e.to_string())
        }
        _ => StorageError::Io(e.to_string()),
    }
}

fn checksum(units: u64, items: u64, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&units.to_le_bytes());
    h.update(&items.to_le_bytes());
    h.update(data);
    h.finalize()
}

impl QueueDb {
    /// Opens (or creates) the queue at `path`, setting a damaged file aside.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<QueueDb, String> {
        let conn = match open_conn(path, opts) {
            Ok(conn) => conn,
            Err(OpenError::Fatal(e)) => return Err(format!("{}: {e}", path.display())),
            Err(OpenError::Damaged(reason)) => {
                let aside = set_aside(path).map_err(|e| {
                    format!("{}: cannot set damaged file aside: {e}", path.display())
                })?;
                tracing::error!(
                    file = %path.display(),
                    moved_to = %aside.display(),
                    error = %reason,
                    "Persistent queue file is damaged; moved it aside and started a fresh queue."
                );
                let conn = open_conn(path, opts).map_err(|e| match e {
                    OpenError::Damaged(e) | OpenError::Fatal(e) => {
                        format!("{}: {e}", path.display())
                    }
                })?;
                match salvage(&aside, &conn) {
                    (0, false) => {}
                    (0, true) => tracing::warn!(
                        file = %aside.display(),
                        "No item of the damaged queue file could be recovered."
                    ),
                    (saved, lost) => tracing::warn!(
                        file = %aside.display(),
                        recovered_requests = saved,
                        "Recovered the readable items of the damaged queue file{}.",
                        if lost { "; the rest is lost" } else { "" }
                    ),
                }
                conn
            }
        };
        let c = &opts.compaction;
        let rebound = c.on_rebound.then(|| {
            Mutex::new(Rebound {
                needed: mib(c.rebound_needed_threshold_mib),
                trigger: mib(c.rebound_trigger_threshold_mib),
                interval: c.check_interval.get(),
                last_check: Instant::now(),
                compaction_needed: false,
            })
        });
        Ok(QueueDb {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            rebound,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection in a state SQLite does not
        // handle itself (every write is one statement), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compacts when the rebound conditions hold; checked at most every `check_interval`.
    fn maybe_compact(&self, conn: &Connection) {
        let Some(rebound) = &self.rebound else { return };
        let mut r = rebound.lock().unwrap_or_else(|p| p.into_inner());
        if r.last_check.elapsed() < r.interval {
            return;
        }
        r.last_check = Instant::now();
        let pragma = |name: &str| -> u64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0))
                .map_or(0, |v| v.max(0) as u64)
        };
        let page_size = pragma("page_size");
        let pages = pragma("page_count");
        let free = pragma("freelist_count");
        let allocated = pages * page_size;
        let used = pages.saturating_sub(free) * page_size;
        if allocated >= r.needed {
            r.compaction_needed = true;
        }
        if r.compaction_needed && used < r.trigger {
            let result = incremental_vacuum(conn);
            match result {
                Ok(()) => tracing::info!(
                    file = %self.path.display(),
                    allocated_bytes = allocated,
                    used_bytes = used,
                    "Compacted the persistent queue file (rebound compaction)."
                ),
                Err(e) => tracing::error!(
                    file = %self.path.display(),
                    error = %e,
                    "Rebound compaction failed."
                ),
            }
            r.compaction_needed = false;
        }
    }
}

/// Frees every page on the freelist and truncates the file. `incremental_vacuum` frees one page
/// per step, so its statement must be stepped to the end.
fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

fn mib(v: i64) -> u64 {
    (v.max(0) as u64).saturating_mul(1 << 20)
}

/// Creates a missing queue file readable by its owner only (as otelcol's bbolt files are): the
/// queue holds telemetry, which can be sensitive. SQLite gives its `-wal` file the same mode, and
/// an empty file is a valid empty database.
fn create_private(path: &Path) -> Result<(), OpenError> {
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(OpenError::Fatal(e.to_string())),
    }
}

fn open_conn(path: &Path, opts: &OpenOptions) -> Result<Connection, OpenError> {
    create_private(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify)?;
    conn.busy_timeout(opts.timeout).map_err(classify)?;
    let synchronous = if opts.fsync { "FULL" } else { "NORMAL" };
    // auto_vacuum only takes effect on a new file (before the first table): it makes rebound
    // compaction (`incremental_vacuum`) possible. The exclusive lock is taken by the
    // `BEGIN EXCLUSIVE` and held for as long as the connection is open.
    conn.execute_batch(&format!(
        "PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA locking_mode = EXCLUSIVE;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA journal_size_limit = 16777216;
         BEGIN EXCLUSIVE; COMMIT;"
    ))
    .map_err(classify)?;
    let check: Vec<String> = {
        let mut stmt = conn.prepare("PRAGMA quick_check").map_err(classify)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)?
    };
    if check.first().map(String::as_str) != Some("ok") {
        return Err(OpenError::Damaged(format!(
            "quick_check: {}",
            check.join("; ")
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(classify)?;
    match version {
        0 => conn
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS queue_items (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     units INTEGER NOT NULL,
                     items INTEGER NOT NULL,
                     checksum INTEGER NOT NULL,
                     data BLOB NOT NULL
                 );
                 PRAGMA application_id = {APPLICATION_ID};
                 PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(classify)?,
        SCHEMA_VERSION => {}
        v => {
            return Err(OpenError::Fatal(format!(
                "queue schema version {v} is newer than this collector's ({SCHEMA_VERSION})"
            )))
        }
    }
    if opts.compaction.on_start {
        // otelcol logs a failed compaction and carries on.
        if let Err(e) = conn.execute_batch("VACUUM;") {
            tracing::error!(file = %path.display(), error = %e, "Compaction on start failed.");
        }
    }
    Ok(conn)
}

/// Renames `path` (and its `-wal` / `-shm` companions) to `<path>.corrupt-<unix seconds>`.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = PathBuf::from(format!("{}.corrupt-{ts}", path.display()));
    let mut n = 1;
    while aside.exists() {
        aside = PathBuf::from(format!("{}.corrupt-{ts}-{n}", path.display()));
        n += 1;
    }
    std::fs::rename(path, &aside)?;
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{suffix}", aside.display()))?;
        }
    }
    Ok(aside)
}

/// Copies the readable, checksum-valid items of a damaged queue file into `fresh`, oldest first,
/// stopping at the first unreadable row. Returns (items copied, whether something was lost).
fn salvage(damaged: &Path, fresh: &Connection) -> (u64, bool) {
    let Ok(old) = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_WRITE) else {
        return (0, true);
    };
    // Reading the schema of a damaged file fails on consistency checks that do not concern the
    // rows still readable; `writable_schema` skips them. Nothing is written to this copy.
    if old.execute_batch("PRAGMA writable_schema = ON;").is_err() {
        return (0, true);
    }
    let Ok(mut stmt) =
        old.prepare("SELECT units, items, checksum, data FROM queue_items ORDER BY id")
    else {
        return (0, true);
    };
    let Ok(mut rows) = stmt.query([]) else {
        return (0, true);
    };
    let (mut saved, mut lost) = (0, false);
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(_) => {
                lost = true;
                break;
            }
        };
        let fields = (|| -> rusqlite::Result<(u64, u64, u32, Vec<u8>)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })();
        match fields {
            Ok((units, items, sum, data)) if checksum(units, items, &data) == sum => {
                let inserted = fresh.execute(
                    "INSERT INTO queue_items (units, items, checksum, data) VALUES (?1, ?2, ?3, ?4)",
                    params![units, items, sum, data],
                );
                if inserted.is_ok() {
                    saved += 1;
                } else {
                    lost = true;
                }
            }
            _ => lost = true,
        }
    }
    (saved, lost)
}

impl QueueStore for QueueDb {
    fn push(&self, units: u64, items: u64, data: &[u8]) -> Result<u64, StorageError> {
        let sum = checksum(units, items, data);
        let conn = self.conn();
        conn.execute(
            "INSERT INTO queue_items (units, items, checksum, data) VALUES (?1, ?2, ?3, ?4)",
            params![units, items, sum, data],
        )
        .map_err(item_error)?;
        Ok(conn.last_insert_rowid() as u64)
    }

    fn pending(&self) -> Result<Vec<StoredItem>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, units, items FROM queue_items ORDER BY id")
            .map_err(item_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredItem {
                    id: r.get(0)?,
                    units: r.get(1)?,
                    items: r.get(2)?,
                })
            })
            .map_err(item_error)?;
        rows.collect::<Result<_, _>>().map_err(item_error)
    }

    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT units, items, checksum, data FROM queue_items WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, u64>(0)?,
                        r.get::<_, u64>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(item_error)?;
        let Some((units, items, sum, data)) = row else {
            return Err(StorageError::Corrupt(format!("item {id} is missing")));
        };
        if checksum(units, items, &data) != sum {
            return Err(StorageError::Corrupt(format!(
                "item {id} fails its checksum"
            )));
        }
        Ok(data)
    }

    fn remove(&self, id: u64) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute("DELETE FROM queue_items WHERE id = ?1", [id])
            .map_err(item_error)?;
        self.maybe_compact(&conn);
        Ok(())
    }
}

#[cfg(test)]
#[path = "queue_db_tests.rs"]
mod tests;
