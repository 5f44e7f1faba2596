//! Reads behind the JSON API.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::types::Value as V;
use rusqlite::{params, params_from_iter, Connection};
use serde_json::json;

use super::retention::db_bytes;
use super::{
    lock, ns_to_ms, Facets, PayloadCount, ResourceStats, Result, ServiceStats, SpanOut, Store,
    StoreError, Summary, TraceDetail, TraceList, TraceQuery, TraceSummary,
};

/// The most rows one page of the trace list returns.
pub const MAX_PAGE: usize = 1000;

impl Store {
    /// The trace list, newest first (by trace start, then trace id), keyset-paginated: the
    /// cursor is the last row's `(start_ns, trace_id)`, so pages neither repeat nor skip rows
    /// even while new traces arrive.
    pub fn list_traces(&self, q: &TraceQuery) -> Result<TraceList> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (sql, args) = list_sql(q, limit)?;
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut traces = Vec::new();
        let mut last_key = None;
        while let Some(r) = rows.next()? {
            let trace_id: i64 = r.get(0)?;
            let start_ns: i64 = r.get(1)?;
            if traces.len() == limit {
                // The extra row only tells that there is a next page.
                let next_cursor = last_key.map(|(s, id)| format!("{s}_{id}"));
                return Ok(TraceList {
                    traces,
                    next_cursor,
                });
            }
            let services: String = r.get(8)?;
            last_key = Some((start_ns, trace_id));
            traces.push(TraceSummary {
                trace_id: (trace_id as u64).to_string(),
                start_ns: start_ns.to_string(),
                duration_ms: ns_to_ms(r.get(2)?),
                service: r.get(3)?,
                name: r.get(4)?,
                resource: r.get(5)?,
                error: r.get(6)?,
                span_count: r.get(7)?,
                services: serde_json::from_str(&services).unwrap_or_default(),
                env: r.get(9)?,
                root_span_id: (r.get::<_, i64>(10)? as u64).to_string(),
            });
        }
        Ok(TraceList {
            traces,
            next_cursor: None,
        })
    }

    /// SQLite's `EXPLAIN QUERY PLAN` of the query behind [`Store::list_traces`] for `q`, one
    /// line per step: shows which index serves a given set of filters.
    pub fn list_traces_plan(&self, q: &TraceQuery) -> Result<Vec<String>> {
        let (sql, args) = list_sql(q, q.limit.clamp(1, MAX_PAGE))?;
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let plan = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(plan)
    }

    /// Every span of one trace, by start time; `None` when the trace is unknown.
    pub fn get_trace(&self, trace_id: u64) -> Result<Option<TraceDetail>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT span_id, parent_id, service, name, resource, type, start_ns, duration_ns, error,
             meta, metrics, env, hostname, priority, origin, language, tracer_version, app_version,
             container_id
             FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id",
        )?;
        let mut rows = stmt.query([trace_id as i64])?;
        let mut spans = Vec::new();
        let (mut start, mut end) = (i64::MAX, i64::MIN);
        while let Some(r) = rows.next()? {
            let s: i64 = r.get(6)?;
            let d: i64 = r.get(7)?;
            start = start.min(s);
            end = end.max(s.saturating_add(d));
            let meta: String = r.get(9)?;
            let metrics: String = r.get(10)?;
            spans.push(SpanOut {
                span_id: (r.get::<_, i64>(0)? as u64).to_string(),
                parent_id: (r.get::<_, i64>(1)? as u64).to_string(),
                service: r.get(2)?,
                name: r.get(3)?,
                resource: r.get(4)?,
                kind: r.get(5)?,
                start_ns: s.to_string(),
                duration_ms: ns_to_ms(d),
                error: r.get(8)?,
                meta: serde_json::from_str(&meta).unwrap_or_else(|_| json!({})),
                metrics: serde_json::from_str(&metrics).unwrap_or_else(|_| json!({})),
                env: r.get(11)?,
                hostname: r.get(12)?,
                priority: r.get(13)?,
                origin: r.get(14)?,
                language: r.get(15)?,
                tracer_version: r.get(16)?,
                app_version: r.get(17)?,
                container_id: r.get(18)?,
            });
        }
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(TraceDetail {
            trace_id: trace_id.to_string(),
            start_ns: start.to_string(),
            duration_ms: ns_to_ms(end.saturating_sub(start).max(0)),
            spans,
        }))
    }

    /// Per (service, env) and per resource: hits, errors and latency percentiles merged from the
    /// stats rows whose bucket starts in `[from_ns, to_ns]`.
    pub fn services(&self, from_ns: Option<i64>, to_ns: Option<i64>) -> Result<Vec<ServiceStats>> {
        #[derive(Default)]
        struct Acc {
            hits: u64,
            errors: u64,
            top_level_hits: u64,
            /// `(latency ns, weight)` of every sketch bin, ok and error alike.
            bins: Vec<(f64, f64)>,
        }
        type Resources = BTreeMap<(String, String), Acc>;
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT service, env, resource, name, hits, errors, top_level_hits, ok_summary,
             error_summary
             FROM stats WHERE bucket_start_ns >= ?1 AND bucket_start_ns <= ?2",
        )?;
        let mut rows = stmt.query(params![
            from_ns.unwrap_or(i64::MIN),
            to_ns.unwrap_or(i64::MAX)
        ])?;
        let mut svcs: BTreeMap<(String, String), (Acc, Resources)> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let service: String = r.get(0)?;
            let env: String = r.get(1)?;
            let resource: String = r.get(2)?;
            let name: String = r.get(3)?;
            let hits = r.get::<_, i64>(4)?.max(0) as u64;
            let errors = r.get::<_, i64>(5)?.max(0) as u64;
            let top = r.get::<_, i64>(6)?.max(0) as u64;
            let mut bins = Vec::new();
            for col in [7, 8] {
                let bytes: Vec<u8> = r.get(col)?;
                // An undecodable sketch only costs its percentiles, not the counts.
                if let Some(sk) = libdd_ddsketch::DDSketch::from_encoded(&bytes) {
                    bins.extend(sk.ordered_bins().into_iter().filter(|(_, w)| *w > 0.0));
                }
            }
            let (sacc, res) = svcs.entry((service, env)).or_default();
            for acc in [&mut *sacc, res.entry((resource, name)).or_default()] {
                acc.hits += hits;
                acc.errors += errors;
                acc.top_level_hits += top;
                acc.bins.extend_from_slice(&bins);
            }
        }
        let pct = |bins: &mut Vec<(f64, f64)>| -> [Option<f64>; 3] {
            bins.sort_by(|a, b| a.0.total_cmp(&b.0));
            [0.5, 0.95, 0.99].map(|q| quantile(bins, q).map(|ns| ns / 1e6))
        };
        let mut out = Vec::new();
        for ((service, env), (mut acc, res)) in svcs {
            let [p50, p95, p99] = pct(&mut acc.bins);
            let mut resources: Vec<ResourceStats> = res
                .into_iter()
                .map(|((resource, name), mut r)| {
                    let [p50, p95, p99] = pct(&mut r.bins);
                    ResourceStats {
                        resource,
                        name,
                        hits: r.hits,
                        errors: r.errors,
                        p50_ms: p50,
                        p95_ms: p95,
                        p99_ms: p99,
                    }
                })
                .collect();
            resources.sort_by(|a, b| {
                b.hits
                    .cmp(&a.hits)
                    .then_with(|| a.resource.cmp(&b.resource))
            });
            out.push(ServiceStats {
                service,
                env,
                hits: acc.hits,
                errors: acc.errors,
                top_level_hits: acc.top_level_hits,
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
                resources,
            });
        }
        Ok(out)
    }

    /// Distinct services and envs seen in traces and stats, sorted.
    pub fn facets(&self) -> Result<Facets> {
        let conn = lock(&self.reader);
        let mut services = distinct(&conn, "SELECT DISTINCT service FROM trace_services")?;
        services.extend(distinct(&conn, "SELECT DISTINCT service FROM stats")?);
        let mut envs = distinct(&conn, "SELECT DISTINCT env FROM traces")?;
        envs.extend(distinct(&conn, "SELECT DISTINCT env FROM stats")?);
        services.remove("");
        envs.remove("");
        Ok(Facets {
            services: services.into_iter().collect(),
            envs: envs.into_iter().collect(),
        })
    }

    /// Row counts, payloads by path and status, and the database size.
    pub fn summary(&self) -> Result<Summary> {
        let conn = lock(&self.reader);
        let count = |t: &str| -> Result<i64> {
            Ok(conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?)
        };
        let mut stmt = conn.prepare_cached(
            // total(): a float, which cannot overflow as sum() can on huge declared sizes.
            "SELECT path, status, count(*), CAST(min(total(bytes), 9.0e18) AS INTEGER) FROM payloads
             GROUP BY path, status ORDER BY path, status",
        )?;
        let payloads = stmt
            .query_map([], |r| {
                Ok(PayloadCount {
                    path: r.get(0)?,
                    status: r.get(1)?,
                    count: r.get(2)?,
                    bytes: r.get(3)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Summary {
            spans: count("spans")?,
            traces: count("traces")?,
            stats_rows: count("stats")?,
            series_points: count("series")?,
            logs: count("logs")?,
            host_metadata: count("host_metadata")?,
            payload_bytes: payloads.iter().fold(0i64, |a, p| a.saturating_add(p.bytes)),
            payloads,
            db_bytes: db_bytes(&conn)?,
        })
    }
}

fn distinct(conn: &Connection, sql: &str) -> Result<BTreeSet<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let v = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<std::result::Result<BTreeSet<String>, _>>()?;
    Ok(v)
}

/// The SQL and arguments of one page of [`Store::list_traces`] (`limit + 1` rows: the extra one
/// says whether there is a next page).
///
/// With a service filter the query is driven by `trace_services`, whose primary key is
/// `(service, start_ns, trace_id)`: the page is an index range in the requested order.
/// `CROSS JOIN` keeps SQLite from putting `traces` in the outer loop, which would need a sort
/// of every match.
fn list_sql(q: &TraceQuery, limit: usize) -> Result<(String, Vec<V>)> {
    let service = q.service.as_deref().filter(|s| !s.is_empty());
    let (from, k) = if service.is_some() {
        (
            "trace_services k CROSS JOIN traces t ON t.trace_id = k.trace_id",
            "k",
        )
    } else {
        ("traces t", "t")
    };
    let mut sql = format!(
        "SELECT t.trace_id, t.start_ns, t.duration_ns, t.service, t.name, t.resource, t.error,
         t.span_count, t.services, t.env, t.root_span_id FROM {from} WHERE 1=1"
    );
    let mut args: Vec<V> = Vec::new();
    if let Some(s) = service {
        sql.push_str(" AND k.service = ?");
        args.push(V::Text(s.to_string()));
    }
    if let Some(e) = q.env.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND t.env = ?");
        args.push(V::Text(e.to_string()));
    }
    if let Some(text) = q.q.as_deref().filter(|s| !s.is_empty()) {
        // SQLite's lower() folds ASCII only; so does this, so both sides agree.
        sql.push_str(" AND (instr(lower(t.resource), ?) > 0 OR instr(lower(t.name), ?) > 0)");
        let needle = text.to_ascii_lowercase();
        args.push(V::Text(needle.clone()));
        args.push(V::Text(needle));
    }
    if q.errors_only {
        sql.push_str(" AND t.error = 1");
    }
    if let Some(d) = q.min_duration_ns {
        sql.push_str(" AND t.duration_ns >= ?");
        args.push(V::Integer(d));
    }
    if let Some(f) = q.from_ns {
        sql.push_str(&format!(" AND {k}.start_ns >= ?"));
        args.push(V::Integer(f));
    }
    if let Some(t) = q.to_ns {
        sql.push_str(&format!(" AND {k}.start_ns <= ?"));
        args.push(V::Integer(t));
    }
    if let Some(c) = q.cursor.as_deref().filter(|s| !s.is_empty()) {
        let (start, id) =
            parse_cursor(c).ok_or_else(|| StoreError(format!("invalid cursor {c:?}")))?;
        sql.push_str(&format!(" AND ({k}.start_ns, {k}.trace_id) < (?, ?)"));
        args.push(V::Integer(start));
        args.push(V::Integer(id));
    }
    sql.push_str(&format!(
        " ORDER BY {k}.start_ns DESC, {k}.trace_id DESC LIMIT ?"
    ));
    args.push(V::Integer(limit as i64 + 1));
    Ok((sql, args))
}

/// `"<start_ns>_<trace_id>"`, both as stored (signed).
pub fn parse_cursor(c: &str) -> Option<(i64, i64)> {
    let (a, b) = c.split_once('_')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Value at quantile `q` of sorted `(value, weight)` bins, ranked as DDSketch does
/// (`q * (count - 1)`).
pub(super) fn quantile(bins: &[(f64, f64)], q: f64) -> Option<f64> {
    let total: f64 = bins.iter().map(|b| b.1).sum();
    if total <= 0.0 {
        return None;
    }
    let rank = q * (total - 1.0);
    let mut acc = 0.0;
    for (v, w) in bins {
        acc += w;
        if acc > rank {
            return Some(*v);
        }
    }
    bins.last().map(|b| b.0)
}
