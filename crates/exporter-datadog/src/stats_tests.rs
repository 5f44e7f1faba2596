use super::*;
use libdd_ddsketch::DDSketch;
use std::collections::HashMap;

const T0_SECS: u64 = 1_700_000_000;

/// Most cases feed payloads whose spans carry all their meta.
trait AddComplete {
    fn add_pb(&mut self, tp: &pb::TracerPayload, now: SystemTime);
}

impl AddComplete for StatsAggregator {
    fn add_pb(&mut self, tp: &pb::TracerPayload, now: SystemTime) {
        self.add(&tp.clone().into(), now);
    }
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0_SECS)
}

fn settings() -> StatsSettings {
    StatsSettings {
        hostname: "collector".into(),
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        compute_stats_by_span_kind: true,
        peer_tags_aggregation: true,
        peer_tags: vec!["custom.peer".into()],
        max_groups: DEFAULT_MAX_GROUPS,
        bucket_duration: BUCKET_DURATION,
        group_by_language: true,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    TopLevel,
    Measured,
    Client,
    Internal,
}

/// A span ending 1 s before t0.
fn span(service: &str, name: &str, kind: Kind, duration: i64, error: bool) -> pb::Span {
    let end = (T0_SECS as i64 - 1) * 1_000_000_000;
    let mut metrics = HashMap::new();
    let mut meta = HashMap::new();
    match kind {
        Kind::TopLevel => {
            metrics.insert("_top_level".to_string(), 1.0);
            meta.insert("span.kind".to_string(), "server".to_string());
        }
        Kind::Measured => {
            metrics.insert("_dd.measured".to_string(), 1.0);
            meta.insert("span.kind".to_string(), "internal".to_string());
        }
        Kind::Client => {
            meta.insert("span.kind".to_string(), "client".to_string());
            meta.insert("peer.service".to_string(), "db-1".to_string());
        }
        Kind::Internal => {
            meta.insert("span.kind".to_string(), "internal".to_string());
        }
    }
    pb::Span {
        service: service.into(),
        name: name.into(),
        resource: format!("{name} resource"),
        trace_id: 1,
        span_id: 2,
        parent_id: 1,
        start: end - duration,
        duration,
        error: error as i32,
        meta,
        metrics,
        ..Default::default()
    }
}

fn tracer_payload(env: &str, container: &str, spans: Vec<pb::Span>) -> pb::TracerPayload {
    pb::TracerPayload {
        hostname: "app-host".into(),
        env: env.into(),
        app_version: "1.2.3".into(),
        container_id: container.into(),
        chunks: vec![pb::TraceChunk {
            priority: 1,
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn grouped(p: &pb::StatsPayload) -> Vec<&pb::ClientGroupedStats> {
    p.stats
        .iter()
        .flat_map(|c| &c.stats)
        .flat_map(|b| &b.stats)
        .collect()
}

fn sketch_count(bytes: &[u8]) -> f64 {
    DDSketch::from_encoded(bytes)
        .expect("summary is an encoded DDSketch")
        .count()
}

#[test]
fn two_services_give_grouped_stats() {
    let mut agg = StatsAggregator::new(settings());
    agg.add_pb(
        &tracer_payload(
            "prod",
            "",
            vec![
                span("web", "http.request", Kind::TopLevel, 100, false),
                span("web", "http.request", Kind::TopLevel, 200, true),
                span("web", "http.request", Kind::TopLevel, 300, false),
                span("web", "helper", Kind::Internal, 50, false), // not eligible
                span("db", "query", Kind::Measured, 10, false),
                span("db", "query", Kind::Measured, 30, true),
                span("db", "call", Kind::Client, 7, false), // eligible by span kind
            ],
        ),
        t0(),
    );
    let out = agg.flush(t0(), true);
    assert_eq!(out.len(), 1);
    let p = &out[0];
    assert_eq!(p.agent_hostname, "collector");
    assert_eq!(p.agent_env, "none");
    assert_eq!(p.agent_version, "datadogexporter-kakehashi-0.1.0");
    assert!(!p.client_computed);
    assert!(!p.split_payload);
    assert_eq!(p.stats.len(), 1);
    let c = &p.stats[0];
    assert_eq!(
        (
            c.hostname.as_str(),
            c.env.as_str(),
            c.version.as_str(),
            c.container_id.as_str()
        ),
        ("app-host", "prod", "1.2.3", "")
    );
    let b = &c.stats[0];
    assert_eq!(b.duration, 10_000_000_000);
    assert_eq!(
        b.start,
        (T0_SECS - 10) * 1_000_000_000,
        "spans that ended in the previous bucket stay there, in a group new at t0 too"
    );

    let g = grouped(p);
    assert_eq!(g.len(), 3, "{g:#?}");
    let find = |svc: &str, name: &str| {
        *g.iter()
            .find(|s| s.service == svc && s.name == name)
            .unwrap()
    };

    let web = find("web", "http.request");
    assert_eq!(web.hits, 3);
    assert_eq!(web.errors, 1);
    assert_eq!(web.top_level_hits, 3);
    assert_eq!(web.duration, 600);
    assert_eq!(web.resource, "http.request resource");
    assert_eq!(web.span_kind, "server");
    assert_eq!(sketch_count(&web.ok_summary), 2.0);
    assert_eq!(sketch_count(&web.error_summary), 1.0);

    let db = find("db", "query");
    assert_eq!(db.hits, 2);
    assert_eq!(db.errors, 1);
    assert_eq!(db.top_level_hits, 0);
    assert_eq!(db.duration, 40);
    assert_eq!(sketch_count(&db.ok_summary), 1.0);
    assert_eq!(sketch_count(&db.error_summary), 1.0);

    let call = find("db", "call");
    assert_eq!(call.hits, 1);
    assert_eq!(call.span_kind, "client");
    assert_eq!(call.peer_tags, vec!["peer.service:db-1".to_string()]);
}

#[test]
fn span_kind_and_peer_tags_options_are_honoured() {
    let mut agg = StatsAggregator::new(StatsSettings {
        compute_stats_by_span_kind: false,
        peer_tags_aggregation: false,
        ..settings()
    });
    agg.add_pb(
        &tracer_payload(
            "prod",
            "",
            vec![
                span("db", "call", Kind::Client, 7, false),
                span("db", "query", Kind::Measured, 10, false),
            ],
        ),
        t0(),
    );
    let out = agg.flush(t0(), true);
    let g = grouped(&out[0]);
    assert_eq!(g.len(), 1, "client span is not eligible by kind");
    assert_eq!(g[0].name, "query");
    assert!(g[0].peer_tags.is_empty());
}

#[test]
fn groups_follow_hostname_env_version_container() {
    let mut agg = StatsAggregator::new(settings());
    let s = || vec![span("web", "op", Kind::TopLevel, 5, false)];
    agg.add_pb(&tracer_payload("prod", "c1", s()), t0());
    agg.add_pb(&tracer_payload("prod", "c1", s()), t0());
    agg.add_pb(&tracer_payload("staging", "c1", s()), t0());
    agg.add_pb(&tracer_payload("prod", "c2", s()), t0());
    let mut no_host = tracer_payload("", "c1", s());
    no_host.hostname.clear();
    agg.add_pb(&no_host, t0());
    assert_eq!(agg.groups(), 4);
    let out = agg.flush(t0(), true);
    assert_eq!(out.len(), 1);
    let keys: Vec<_> = out[0]
        .stats
        .iter()
        .map(|c| (c.hostname.as_str(), c.env.as_str(), c.container_id.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("app-host", "prod", "c1"),
            ("app-host", "prod", "c2"),
            ("app-host", "staging", "c1"),
            ("collector", "none", "c1"),
        ]
    );
    let hits: u64 = grouped(&out[0]).iter().map(|g| g.hits).sum();
    assert_eq!(hits, 5);
    assert_eq!(agg.groups(), 0, "a forced flush forgets the groups");
}

#[test]
fn groups_and_payloads_carry_the_tracer_language() {
    let mut agg = StatsAggregator::new(settings());
    let s = || vec![span("web", "op", Kind::TopLevel, 5, false)];
    let mut go = tracer_payload("prod", "c1", s());
    go.language_name = "go".into();
    agg.add_pb(&go, t0());
    agg.add_pb(&tracer_payload("prod", "c1", s()), t0());
    assert_eq!(agg.groups(), 2, "the language is part of the group");
    let out = agg.flush(t0(), true);
    let langs: Vec<_> = out[0].stats.iter().map(|c| c.lang.as_str()).collect();
    assert_eq!(langs, vec!["", "go"]);
}

#[test]
fn without_language_grouping_tracers_share_a_group() {
    let mut agg = StatsAggregator::new(StatsSettings {
        group_by_language: false,
        ..settings()
    });
    let mut go = tracer_payload(
        "prod",
        "c1",
        vec![span("web", "op", Kind::TopLevel, 5, false)],
    );
    go.language_name = "go".into();
    agg.add_pb(&go, t0());
    agg.add_pb(
        &tracer_payload(
            "prod",
            "c1",
            vec![span("web", "op", Kind::TopLevel, 5, false)],
        ),
        t0(),
    );
    assert_eq!(agg.groups(), 1);
    let out = agg.flush(t0(), true);
    assert_eq!(out[0].stats[0].lang, "");
    assert_eq!(grouped(&out[0])[0].hits, 2);
}

#[test]
fn long_buckets_are_not_flushed_early_as_idle() {
    // 40 s buckets: the 2-bucket delay is 80 s, longer than the 60 s idle rule.
    let bucket = Duration::from_secs(40);
    let mut agg = StatsAggregator::new(StatsSettings {
        bucket_duration: bucket,
        ..settings()
    });
    let one = || {
        tracer_payload(
            "prod",
            "",
            vec![span("web", "op", Kind::TopLevel, 5, false)],
        )
    };
    // The span ended in the bucket before t0: by its 2-bucket delay it is due at t0 + 40 s.
    agg.add_pb(&one(), t0());
    assert!(agg.flush(t0() + Duration::from_secs(30), false).is_empty());
    let out = agg.flush(t0() + IDLE_GROUP_AFTER, false);
    assert_eq!(grouped(&out[0])[0].hits, 1);
    assert_eq!(
        agg.groups(),
        1,
        "60 s without spans is not idle for 40 s buckets: their delay is longer"
    );
    assert!(agg.flush(t0() + bucket * 3, false).is_empty());
    assert_eq!(agg.groups(), 0, "idle after three buckets");
}

#[test]
fn group_cap_holds_and_counts_dropped_spans() {
    let mut agg = StatsAggregator::new(StatsSettings {
        max_groups: 2,
        bucket_duration: BUCKET_DURATION,
        group_by_language: true,
        ..settings()
    });
    for i in 0..5 {
        let spans = vec![
            span("web", "op", Kind::TopLevel, 5, false),
            span("web", "op", Kind::TopLevel, 5, false),
        ];
        agg.add_pb(&tracer_payload("prod", &format!("c{i}"), spans), t0());
    }
    // Existing groups still accept spans.
    agg.add_pb(
        &tracer_payload(
            "prod",
            "c0",
            vec![span("web", "op", Kind::TopLevel, 5, false)],
        ),
        t0(),
    );
    assert_eq!(agg.groups(), 2);
    assert_eq!(agg.dropped_spans(), 6);
    let out = agg.flush(t0(), true);
    assert_eq!(out[0].stats.len(), 2);
    let hits: u64 = grouped(&out[0]).iter().map(|g| g.hits).sum();
    assert_eq!(hits, 5);
}

#[test]
fn recent_buckets_wait_and_idle_groups_are_forgotten() {
    let mut agg = StatsAggregator::new(settings());
    agg.add_pb(
        &tracer_payload(
            "prod",
            "",
            vec![span("web", "op", Kind::TopLevel, 5, false)],
        ),
        t0(),
    );
    assert!(
        agg.flush(t0(), false).is_empty(),
        "the agent keeps 2 buckets"
    );
    let out = agg.flush(t0() + Duration::from_secs(30), false);
    assert_eq!(grouped(&out[0])[0].hits, 1);
    assert_eq!(agg.groups(), 1);
    assert!(agg.flush(t0() + IDLE_GROUP_AFTER, false).is_empty());
    assert_eq!(agg.groups(), 0);
}

#[test]
fn more_than_4000_entries_are_split() {
    let mut agg = StatsAggregator::new(settings());
    let spans = (0..4500)
        .map(|i| span("web", &format!("op{i}"), Kind::TopLevel, 5, false))
        .collect();
    agg.add_pb(&tracer_payload("prod", "", spans), t0());
    let out = agg.flush(t0(), true);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|p| p.split_payload));
    let counts: Vec<usize> = out.iter().map(|p| grouped(p).len()).collect();
    assert_eq!(counts, vec![4000, 500]);
    for p in &out {
        assert_eq!(p.stats[0].env, "prod");
    }
}

#[test]
fn split_payloads_straddles_clients_and_buckets() {
    let gs = |n: usize| vec![pb::ClientGroupedStats::default(); n];
    let client = |env: &str, buckets: Vec<usize>| pb::ClientStatsPayload {
        env: env.into(),
        stats: buckets
            .into_iter()
            .enumerate()
            .map(|(i, n)| pb::ClientStatsBucket {
                start: i as u64,
                duration: 10,
                stats: gs(n),
                agent_time_shift: 0,
            })
            .collect(),
        ..Default::default()
    };
    let out = split_payloads(vec![client("a", vec![3, 2]), client("b", vec![4])], 4);
    // Per payload: (env, [(bucket start, entries)]) of each client payload.
    type Shape = Vec<Vec<(String, Vec<(u64, usize)>)>>;
    let shape: Shape = out
        .iter()
        .map(|(cs, split)| {
            assert!(split);
            cs.iter()
                .map(|c| {
                    (
                        c.env.clone(),
                        c.stats.iter().map(|b| (b.start, b.stats.len())).collect(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            vec![("a".to_string(), vec![(0, 3), (1, 1)])],
            vec![
                ("a".to_string(), vec![(1, 1)]),
                ("b".to_string(), vec![(0, 3)])
            ],
            vec![("b".to_string(), vec![(0, 1)])],
        ]
    );
    let single = split_payloads(vec![client("a", vec![1])], 4);
    assert_eq!(single.len(), 1);
    assert!(!single[0].1);
    assert!(split_payloads(vec![], 4).is_empty());
}

fn map_keys(v: &rmpv::Value) -> Vec<&str> {
    v.as_map()
        .expect("a map")
        .iter()
        .map(|(k, _)| k.as_str().expect("string key"))
        .collect()
}

fn field<'a>(v: &'a rmpv::Value, name: &str) -> &'a rmpv::Value {
    v.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn msgpack_uses_pascal_case_names_and_round_trips() {
    let mut agg = StatsAggregator::new(settings());
    agg.add_pb(
        &tracer_payload(
            "prod",
            "cid",
            vec![span("web", "op", Kind::TopLevel, 5, true)],
        ),
        t0(),
    );
    let payload = agg.flush(t0(), true).pop().unwrap();
    let bytes = encode_msgpack(&payload);

    let back: pb::StatsPayload = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, payload);

    let v = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
    assert_eq!(
        map_keys(&v),
        vec![
            "AgentHostname",
            "AgentEnv",
            "Stats",
            "AgentVersion",
            "ClientComputed",
            "SplitPayload"
        ]
    );
    assert_eq!(field(&v, "AgentHostname").as_str(), Some("collector"));
    let client = &field(&v, "Stats").as_array().unwrap()[0];
    let ck = map_keys(client);
    for k in [
        "Hostname",
        "Env",
        "Version",
        "Stats",
        "Lang",
        "TracerVersion",
        "RuntimeID",
        "Sequence",
        "ContainerID",
        "Tags",
    ] {
        assert!(ck.contains(&k), "{k} missing in {ck:?}");
    }
    assert_eq!(field(client, "ContainerID").as_str(), Some("cid"));
    let bucket = &field(client, "Stats").as_array().unwrap()[0];
    assert_eq!(
        map_keys(bucket),
        vec!["Start", "Duration", "Stats", "AgentTimeShift"]
    );
    let g = &field(bucket, "Stats").as_array().unwrap()[0];
    let gk = map_keys(g);
    for k in [
        "Service",
        "Name",
        "Resource",
        "HTTPStatusCode",
        "Type",
        "DBType",
        "Hits",
        "Errors",
        "Duration",
        "OkSummary",
        "ErrorSummary",
        "Synthetics",
        "TopLevelHits",
        "SpanKind",
        "PeerTags",
        "IsTraceRoot",
        "GRPCStatusCode",
        "HTTPMethod",
        "HTTPEndpoint",
    ] {
        assert!(gk.contains(&k), "{k} missing in {gk:?}");
    }
    assert_eq!(field(g, "Hits").as_u64(), Some(1));
    assert_eq!(field(g, "Errors").as_u64(), Some(1));
    // Summaries travel as msgpack bin holding a DDSketch protobuf.
    let err = field(g, "ErrorSummary").as_slice().expect("bin");
    assert_eq!(sketch_count(err), 1.0);
}

#[test]
fn a_client_span_key_filter_lets_few_absent_peer_tags_through() {
    // The meta keys of an HTTP client span as translated; the concentrator then asks for every
    // base peer tag and the keys of its aggregation key.
    let present = [
        "span.kind",
        "otel.trace_id",
        "otel.status_code",
        "otel.library.name",
        "http.method",
        "http.url",
        "http.status_code",
        "http.server_name",
        "url.scheme",
        "url.path",
        "network.peer.address",
        "http.version",
        "peer.service",
        "thread.name",
        "env",
        "version",
        "db.system",
        "http.useragent",
        "http.client_ip",
        "enduser.id",
        "app.tenant",
        "code.function",
        "code.namespace",
        "_dd.p.dm",
        "language",
    ];
    let mut filter = kakehashi_datadog_translate::KeyFilter::default();
    present.iter().for_each(|k| filter.add(k));
    let asked = BASE_PEER_TAGS.iter().chain(&[
        "http.request.method",
        "http.endpoint",
        "http.route",
        "grpc.code",
        "rpc.grpc.status_code",
        "_dd.svc_src",
        "_dd.origin",
    ]);
    let absent: Vec<&&str> = asked.filter(|k| !present.contains(k)).collect();
    let passed: Vec<&&&str> = absent.iter().filter(|k| filter.may_contain(k)).collect();
    assert!(
        passed.len() * 10 <= absent.len(),
        "{passed:?} passed of {} absent keys",
        absent.len()
    );
}

/// Client-sampled traces (`_sample_rate`).
#[path = "stats_weight_tests.rs"]
mod weights;
