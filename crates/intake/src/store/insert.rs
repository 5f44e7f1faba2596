//! Writes: one transaction per payload, so a payload is either stored whole or not at all.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use libdd_trace_protobuf::pb;
use rusqlite::{params, Transaction};
use serde_json::{json, Value};

use super::{lock, Result, Store, StoreError};

impl Store {
    /// Stores every span of `payload` and updates the `traces` rows they touch, in one
    /// transaction. A span sent again (same trace and span id: a retried payload) replaces the
    /// stored one. Returns the number of spans stored.
    pub fn insert_agent_payload(
        &self,
        payload: &pb::AgentPayload,
        received_at_ns: i64,
    ) -> Result<usize> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut touched: BTreeSet<i64> = BTreeSet::new();
        let mut n = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO spans (trace_id, span_id, parent_id, service, name, resource,
                 type, start_ns, duration_ns, error, env, hostname, meta, metrics, priority, origin,
                 language, tracer_version, container_id, app_version, agent_version, received_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22)",
            )?;
            for tp in &payload.tracer_payloads {
                let hostname = if tp.hostname.is_empty() {
                    &payload.host_name
                } else {
                    &tp.hostname
                };
                for chunk in &tp.chunks {
                    for s in &chunk.spans {
                        // The agent's precedence: the tracer payload's env, else the span's
                        // `env` tag, else the agent's own env.
                        let env = if !tp.env.is_empty() {
                            tp.env.as_str()
                        } else if let Some(e) = s.meta.get("env").filter(|e| !e.is_empty()) {
                            e.as_str()
                        } else {
                            payload.env.as_str()
                        };
                        // Sorted keys: the stored JSON is stable, whatever the map's order.
                        let meta: BTreeMap<&String, &String> = s.meta.iter().collect();
                        let metrics: BTreeMap<&String, &f64> = s.metrics.iter().collect();
                        let trace_id = s.trace_id as i64;
                        ins.execute(params![
                            trace_id,
                            s.span_id as i64,
                            s.parent_id as i64,
                            s.service,
                            s.name,
                            s.resource,
                            s.r#type,
                            s.start,
                            s.duration,
                            s.error != 0,
                            env,
                            hostname,
                            to_json(&meta)?,
                            to_json(&metrics)?,
                            chunk.priority,
                            chunk.origin,
                            tp.language_name,
                            tp.tracer_version,
                            tp.container_id,
                            tp.app_version,
                            payload.agent_version,
                            received_at_ns,
                        ])?;
                        touched.insert(trace_id);
                        n += 1;
                    }
                }
            }
        }
        for trace_id in touched {
            refresh_trace(&tx, trace_id, received_at_ns)?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Stores one row per `ClientGroupedStats` of `payload`, in one transaction.
    pub fn insert_stats_payload(
        &self,
        payload: &pb::StatsPayload,
        received_at_ns: i64,
    ) -> Result<usize> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut n = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO stats (bucket_start_ns, bucket_duration_ns, hostname, env, version,
                 service, name, resource, type, http_status_code, span_kind, is_trace_root,
                 synthetics, hits, errors, top_level_hits, duration_ns, ok_summary, error_summary,
                 received_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20)",
            )?;
            for client in &payload.stats {
                let hostname = if client.hostname.is_empty() {
                    &payload.agent_hostname
                } else {
                    &client.hostname
                };
                let env = if client.env.is_empty() {
                    &payload.agent_env
                } else {
                    &client.env
                };
                for bucket in &client.stats {
                    for g in &bucket.stats {
                        ins.execute(params![
                            clamp_u64(bucket.start),
                            clamp_u64(bucket.duration),
                            hostname,
                            env,
                            client.version,
                            g.service,
                            g.name,
                            g.resource,
                            g.r#type,
                            g.http_status_code,
                            g.span_kind,
                            g.is_trace_root,
                            g.synthetics,
                            clamp_u64(g.hits),
                            clamp_u64(g.errors),
                            clamp_u64(g.top_level_hits),
                            clamp_u64(g.duration),
                            g.ok_summary,
                            g.error_summary,
                            received_at_ns,
                        ])?;
                        n += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Stores the points of a v2 series body (`{"series":[{metric,type,points,tags,resources}]}`).
    pub fn insert_series(&self, body: &Value, received_at_ns: i64) -> Result<usize> {
        let series = body
            .get("series")
            .and_then(Value::as_array)
            .ok_or_else(|| StoreError("series body has no \"series\" array".into()))?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut n = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO series (metric, type, timestamp_s, value, tags, resources,
                 received_at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for s in series {
                let metric = s.get("metric").and_then(Value::as_str).unwrap_or_default();
                let kind = s.get("type").and_then(Value::as_i64).unwrap_or(0);
                let tags = s.get("tags").cloned().unwrap_or_else(|| json!([]));
                let resources = s.get("resources").cloned().unwrap_or_else(|| json!([]));
                let points = s.get("points").and_then(Value::as_array);
                for p in points.into_iter().flatten() {
                    ins.execute(params![
                        metric,
                        kind,
                        p.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
                        p.get("value").and_then(Value::as_f64),
                        tags.to_string(),
                        resources.to_string(),
                        received_at_ns,
                    ])?;
                    n += 1;
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Stores each entry of a logs body (a JSON array, or one object).
    pub fn insert_logs(&self, body: &Value, received_at_ns: i64) -> Result<usize> {
        let entries: &[Value] = match body {
            Value::Array(a) => a,
            one => std::slice::from_ref(one),
        };
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut ins =
                tx.prepare_cached("INSERT INTO logs (body, received_at_ns) VALUES (?1, ?2)")?;
            for e in entries {
                ins.execute(params![e.to_string(), received_at_ns])?;
            }
        }
        tx.commit()?;
        Ok(entries.len())
    }

    /// Stores one host metadata body.
    pub fn insert_host_metadata(&self, body: &Value, received_at_ns: i64) -> Result<()> {
        let hostname = body
            .get("internalHostname")
            .and_then(Value::as_str)
            .or_else(|| body.pointer("/meta/hostname").and_then(Value::as_str))
            .unwrap_or_default();
        lock(&self.writer).execute(
            "INSERT INTO host_metadata (hostname, body, received_at_ns) VALUES (?1, ?2, ?3)",
            params![hostname, body.to_string(), received_at_ns],
        )?;
        Ok(())
    }

    /// Logs one request to an intake endpoint (accepted or not).
    pub fn record_payload(
        &self,
        path: &str,
        bytes: usize,
        status: u16,
        error: Option<&str>,
        received_at_ns: i64,
    ) -> Result<()> {
        lock(&self.writer).execute(
            "INSERT INTO payloads (path, received_at_ns, bytes, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                path,
                received_at_ns,
                i64::try_from(bytes).unwrap_or(i64::MAX),
                status,
                error
            ],
        )?;
        Ok(())
    }
}

fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError(format!("cannot encode JSON: {e}")))
}

/// Counters beyond `i64::MAX` cannot be stored as SQLite integers; they are not meaningful
/// either, so they saturate rather than wrap negative.
fn clamp_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Recomputes the `traces` row (and the `trace_services` rows) of `trace_id` from its spans.
fn refresh_trace(tx: &Transaction<'_>, trace_id: i64, received_at_ns: i64) -> Result<()> {
    struct S {
        span_id: i64,
        parent_id: i64,
        service: String,
        name: String,
        resource: String,
        start: i64,
        duration: i64,
        error: bool,
        env: String,
    }
    let spans: Vec<S> = {
        let mut stmt = tx.prepare_cached(
            "SELECT span_id, parent_id, service, name, resource, start_ns, duration_ns, error, env
             FROM spans WHERE trace_id = ?1",
        )?;
        let v = stmt
            .query_map([trace_id], |r| {
                Ok(S {
                    span_id: r.get(0)?,
                    parent_id: r.get(1)?,
                    service: r.get(2)?,
                    name: r.get(3)?,
                    resource: r.get(4)?,
                    start: r.get(5)?,
                    duration: r.get(6)?,
                    error: r.get(7)?,
                    env: r.get(8)?,
                })
            })?
            .collect::<std::result::Result<Vec<S>, _>>()?;
        v
    };
    let ids: HashSet<i64> = spans.iter().map(|s| s.span_id).collect();
    // Root: a span without parent, else one whose parent is not (yet) here, so that a trace
    // whose root arrives in a later payload still has a meaningful row meanwhile; among equals
    // the earliest start wins.
    let rank = |s: &S| -> u8 {
        if s.parent_id == 0 {
            0
        } else if !ids.contains(&s.parent_id) {
            1
        } else {
            2
        }
    };
    let Some(root) = spans.iter().min_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(a.start.cmp(&b.start))
            .then(a.span_id.cmp(&b.span_id))
    }) else {
        return Ok(());
    };
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.start.saturating_add(s.duration))
        .max()
        .unwrap_or(start)
        .max(start);
    // The root's service first, then the others in order of first appearance.
    let mut ordered: Vec<&S> = spans.iter().collect();
    ordered.sort_by_key(|s| (s.start, s.span_id));
    let mut seen = HashSet::new();
    let services: Vec<&str> = std::iter::once(root)
        .chain(ordered)
        .map(|s| s.service.as_str())
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .collect();
    let env = if root.env.is_empty() {
        spans
            .iter()
            .find(|s| !s.env.is_empty())
            .map(|s| s.env.as_str())
            .unwrap_or("")
    } else {
        root.env.as_str()
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO traces (trace_id, start_ns, end_ns, duration_ns, root_span_id,
         service, name, resource, error, span_count, services, env, received_at_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        trace_id,
        start,
        end,
        end.saturating_sub(start),
        root.span_id,
        root.service,
        root.name,
        root.resource,
        spans.iter().any(|s| s.error),
        spans.len() as i64,
        to_json(&services)?,
        env,
        received_at_ns,
    ])?;
    tx.prepare_cached("DELETE FROM trace_services WHERE trace_id = ?1")?
        .execute([trace_id])?;
    let mut ins = tx.prepare_cached(
        "INSERT INTO trace_services (service, start_ns, trace_id) VALUES (?1, ?2, ?3)",
    )?;
    for s in services {
        ins.execute(params![s, start, trace_id])?;
    }
    Ok(())
}
