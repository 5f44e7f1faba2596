use std::collections::HashSet;

use libdd_ddsketch::DDSketch;
use libdd_trace_protobuf::pb;

use super::fixtures::*;
use super::query::quantile;
use super::*;

/// What the tests expect of one stored trace.
#[derive(Debug, Clone)]
struct Expect {
    id: u64,
    start: i64,
    services: Vec<&'static str>,
    env: &'static str,
    error: bool,
    duration: i64,
    resource: String,
}

/// 57 two-span traces: starts in groups of three equal values (ties are ordered by trace id),
/// ids in scrambled order and some above `i64::MAX`; a `postgres` child in every third trace.
fn dataset(store: &Store) -> Vec<Expect> {
    const SERVICES: [&str; 3] = ["web-frontend", "cart", "payments"];
    const RESOURCES: [&str; 4] = [
        "GET /users/{id}",
        "POST /Checkout",
        "GET /cart",
        "DELETE /session",
    ];
    let mut out = Vec::new();
    let mut tps = Vec::new();
    for i in 0..57u64 {
        let id = if i % 4 == 0 {
            u64::MAX - i * 1000
        } else {
            (i * 7919) % 1009 + 1
        };
        let start = T0 + (i as i64 / 3) * MS;
        let service = SERVICES[i as usize % 3];
        let env = if i % 2 == 0 { "prod" } else { "staging" };
        let error = i % 5 == 0;
        let resource = format!("{} #{i}", RESOURCES[i as usize % 4]);
        let mut spans = vec![span(
            id,
            1,
            0,
            service,
            "http.request",
            &resource,
            start,
            (i as i64 % 10 + 1) * 10 * MS,
            error,
        )];
        let mut services = vec![service];
        if i % 3 == 1 {
            spans.push(span(
                id,
                2,
                1,
                "postgres",
                "postgres.query",
                "SELECT 1",
                start + MS,
                MS,
                false,
            ));
            services.push("postgres");
        }
        out.push(Expect {
            id,
            start,
            services,
            env,
            error,
            duration: (i as i64 % 10 + 1) * 10 * MS,
            resource,
        });
        tps.push(tracer_payload(env, spans));
    }
    store.insert_agent_payload(&agent_payload(tps), T0).unwrap();
    // Newest first; ties by trace id as stored (signed), descending.
    out.sort_by_key(|e| std::cmp::Reverse((e.start, e.id as i64)));
    out
}

fn ids(l: &TraceList) -> Vec<u64> {
    l.traces
        .iter()
        .map(|t| t.trace_id.parse().unwrap())
        .collect()
}

fn all(store: &Store, q: &TraceQuery) -> Vec<u64> {
    let mut q = q.clone();
    q.limit = MAX_PAGE;
    let l = store.list_traces(&q).unwrap();
    assert!(l.next_cursor.is_none());
    ids(&l)
}

#[test]
fn filters_select_exactly_the_matching_traces() {
    let (_d, store) = temp_store();
    let data = dataset(&store);
    let want = |f: &dyn Fn(&Expect) -> bool| -> Vec<u64> {
        data.iter().filter(|e| f(e)).map(|e| e.id).collect()
    };
    let q = TraceQuery::default;
    let cases: Vec<(&str, TraceQuery, Vec<u64>)> = vec![
        ("none", q(), want(&|_| true)),
        (
            "root service",
            TraceQuery {
                service: Some("cart".into()),
                ..q()
            },
            want(&|e| e.services.contains(&"cart")),
        ),
        (
            "child service",
            TraceQuery {
                service: Some("postgres".into()),
                ..q()
            },
            want(&|e| e.services.contains(&"postgres")),
        ),
        (
            "unknown service",
            TraceQuery {
                service: Some("nope".into()),
                ..q()
            },
            vec![],
        ),
        (
            "env",
            TraceQuery {
                env: Some("staging".into()),
                ..q()
            },
            want(&|e| e.env == "staging"),
        ),
        (
            "q is a case-insensitive substring",
            TraceQuery {
                q: Some("checkOUT".into()),
                ..q()
            },
            want(&|e| e.resource.to_lowercase().contains("checkout")),
        ),
        (
            "q matches the name too",
            TraceQuery {
                q: Some("HTTP.REQ".into()),
                ..q()
            },
            want(&|_| true),
        ),
        (
            "errors only",
            TraceQuery {
                errors_only: true,
                ..q()
            },
            want(&|e| e.error),
        ),
        (
            "min duration",
            TraceQuery {
                min_duration_ns: Some(70 * MS),
                ..q()
            },
            want(&|e| e.duration >= 70 * MS),
        ),
        (
            "time range, inclusive",
            TraceQuery {
                from_ns: Some(T0 + 3 * MS),
                to_ns: Some(T0 + 9 * MS),
                ..q()
            },
            want(&|e| (T0 + 3 * MS..=T0 + 9 * MS).contains(&e.start)),
        ),
        (
            "service + errors + time",
            TraceQuery {
                service: Some("web-frontend".into()),
                errors_only: true,
                from_ns: Some(T0 + 5 * MS),
                ..q()
            },
            want(&|e| e.services.contains(&"web-frontend") && e.error && e.start >= T0 + 5 * MS),
        ),
        (
            "env + q + min duration",
            TraceQuery {
                env: Some("prod".into()),
                q: Some("get".into()),
                min_duration_ns: Some(50 * MS),
                ..q()
            },
            want(&|e| e.env == "prod" && e.resource.starts_with("GET") && e.duration >= 50 * MS),
        ),
    ];
    for (name, query, expected) in cases {
        assert_eq!(all(&store, &query), expected, "{name}");
    }
    // The filters are not vacuous on this data set.
    assert!(want(&|e| e.error).len() > 5);
    assert!(want(&|e| e.services.contains(&"postgres")).len() > 5);
}

#[test]
fn pages_are_newest_first_without_duplicates_or_gaps() {
    let (_d, store) = temp_store();
    let data = dataset(&store);
    for (name, base) in [
        ("no filter", TraceQuery::default()),
        (
            "service filter",
            TraceQuery {
                service: Some("postgres".into()),
                ..Default::default()
            },
        ),
        (
            "errors",
            TraceQuery {
                errors_only: true,
                ..Default::default()
            },
        ),
    ] {
        let expected = all(&store, &base);
        let mut got = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_traces(&TraceQuery {
                    limit: 4,
                    cursor: cursor.clone(),
                    ..base.clone()
                })
                .unwrap();
            assert!(page.traces.len() <= 4);
            got.extend(ids(&page));
            pages += 1;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            pages,
            expected.len().div_ceil(4).max(1),
            "{name}: no empty last page"
        );
        let unique: HashSet<_> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "{name}");
    }
    let starts: Vec<i64> = data.iter().map(|e| e.start).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn paging_is_stable_while_newer_traces_arrive() {
    let (_d, store) = temp_store();
    let data = dataset(&store);
    let first = store
        .list_traces(&TraceQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    // Newer than everything listed so far.
    let p = agent_payload(vec![tracer_payload(
        "prod",
        checkout_trace(424242, T0 + 3600 * 1000 * MS),
    )]);
    store.insert_agent_payload(&p, T0).unwrap();
    let second = store
        .list_traces(&TraceQuery {
            limit: 10,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .unwrap();
    let got: Vec<u64> = ids(&first).into_iter().chain(ids(&second)).collect();
    let want: Vec<u64> = data.iter().take(20).map(|e| e.id).collect();
    assert_eq!(got, want);
}

#[test]
fn limit_is_clamped_and_a_bad_cursor_is_an_error() {
    let (_d, store) = temp_store();
    dataset(&store);
    let l = store
        .list_traces(&TraceQuery {
            limit: 0,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(l.traces.len(), 1);
    assert!(l.next_cursor.is_some());
    assert!(store
        .list_traces(&TraceQuery {
            cursor: Some("x_1".into()),
            ..Default::default()
        })
        .is_err());
    assert_eq!(parse_cursor("123_-5"), Some((123, -5)));
    assert_eq!(parse_cursor("123"), None);
}

/// Every list query walks an index in the requested order: no full scan of a table and no
/// sort of all matches (`USE TEMP B-TREE FOR ORDER BY`).
#[test]
fn list_queries_use_indexes() {
    let (_d, store) = temp_store();
    dataset(&store);
    let q = TraceQuery::default;
    let svc = || Some("cart".to_string());
    let cursor = || Some(format!("{}_{}", T0 + 5 * MS, 17));
    let variants = [
        q(),
        TraceQuery {
            cursor: cursor(),
            ..q()
        },
        TraceQuery {
            service: svc(),
            ..q()
        },
        TraceQuery {
            service: svc(),
            cursor: cursor(),
            ..q()
        },
        TraceQuery {
            service: svc(),
            errors_only: true,
            q: Some("x".into()),
            ..q()
        },
        TraceQuery {
            env: Some("prod".into()),
            cursor: cursor(),
            ..q()
        },
        TraceQuery {
            errors_only: true,
            cursor: cursor(),
            ..q()
        },
        TraceQuery {
            q: Some("checkout".into()),
            ..q()
        },
        TraceQuery {
            min_duration_ns: Some(MS),
            ..q()
        },
        TraceQuery {
            from_ns: Some(T0),
            to_ns: Some(T0 + MS),
            ..q()
        },
        TraceQuery {
            service: svc(),
            from_ns: Some(T0),
            to_ns: Some(T0 + MS),
            ..q()
        },
    ];
    for v in variants {
        let plan = store.list_traces_plan(&v).unwrap();
        let text = plan.join(" | ");
        assert!(!text.contains("TEMP B-TREE"), "{v:?}: {text}");
        for step in &plan {
            assert!(
                step.contains("INDEX") || step.contains("PRIMARY KEY"),
                "{v:?}: step {step:?} of {text}"
            );
        }
        if v.service.is_some() {
            assert!(
                text.contains("SEARCH k USING PRIMARY KEY (service=?"),
                "{v:?}: {text}"
            );
        }
        if v.errors_only && v.service.is_none() {
            assert!(text.contains("traces_error_start"), "{v:?}: {text}");
        }
        if v.env.is_some() {
            assert!(text.contains("traces_env_start"), "{v:?}: {text}");
        }
    }
}

/// A latency sketch as the exporter's concentrator builds it (durations in ns).
fn sketch(durations_ms: impl IntoIterator<Item = f64>) -> Vec<u8> {
    let mut s = DDSketch::default();
    for d in durations_ms {
        s.add(d * 1e6).unwrap();
    }
    s.encode_to_vec()
}

fn grouped(
    service: &str,
    resource: &str,
    ok_ms: Vec<f64>,
    err_ms: Vec<f64>,
) -> pb::ClientGroupedStats {
    pb::ClientGroupedStats {
        service: service.into(),
        name: "http.request".into(),
        resource: resource.into(),
        r#type: "web".into(),
        hits: (ok_ms.len() + err_ms.len()) as u64,
        errors: err_ms.len() as u64,
        top_level_hits: (ok_ms.len() + err_ms.len()) as u64,
        duration: (ok_ms.iter().chain(&err_ms).sum::<f64>() * 1e6) as u64,
        ok_summary: sketch(ok_ms),
        error_summary: sketch(err_ms),
        span_kind: "server".into(),
        ..Default::default()
    }
}

fn stats_payload(
    env: &str,
    bucket_start: i64,
    stats: Vec<pb::ClientGroupedStats>,
) -> pb::StatsPayload {
    pb::StatsPayload {
        agent_hostname: "collector-host".into(),
        agent_env: "none".into(),
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        client_computed: false,
        split_payload: false,
        stats: vec![pb::ClientStatsPayload {
            hostname: "web-1".into(),
            env: env.into(),
            version: "1.4.2".into(),
            stats: vec![pb::ClientStatsBucket {
                start: bucket_start as u64,
                duration: 10_000 * MS as u64,
                stats,
                agent_time_shift: 0,
            }],
            ..Default::default()
        }],
    }
}

fn assert_close(got: Option<f64>, want: f64) {
    let got = got.expect("a percentile");
    // DDSketch's default relative accuracy is 1%.
    assert!(
        (got - want).abs() <= want * 0.011,
        "got {got}, want {want} ± 1%"
    );
}

#[test]
fn services_merge_hits_errors_and_percentiles() {
    let (_d, store) = temp_store();
    let ten_s = 10_000 * MS;
    // 1..=100 ms ok in two buckets (two payloads), 10 errors at 500 ms.
    let first = stats_payload(
        "prod",
        T0,
        vec![grouped(
            "web-frontend",
            "GET /checkout",
            (1..=50).map(f64::from).collect(),
            vec![],
        )],
    );
    let second = stats_payload(
        "prod",
        T0 + ten_s,
        vec![
            grouped(
                "web-frontend",
                "GET /checkout",
                (51..=100).map(f64::from).collect(),
                vec![],
            ),
            grouped("web-frontend", "POST /pay", vec![], vec![500.0; 10]),
        ],
    );
    let other = stats_payload(
        "staging",
        T0,
        vec![grouped("cart", "Cart/Get", vec![2.0; 4], vec![8.0])],
    );
    for p in [&first, &second, &other] {
        store.insert_stats_payload(p, T0).unwrap();
    }
    assert_eq!(store.summary().unwrap().stats_rows, 4);

    let svcs = store.services(None, None).unwrap();
    let keys: Vec<_> = svcs
        .iter()
        .map(|s| (s.service.as_str(), s.env.as_str()))
        .collect();
    assert_eq!(keys, [("cart", "staging"), ("web-frontend", "prod")]);
    let web = &svcs[1];
    assert_eq!((web.hits, web.errors, web.top_level_hits), (110, 10, 110));
    // 110 latencies: 1..=100 ms and ten of 500 ms.
    assert_close(web.p50_ms, 55.0);
    assert_close(web.p95_ms, 500.0);
    assert_close(web.p99_ms, 500.0);
    let res: Vec<_> = web
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r.hits, r.errors))
        .collect();
    assert_eq!(res, [("GET /checkout", 100, 0), ("POST /pay", 10, 10)]);
    assert_close(web.resources[0].p50_ms, 50.0);
    assert_close(web.resources[0].p95_ms, 95.0);
    assert_close(web.resources[0].p99_ms, 99.0);
    assert_close(web.resources[1].p50_ms, 500.0);
    let cart = &svcs[0];
    assert_eq!((cart.hits, cart.errors), (5, 1));
    assert_close(cart.p50_ms, 2.0);
    // Rank 0.99 × (5 − 1) = 3.96 is still the fourth value.
    assert_close(cart.p99_ms, 2.0);

    // Only the second bucket.
    let late = store.services(Some(T0 + ten_s), None).unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].hits, late[0].errors), (60, 10));
    assert_close(late[0].p50_ms, 80.0);
    assert!(store.services(None, Some(T0 - 1)).unwrap().is_empty());
    assert_eq!(store.facets().unwrap().services, ["cart", "web-frontend"]);
}

#[test]
fn quantiles_rank_like_ddsketch() {
    let bins = vec![(1.0, 50.0), (2.0, 45.0), (10.0, 5.0)];
    // Rank 0.5 × 99 = 49.5: the 50th value, the last of the first bin.
    assert_eq!(quantile(&bins, 0.5), Some(1.0));
    assert_eq!(quantile(&bins, 0.51), Some(2.0));
    assert_eq!(quantile(&bins, 0.99), Some(10.0));
    assert_eq!(quantile(&bins, 0.0), Some(1.0));
    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&[(3.0, 0.0)], 0.5), None);
}

/// Refused payloads are recorded with their declared size, which a client can make enormous:
/// the summary's sums saturate instead of failing (SQLite's sum() raises "integer overflow").
#[test]
fn summary_survives_enormous_recorded_sizes() {
    let (_d, store) = temp_store();
    for _ in 0..2 {
        store
            .record_payload(
                "/api/v0.2/traces",
                i64::MAX as usize,
                413,
                Some("too large"),
                T0,
            )
            .unwrap();
    }
    store
        .record_payload("/api/v0.2/stats", 10, 202, None, T0)
        .unwrap();
    let s = store.summary().unwrap();
    assert!(
        s.payload_bytes >= 9_000_000_000_000_000_000,
        "{}",
        s.payload_bytes
    );
    assert_eq!(s.payloads.len(), 2);
}
