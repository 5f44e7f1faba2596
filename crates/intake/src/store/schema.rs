//! The schema and its migrations (`PRAGMA user_version`).
//!
//! Every list query orders by `(start_ns, trace_id)` descending and pages with a keyset cursor,
//! so each filter that can be selective has an index ending in those two columns: SQLite then
//! walks the index backwards and stops after one page instead of sorting every match.

use rusqlite::Connection;

use super::{Result, StoreError};

/// Schema version written to `PRAGMA user_version`.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migrations: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE spans (
    trace_id        INTEGER NOT NULL,
    span_id         INTEGER NOT NULL,
    parent_id       INTEGER NOT NULL,
    service         TEXT NOT NULL,
    name            TEXT NOT NULL,
    resource        TEXT NOT NULL,
    type            TEXT NOT NULL,
    start_ns        INTEGER NOT NULL,
    duration_ns     INTEGER NOT NULL,
    error           INTEGER NOT NULL,
    env             TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    meta            TEXT NOT NULL,
    metrics         TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    origin          TEXT NOT NULL,
    language        TEXT NOT NULL,
    tracer_version  TEXT NOT NULL,
    container_id    TEXT NOT NULL,
    app_version     TEXT NOT NULL,
    agent_version   TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL
);
CREATE UNIQUE INDEX spans_trace_span ON spans(trace_id, span_id);

-- One row per trace, recomputed from its spans whenever a payload brings spans of it.
CREATE TABLE traces (
    trace_id        INTEGER PRIMARY KEY,
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER NOT NULL,
    duration_ns     INTEGER NOT NULL,
    root_span_id    INTEGER NOT NULL,
    service         TEXT NOT NULL,
    name            TEXT NOT NULL,
    resource        TEXT NOT NULL,
    error           INTEGER NOT NULL,
    span_count      INTEGER NOT NULL,
    services        TEXT NOT NULL,
    env             TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL
);
CREATE INDEX traces_start ON traces(start_ns, trace_id);
CREATE INDEX traces_env_start ON traces(env, start_ns, trace_id);
CREATE INDEX traces_error_start ON traces(start_ns, trace_id) WHERE error = 1;
CREATE INDEX traces_received ON traces(received_at_ns);

-- The services of each trace (the `services` column, unnested), so that a service filter is
-- an index range rather than a scan of every trace.
CREATE TABLE trace_services (
    service         TEXT NOT NULL,
    start_ns        INTEGER NOT NULL,
    trace_id        INTEGER NOT NULL,
    PRIMARY KEY (service, start_ns, trace_id)
) WITHOUT ROWID;
CREATE INDEX trace_services_trace ON trace_services(trace_id);

CREATE TABLE stats (
    id                  INTEGER PRIMARY KEY,
    bucket_start_ns     INTEGER NOT NULL,
    bucket_duration_ns  INTEGER NOT NULL,
    hostname            TEXT NOT NULL,
    env                 TEXT NOT NULL,
    version             TEXT NOT NULL,
    service             TEXT NOT NULL,
    name                TEXT NOT NULL,
    resource            TEXT NOT NULL,
    type                TEXT NOT NULL,
    http_status_code    INTEGER NOT NULL,
    span_kind           TEXT NOT NULL,
    is_trace_root       INTEGER NOT NULL,
    synthetics          INTEGER NOT NULL,
    hits                INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    top_level_hits      INTEGER NOT NULL,
    duration_ns         INTEGER NOT NULL,
    ok_summary          BLOB NOT NULL,
    error_summary       BLOB NOT NULL,
    received_at_ns      INTEGER NOT NULL
);
CREATE INDEX stats_start ON stats(bucket_start_ns);
CREATE INDEX stats_received ON stats(received_at_ns);

CREATE TABLE series (
    id              INTEGER PRIMARY KEY,
    metric          TEXT NOT NULL,
    type            INTEGER NOT NULL,
    timestamp_s     INTEGER NOT NULL,
    value           REAL,
    tags            TEXT NOT NULL,
    resources       TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL
);
CREATE INDEX series_received ON series(received_at_ns);

CREATE TABLE logs (
    id              INTEGER PRIMARY KEY,
    body            TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL
);
CREATE INDEX logs_received ON logs(received_at_ns);

CREATE TABLE host_metadata (
    id              INTEGER PRIMARY KEY,
    hostname        TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL
);
CREATE INDEX host_metadata_received ON host_metadata(received_at_ns);

CREATE TABLE payloads (
    id              INTEGER PRIMARY KEY,
    path            TEXT NOT NULL,
    received_at_ns  INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    error           TEXT
);
CREATE INDEX payloads_received ON payloads(received_at_ns);
"#];

pub(super) fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "database schema version {version} is newer than this intake ({SCHEMA_VERSION})"
        )));
    }
    let applied = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
