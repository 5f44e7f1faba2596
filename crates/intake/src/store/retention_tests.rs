use std::time::Duration;

use serde_json::json;

use super::fixtures::*;
use super::*;

const HOUR_NS: i64 = 3600 * 1_000_000_000;
const NO_LIMIT: u64 = u64::MAX;
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn count(store: &Store, table: &str) -> i64 {
    lock(&store.reader)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn listed(store: &Store, service: Option<&str>) -> Vec<String> {
    store
        .list_traces(&TraceQuery {
            service: service.map(str::to_string),
            limit: MAX_PAGE,
            ..Default::default()
        })
        .unwrap()
        .traces
        .into_iter()
        .map(|t| t.trace_id)
        .collect()
}

fn insert_trace(store: &Store, id: u64, received: i64) {
    let p = agent_payload(vec![tracer_payload("prod", checkout_trace(id, T0))]);
    store.insert_agent_payload(&p, received).unwrap();
}

fn insert_other_rows(store: &Store, received: i64) {
    store
        .insert_series(
            &json!({"series": [{"metric": "m", "points": [{"timestamp": 1, "value": 1.0}]}]}),
            received,
        )
        .unwrap();
    store
        .insert_logs(&json!([{"message": "x"}]), received)
        .unwrap();
    store
        .insert_host_metadata(&json!({"internalHostname": "h"}), received)
        .unwrap();
    store
        .record_payload("/api/v0.2/traces", 1, 202, None, received)
        .unwrap();
}

#[test]
fn prune_by_age_removes_what_was_received_before_the_cutoff() {
    let (_d, store) = temp_store();
    insert_trace(&store, 1, T0);
    insert_trace(&store, 2, T0 + 2 * HOUR_NS);
    // Trace 3 got a late span: its latest payload counts.
    let spans = checkout_trace(3, T0);
    let early = agent_payload(vec![tracer_payload("prod", spans[..3].to_vec())]);
    store.insert_agent_payload(&early, T0).unwrap();
    let late = agent_payload(vec![tracer_payload("prod", spans[3..].to_vec())]);
    store.insert_agent_payload(&late, T0 + 2 * HOUR_NS).unwrap();
    insert_other_rows(&store, T0);
    insert_other_rows(&store, T0 + 2 * HOUR_NS);

    let now = T0 + 2 * HOUR_NS + 1;
    let p = store
        .prune(Duration::from_secs(3600), NO_LIMIT, now)
        .unwrap();
    assert_eq!(
        p,
        Pruned {
            traces: 1,
            spans: 4,
            other_rows: 4
        }
    );
    // Same start: by trace id, descending.
    assert_eq!(listed(&store, None), ["3", "2"]);
    assert_eq!(listed(&store, Some("postgres")), ["3", "2"]);
    assert!(store.get_trace(1).unwrap().is_none());
    assert_eq!(store.get_trace(3).unwrap().unwrap().spans.len(), 4);
    assert_eq!(count(&store, "trace_services"), 6);
    let s = store.summary().unwrap();
    assert_eq!(
        (s.spans, s.traces, s.series_points, s.logs, s.host_metadata),
        (8, 2, 1, 1, 1)
    );

    // A second pass at the same time has nothing left to do.
    assert_eq!(
        store
            .prune(Duration::from_secs(3600), NO_LIMIT, now)
            .unwrap(),
        Pruned::default()
    );
}

#[test]
fn prune_by_size_removes_the_oldest_traces_first() {
    let (_d, store) = temp_store();
    let n = 300u64;
    for id in 1..=n {
        let mut spans = checkout_trace(id, T0 + id as i64 * MS);
        // Weight, so that the spans dominate the size.
        spans[0]
            .meta
            .insert("http.request.body".into(), "x".repeat(2000));
        let p = agent_payload(vec![tracer_payload("prod", spans)]);
        store.insert_agent_payload(&p, T0 + id as i64).unwrap();
    }
    let pages_before = page_count(&store);
    let before = store.summary().unwrap().db_bytes as u64;
    let limit = before / 2;
    let p = store.prune(FOREVER, limit, T0 + n as i64).unwrap();
    assert!(p.traces > 0 && p.spans == 4 * p.traces, "{p:?}");
    assert_eq!(p.other_rows, 0, "traces go first");

    let after = store.summary().unwrap();
    assert!(
        after.db_bytes as u64 <= limit,
        "{} > {limit}",
        after.db_bytes
    );
    let kept = n - p.traces as u64;
    assert!(kept > 0, "only the excess is removed");
    // Exactly the newest ones are left, with all their rows.
    let mut left: Vec<u64> = listed(&store, None)
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    left.sort_unstable();
    assert_eq!(left, (p.traces as u64 + 1..=n).collect::<Vec<_>>());
    assert_eq!(after.spans, 4 * kept as i64);
    assert_eq!(count(&store, "trace_services"), 3 * kept as i64);
    // Freed pages are given back to the file system (incremental auto-vacuum).
    assert!(page_count(&store) < pages_before);
}

#[test]
fn a_limit_below_the_schema_size_empties_everything_and_stops() {
    let (_d, store) = temp_store();
    insert_trace(&store, 1, T0);
    insert_other_rows(&store, T0);
    let p = store.prune(FOREVER, 1, T0).unwrap();
    assert_eq!((p.traces, p.spans, p.other_rows), (1, 4, 4));
    let s = store.summary().unwrap();
    assert_eq!((s.spans, s.traces, s.logs, s.series_points), (0, 0, 0, 0));
    // The store still works afterwards.
    insert_trace(&store, 2, T0);
    assert_eq!(listed(&store, None), ["2"]);
}

fn page_count(store: &Store) -> i64 {
    lock(&store.writer)
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap()
}

/// Over size, the oldest data goes first whatever its kind: metrics received before the traces
/// are removed before any trace, so the explorer does not empty while old series stay.
#[test]
fn prune_by_size_removes_the_oldest_data_of_any_kind() {
    let (_d, store) = temp_store();
    for i in 0..200 {
        let tags = vec!["x".repeat(2000)];
        store
            .insert_series(
                &json!({"series": [{"metric": "m", "tags": tags, "points": [{"timestamp": i, "value": 1.0}]}]}),
                T0 + i,
            )
            .unwrap();
    }
    for id in 1..=20 {
        insert_trace(&store, id, T0 + HOUR_NS + id as i64);
    }
    let before = store.summary().unwrap().db_bytes as u64;
    let p = store
        .prune(FOREVER, before * 3 / 4, T0 + 2 * HOUR_NS)
        .unwrap();
    assert_eq!(p.traces, 0, "{p:?}");
    assert!(p.other_rows > 0, "{p:?}");
    assert_eq!(listed(&store, None).len(), 20);
    assert!(store.summary().unwrap().db_bytes as u64 <= before * 3 / 4);
    // The WAL is truncated after the vacuum moved pages through it.
    let wal: i64 = lock(&store.writer)
        .query_row("PRAGMA wal_checkpoint", [], |r| r.get(1))
        .unwrap();
    assert_eq!(wal, 0, "WAL frames left after the pass");
}
