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

/// At most this many traces are removed per transaction when over size, so that the writer
/// lock is not held long (payloads wait for it).
const SIZE_BATCH: i64 = 500;

impl Store {
    /// One retention pass: removes traces (with their spans) and other rows received more than
    /// `max_age` ago, then the oldest traces (then the oldest other rows) while the live data
    /// exceeds `max_bytes`.
    pub fn prune(&self, max_age: Duration, max_bytes: u64, now_ns: i64) -> Result<Pruned> {
        let mut conn = lock(&self.writer);
        let cutoff = now_ns.saturating_sub(i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX));
        let mut pruned = Pruned::default();
        {
            let tx = conn.transaction()?;
            let old = "SELECT trace_id FROM traces WHERE received_at_ns < ?1";
            pruned.spans += tx.execute(
                &format!("DELETE FROM spans WHERE trace_id IN ({old})"),
                [cutoff],
            )?;
            tx.execute(
                &format!("DELETE FROM trace_services WHERE trace_id IN ({old})"),
                [cutoff],
            )?;
            pruned.traces +=
                tx.execute("DELETE FROM traces WHERE received_at_ns < ?1", [cutoff])?;
            for t in OTHER_TABLES {
                pruned.other_rows += tx.execute(
                    &format!("DELETE FROM {t} WHERE received_at_ns < ?1"),
                    [cutoff],
                )?;
            }
            tx.commit()?;
        }
        loop {
            let used = db_bytes(&conn)?;
            let excess = used.saturating_sub(i64::try_from(max_bytes).unwrap_or(i64::MAX));
            if excess <= 0 {
                break;
            }
            // About as many traces as the excess holds, at the average size of a trace, so a
            // small database over its limit is trimmed rather than emptied; the loop goes on
            // if that was not enough.
            let traces: i64 = conn.query_row("SELECT count(*) FROM traces", [], |r| r.get(0))?;
            let per_trace = (used / traces.max(1)).max(1);
            let batch = (excess / per_trace + 1).clamp(1, SIZE_BATCH);
            let tx = conn.transaction()?;
            let ids: Vec<i64> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT trace_id FROM traces ORDER BY received_at_ns, trace_id LIMIT ?1",
                )?;
                let v = stmt
                    .query_map([batch], |r| r.get(0))?
                    .collect::<std::result::Result<Vec<i64>, _>>()?;
                v
            };
            let mut removed = 0;
            if !ids.is_empty() {
                let mut del_spans = tx.prepare_cached("DELETE FROM spans WHERE trace_id = ?1")?;
                let mut del_svcs =
                    tx.prepare_cached("DELETE FROM trace_services WHERE trace_id = ?1")?;
                let mut del_trace = tx.prepare_cached("DELETE FROM traces WHERE trace_id = ?1")?;
                for id in &ids {
                    pruned.spans += del_spans.execute([id])?;
                    del_svcs.execute([id])?;
                    removed += del_trace.execute([id])?;
                }
                pruned.traces += removed;
            } else {
                for t in OTHER_TABLES {
                    let n = tx.execute(
                        &format!(
                            "DELETE FROM {t} WHERE id IN
                             (SELECT id FROM {t} ORDER BY received_at_ns LIMIT 1000)"
                        ),
                        [],
                    )?;
                    removed += n;
                    pruned.other_rows += n;
                }
            }
            tx.commit()?;
            // Nothing left to remove: the schema alone is over the limit.
            if removed == 0 {
                break;
            }
        }
        if pruned != Pruned::default() {
            incremental_vacuum(&conn)?;
        }
        Ok(pruned)
    }
}

/// Returns the free pages to the file system. Each step of the pragma frees one page, so it is
/// stepped to the end (`execute_batch` would step it once).
fn incremental_vacuum(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// Bytes of the database in use (pages minus free pages).
pub(super) fn db_bytes(conn: &Connection) -> Result<i64> {
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok((page_count - free) * size)
}
