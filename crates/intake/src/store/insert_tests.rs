use std::collections::HashMap;

use serde_json::json;

use super::fixtures::*;
use super::*;

fn summary_row(store: &Store, trace_id: u64) -> TraceSummary {
    let list = store
        .list_traces(&TraceQuery {
            limit: MAX_PAGE,
            ..Default::default()
        })
        .unwrap();
    list.traces
        .into_iter()
        .find(|t| t.trace_id == trace_id.to_string())
        .unwrap_or_else(|| panic!("trace {trace_id} listed"))
}

#[test]
fn every_span_is_stored_with_its_fields() {
    let (_d, store) = temp_store();
    // Above i64::MAX: ids are bit-cast for SQLite and must come back unchanged.
    let trace_id = u64::MAX - 7;
    let spans = checkout_trace(trace_id, T0);
    let p = agent_payload(vec![tracer_payload("prod", spans.clone())]);
    assert_eq!(store.insert_agent_payload(&p, T0).unwrap(), 4);

    let t = store.get_trace(trace_id).unwrap().expect("trace stored");
    assert_eq!(t.trace_id, trace_id.to_string());
    assert_eq!(t.start_ns, T0.to_string());
    assert_eq!(t.duration_ms, 125.0);
    assert_eq!(t.spans.len(), 4);
    for (got, want) in t.spans.iter().zip(&spans) {
        assert_eq!(got.span_id, want.span_id.to_string());
        assert_eq!(got.parent_id, want.parent_id.to_string());
        assert_eq!(got.service, want.service);
        assert_eq!(got.name, want.name);
        assert_eq!(got.resource, want.resource);
        assert_eq!(got.kind, want.r#type);
        assert_eq!(got.start_ns, want.start.to_string());
        assert_eq!(got.duration_ms, want.duration as f64 / 1e6);
        assert_eq!(got.error, want.error != 0);
        let meta: HashMap<String, String> = serde_json::from_value(got.meta.clone()).unwrap();
        assert_eq!(meta, want.meta);
        let metrics: HashMap<String, f64> = serde_json::from_value(got.metrics.clone()).unwrap();
        assert_eq!(metrics, want.metrics);
        assert_eq!(got.env, "prod");
        assert_eq!(got.hostname, "web-1");
        assert_eq!(got.priority, 1);
        assert_eq!(got.origin, "lambda");
        assert_eq!(got.language, "python");
        assert_eq!(got.tracer_version, "otel-1.27.0");
        assert_eq!(got.app_version, "1.4.2");
        assert_eq!(got.container_id, "c0ffee");
    }
    assert!(store.get_trace(12345).unwrap().is_none());
}

#[test]
fn traces_row_aggregates_its_spans() {
    let (_d, store) = temp_store();
    let p = agent_payload(vec![tracer_payload("prod", checkout_trace(7, T0))]);
    store.insert_agent_payload(&p, T0).unwrap();
    let row = summary_row(&store, 7);
    assert_eq!(
        row,
        TraceSummary {
            trace_id: "7".into(),
            start_ns: T0.to_string(),
            // The last span ends after the root: the trace lasts until then.
            duration_ms: 125.0,
            service: "web-frontend".into(),
            name: "flask.request".into(),
            resource: "GET /checkout".into(),
            // Only the db span failed.
            error: true,
            span_count: 4,
            services: vec!["web-frontend".into(), "cart".into(), "postgres".into()],
            env: "prod".into(),
            root_span_id: (7 * 16 + 1).to_string(),
        }
    );
}

#[test]
fn a_trace_spread_over_payloads_is_recomputed() {
    let (_d, store) = temp_store();
    let spans = checkout_trace(9, T0);
    // Children first, as when the root span ends (and is exported) last.
    let first = agent_payload(vec![tracer_payload("prod", spans[1..3].to_vec())]);
    store.insert_agent_payload(&first, T0).unwrap();
    let row = summary_row(&store, 9);
    assert_eq!(
        row.service, "cart",
        "the orphan span stands in for the root"
    );
    assert_eq!(row.span_count, 2);
    assert_eq!(row.start_ns, (T0 + 10 * MS).to_string());

    let second = agent_payload(vec![tracer_payload(
        "prod",
        vec![spans[0].clone(), spans[3].clone()],
    )]);
    store.insert_agent_payload(&second, T0 + 1).unwrap();
    let row = summary_row(&store, 9);
    assert_eq!(row.service, "web-frontend");
    assert_eq!(row.resource, "GET /checkout");
    assert_eq!(row.span_count, 4);
    assert_eq!(row.start_ns, T0.to_string());
    assert_eq!(row.duration_ms, 125.0);
    assert_eq!(row.services, ["web-frontend", "cart", "postgres"]);
    // The service index follows the new start: the trace is found by service and time.
    for svc in ["web-frontend", "cart", "postgres"] {
        let l = store
            .list_traces(&TraceQuery {
                service: Some(svc.into()),
                to_ns: Some(T0),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(l.traces.len(), 1, "{svc}");
    }
}

#[test]
fn a_retried_payload_replaces_instead_of_duplicating() {
    let (_d, store) = temp_store();
    let p = agent_payload(vec![tracer_payload("prod", checkout_trace(3, T0))]);
    store.insert_agent_payload(&p, T0).unwrap();
    store.insert_agent_payload(&p, T0 + 5).unwrap();
    let s = store.summary().unwrap();
    assert_eq!((s.spans, s.traces), (4, 1));
    assert_eq!(summary_row(&store, 3).span_count, 4);
}

#[test]
fn env_comes_from_the_tracer_payload_then_the_span_then_the_agent() {
    let (_d, store) = temp_store();
    let mut tagged = span(1, 1, 0, "a", "op", "r", T0, MS, false);
    tagged.meta.insert("env".into(), "staging".into());
    let mut untagged = span(2, 2, 0, "a", "op", "r", T0, MS, false);
    untagged.meta.remove("env");
    let p = agent_payload(vec![
        tracer_payload("prod", vec![span(3, 3, 0, "a", "op", "r", T0, MS, false)]),
        tracer_payload("", vec![tagged]),
        tracer_payload("", vec![untagged]),
    ]);
    store.insert_agent_payload(&p, T0).unwrap();
    assert_eq!(summary_row(&store, 3).env, "prod");
    assert_eq!(summary_row(&store, 1).env, "staging");
    assert_eq!(summary_row(&store, 2).env, "none");
    let f = store.facets().unwrap();
    assert_eq!(f.envs, ["none", "prod", "staging"]);
    assert_eq!(f.services, ["a"]);
}

#[test]
fn series_logs_and_host_metadata_are_counted() {
    let (_d, store) = temp_store();
    let series = json!({"series": [
        {"metric": "otel.datadog_exporter.traces.running", "type": 3,
         "points": [{"timestamp": 1700000000, "value": 1.0}, {"timestamp": 1700000010, "value": 1.0}],
         "tags": ["version:0.1.0"], "resources": [{"name": "h", "type": "host"}]}
    ]});
    assert_eq!(store.insert_series(&series, T0).unwrap(), 2);
    assert!(store.insert_series(&json!({}), T0).is_err());
    assert_eq!(
        store.insert_logs(&json!([{"m": 1}, {"m": 2}]), T0).unwrap(),
        2
    );
    assert_eq!(store.insert_logs(&json!({"m": 3}), T0).unwrap(), 1);
    store
        .insert_host_metadata(&json!({"internalHostname": "h", "meta": {}}), T0)
        .unwrap();
    store
        .record_payload("/api/v0.2/traces", 100, 202, None, T0)
        .unwrap();
    store
        .record_payload("/api/v0.2/traces", 50, 400, Some("bad"), T0)
        .unwrap();
    store
        .record_payload("/api/v0.2/traces", 10, 202, None, T0)
        .unwrap();
    let s = store.summary().unwrap();
    assert_eq!((s.series_points, s.logs, s.host_metadata), (2, 3, 1));
    let counts: Vec<_> = s
        .payloads
        .iter()
        .map(|p| (p.path.as_str(), p.status, p.count, p.bytes))
        .collect();
    assert_eq!(
        counts,
        [
            ("/api/v0.2/traces", 202, 2, 110),
            ("/api/v0.2/traces", 400, 1, 50)
        ]
    );
    assert_eq!(s.payload_bytes, 160);
    assert!(s.db_bytes > 0);
}

#[test]
fn reopening_keeps_data_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = agent_payload(vec![tracer_payload("prod", checkout_trace(5, T0))]);
        store.insert_agent_payload(&p, T0).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.get_trace(5).unwrap().unwrap().spans.len(), 4);
    let conn = lock(&store.writer);
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "incremental auto-vacuum");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.0.contains("newer"), "{err}");
}
