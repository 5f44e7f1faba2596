//! Retention: by age, then by size.

use std::time::Duration;

use rusqlite::Connection;

use super::{lock, Result, Store};

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub traces: usize,
    pub spans: usize,
    pub other_rows: usize,
}

/// Tables other than spans and traces, each with `id` and `received_at_ns`.
const OTHER_TABLES: [&str; 5] = ["stats", "series", "logs", "host_metadata", "payloads"];

/// At most this many traces (or 2× as many other rows) are removed per transaction, and the
/// writer lock is taken per transaction, so payloads get in between the batches of a long pass
/// (after downtime, or a lowered limit).
const BATCH: i64 = 500;

/// Free pages given back to the file system per lock (`PRAGMA incremental_vacuum(N)` moves
/// live pages, which takes a while for many).
const VACUUM_PAGES: i64 = 2000;

/// What the size pass removes next: the kind whose oldest row is oldest.
enum Oldest {
    Traces,
    Other(&'static str),
}

impl Store {
    /// One retention pass: removes traces (with their spans) and other rows received more than
    /// `max_age` ago, then, while the live data exceeds `max_bytes`, the oldest data of any
    /// kind (traces or other rows, by when they were received).
    pub fn prune(&self, max_age: Duration, max_bytes: u64, now_ns: i64) -> Result<Pruned> {
        let cutoff = now_ns.saturating_sub(i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX));
        let mut pruned = Pruned::default();
        while remove_oldest_traces(&mut lock(&self.writer), BATCH, cutoff, &mut pruned)? > 0 {}
        for t in OTHER_TABLES {
            while remove_oldest_rows(&mut lock(&self.writer), t, 2 * BATCH, cutoff, &mut pruned)?
                > 0
            {}
        }
        loop {
            let mut conn = lock(&self.writer);
            let used = db_bytes(&conn)?;
            let excess = used.saturating_sub(i64::try_from(max_bytes).unwrap_or(i64::MAX));
            if excess <= 0 {
                break;
            }
            let removed = match oldest(&conn)? {
                // About as many traces as the excess holds, at the average size of a trace, so
                // a small database over its limit is trimmed rather than emptied; the loop goes
                // on if that was not enough.
                Some(Oldest::Traces) => {
                    let traces: i64 =
                        conn.query_row("SELECT count(*) FROM traces", [], |r| r.get(0))?;
                    let per_trace = (used / traces.max(1)).max(1);
                    let batch = (excess / per_trace + 1).clamp(1, BATCH);
                    remove_oldest_traces(&mut conn, batch, i64::MAX, &mut pruned)?
                }
                Some(Oldest::Other(t)) => {
                    remove_oldest_rows(&mut conn, t, 2 * BATCH, i64::MAX, &mut pruned)?
                }
                None => 0,
            };
            // Nothing left to remove: the schema alone is over the limit.
            if removed == 0 {
                break;
            }
        }
        if pruned != Pruned::default() {
            while incremental_vacuum(&lock(&self.writer), VACUUM_PAGES)? {}
            // The pages moved by the vacuum went through the WAL; without a truncating
            // checkpoint its file would keep that size next to the database.
            lock(&self.writer).execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        }
        Ok(pruned)
    }
}

/// Removes up to `limit` of the oldest traces received before `before`, with their spans;
/// returns how many.
fn remove_oldest_traces(
    conn: &mut Connection,
    limit: i64,
    before: i64,
    pruned: &mut Pruned,
) -> Result<usize> {
    let tx = conn.transaction()?;
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached(
            "SELECT trace_id FROM traces WHERE received_at_ns < ?1
             ORDER BY received_at_ns, trace_id LIMIT ?2",
        )?;
        let v = stmt
            .query_map([before, limit], |r| r.get(0))?
            .collect::<std::result::Result<Vec<i64>, _>>()?;
        v
    };
    let mut removed = 0;
    {
        let mut del_spans = tx.prepare_cached("DELETE FROM spans WHERE trace_id = ?1")?;
        let mut del_svcs = tx.prepare_cached("DELETE FROM trace_services WHERE trace_id = ?1")?;
        let mut del_trace = tx.prepare_cached("DELETE FROM traces WHERE trace_id = ?1")?;
        for id in &ids {
            pruned.spans += del_spans.execute([id])?;
            del_svcs.execute([id])?;
            removed += del_trace.execute([id])?;
        }
    }
    tx.commit()?;
    pruned.traces += removed;
    Ok(removed)
}

/// Removes up to `limit` of the oldest rows of `table` received before `before`.
fn remove_oldest_rows(
    conn: &mut Connection,
    table: &str,
    limit: i64,
    before: i64,
    pruned: &mut Pruned,
) -> Result<usize> {
    let n = conn.execute(
        &format!(
            "DELETE FROM {table} WHERE id IN (SELECT id FROM {table}
             WHERE received_at_ns < ?1 ORDER BY received_at_ns LIMIT ?2)"
        ),
        [before, limit],
    )?;
    pruned.other_rows += n;
    Ok(n)
}

/// The kind of data whose oldest row was received first, or `None` when all is empty.
fn oldest(conn: &Connection) -> Result<Option<Oldest>> {
    let first = |table: &str| -> Result<Option<i64>> {
        Ok(conn.query_row(
            &format!("SELECT min(received_at_ns) FROM {table}"),
            [],
            |r| r.get(0),
        )?)
    };
    let mut best = first("traces")?.map(|at| (at, Oldest::Traces));
    for t in OTHER_TABLES {
        if let Some(at) = first(t)? {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, Oldest::Other(t)));
            }
        }
    }
    Ok(best.map(|(_, o)| o))
}

/// Returns up to `pages` free pages to the file system; true if free pages are left. Each step
/// of the pragma frees one page, so it is stepped to the end (`execute_batch` would step it
/// once).
fn incremental_vacuum(conn: &Connection, pages: i64) -> Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(free > 0)
}

/// Bytes of the database in use (pages minus free pages).
pub(super) fn db_bytes(conn: &Connection) -> Result<i64> {
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((page_count - free) * size)
}
