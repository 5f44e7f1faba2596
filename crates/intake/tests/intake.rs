//! The intake over a real socket: payloads in, JSON API out, bad input refused without harm,
//! data kept across restarts, and the real datadog exporter delivering to it.

#[path = "intake/harness.rs"]
mod harness;

#[path = "intake/bad_input.rs"]
mod bad_input;

#[path = "intake/exporter.rs"]
mod exporter;

use std::collections::HashMap;

use harness::*;
use libdd_ddsketch::DDSketch;
use libdd_trace_protobuf::pb;
use prost::Message;
use serde_json::{json, Value};

pub fn stats_body(service: &str, bucket_start: i64, ok_ms: &[f64], err_ms: &[f64]) -> Vec<u8> {
    let sketch = |ms: &[f64]| {
        let mut s = DDSketch::default();
        for d in ms {
            s.add(d * 1e6).unwrap();
        }
        s.encode_to_vec()
    };
    let p = pb::StatsPayload {
        agent_hostname: "collector-1".into(),
        agent_env: "none".into(),
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        stats: vec![pb::ClientStatsPayload {
            hostname: "ip-10-12-34-56".into(),
            env: "prod".into(),
            version: "2.14.3".into(),
            stats: vec![pb::ClientStatsBucket {
                start: bucket_start as u64,
                duration: 10_000_000_000,
                stats: vec![pb::ClientGroupedStats {
                    service: service.into(),
                    name: "http.server.request".into(),
                    resource: "GET /checkout".into(),
                    r#type: "web".into(),
                    http_status_code: 200,
                    hits: (ok_ms.len() + err_ms.len()) as u64,
                    errors: err_ms.len() as u64,
                    top_level_hits: (ok_ms.len() + err_ms.len()) as u64,
                    duration: 1,
                    ok_summary: sketch(ok_ms),
                    error_summary: sketch(err_ms),
                    span_kind: "server".into(),
                    ..Default::default()
                }],
                agent_time_shift: 0,
            }],
            ..Default::default()
        }],
        client_computed: false,
        split_payload: false,
    };
    // What the exporter sends: named-field msgpack, gzip'd.
    gzip(&rmp_serde::to_vec_named(&p).unwrap())
}

fn close_to(v: &Value, want: f64) -> bool {
    v.as_f64()
        .is_some_and(|got| (got - want).abs() <= want * 0.011)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_stats_round_trip_through_the_json_api() {
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start(dir.path(), |_| {}).await;
    let t0 = now_ns() - 60_000 * MS;
    let checkout = checkout_spans(u64::MAX - 41, t0);
    let health = vec![span(
        77,
        1,
        0,
        "frontend",
        "http.server.request",
        "GET /healthz",
        t0 + 1000 * MS,
        2 * MS,
        false,
    )];
    let payload = agent_payload(vec![checkout.clone(), health.clone()]);
    let (status, body) = intake
        .post(
            "/api/v0.2/traces",
            Some("gzip"),
            gzip(&payload.encode_to_vec()),
        )
        .await;
    assert_eq!((status, body), (202, json!({})));

    let list = intake.get_ok("/api/traces").await;
    let traces = list["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["trace_id"], "77", "newest first");
    let t = &traces[1];
    assert_eq!(t["trace_id"], (u64::MAX - 41).to_string());
    assert_eq!(t["service"], "frontend");
    assert_eq!(t["resource"], "GET /checkout");
    assert_eq!(t["span_count"], 4);
    assert_eq!(t["error"], true);
    assert_eq!(t["duration_ms"], 250.0);
    assert_eq!(t["services"], json!(["frontend", "cart", "payments"]));
    assert_eq!(t["env"], "prod");
    assert_eq!(list["next_cursor"], Value::Null);

    // Every span, with its meta and metrics, by decimal or hex id.
    let id = u64::MAX - 41;
    for path in [format!("/api/traces/{id}"), format!("/api/traces/0x{id:x}")] {
        let detail = intake.get_ok(&path).await;
        assert_eq!(detail["trace_id"], id.to_string());
        let spans = detail["spans"].as_array().unwrap();
        assert_eq!(spans.len(), checkout.len());
        for (got, want) in spans.iter().zip(&checkout) {
            assert_eq!(got["span_id"], want.span_id.to_string());
            assert_eq!(got["parent_id"], want.parent_id.to_string());
            assert_eq!(got["service"], want.service);
            assert_eq!(got["resource"], want.resource);
            assert_eq!(got["error"], want.error != 0);
            assert_eq!(got["hostname"], "ip-10-12-34-56");
            assert_eq!(got["language"], "go");
            let meta: HashMap<String, String> =
                serde_json::from_value(got["meta"].clone()).unwrap();
            assert_eq!(meta, want.meta);
            let metrics: HashMap<String, f64> =
                serde_json::from_value(got["metrics"].clone()).unwrap();
            assert_eq!(metrics, want.metrics);
        }
    }
    assert_eq!(intake.get("/api/traces/12345").await.0, 404);
    let (status, body) = intake.get("/api/traces/not-an-id").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("invalid trace id"));

    // Filters and paging over HTTP.
    let ids = |v: &Value| -> Vec<String> {
        v["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&intake.get_ok("/api/traces?service=payments").await),
        [id.to_string()]
    );
    assert_eq!(
        ids(&intake.get_ok("/api/traces?errors=1").await),
        [id.to_string()]
    );
    assert_eq!(ids(&intake.get_ok("/api/traces?q=HEALTH").await), ["77"]);
    assert_eq!(
        ids(&intake.get_ok("/api/traces?min_duration_ms=100").await),
        [id.to_string()]
    );
    assert_eq!(
        ids(&intake.get_ok("/api/traces?env=staging").await),
        Vec::<String>::new()
    );
    let page1 = intake.get_ok("/api/traces?limit=1").await;
    assert_eq!(ids(&page1), ["77"]);
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page2 = intake
        .get_ok(&format!("/api/traces?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&page2), [id.to_string()]);
    assert_eq!(page2["next_cursor"], Value::Null);
    for bad in [
        "cursor=nope",
        "limit=-1",
        "min_duration_ms=fast",
        "from_ms=yesterday",
    ] {
        let (status, body) = intake.get(&format!("/api/traces?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }

    // APM stats: 1..=99 ms ok, one 900 ms error.
    let ok: Vec<f64> = (1..=99).map(f64::from).collect();
    let (status, _) = intake
        .post(
            "/api/v0.2/stats",
            Some("gzip"),
            stats_body("frontend", t0, &ok, &[900.0]),
        )
        .await;
    assert_eq!(status, 202);
    let services = intake.get_ok("/api/services").await;
    let svc = &services["services"][0];
    assert_eq!(svc["service"], "frontend");
    assert_eq!(svc["env"], "prod");
    assert_eq!(
        (svc["hits"].as_u64(), svc["errors"].as_u64()),
        (Some(100), Some(1))
    );
    // 100 latencies: rank q × 99.
    assert!(close_to(&svc["p50_ms"], 50.0), "{svc}");
    assert!(close_to(&svc["p95_ms"], 95.0), "{svc}");
    assert!(close_to(&svc["p99_ms"], 99.0), "{svc}");
    assert_eq!(svc["resources"][0]["resource"], "GET /checkout");
    assert_eq!(svc["resources"][0]["hits"], 100);
    // The window excludes the bucket (2 ms past it: ms are parsed as f64).
    let later = (t0 / MS) + 2;
    let none = intake
        .get_ok(&format!("/api/services?from_ms={later}"))
        .await;
    assert_eq!(none["services"], json!([]));

    let facets = intake.get_ok("/api/facets").await;
    assert_eq!(facets["services"], json!(["cart", "frontend", "payments"]));
    assert_eq!(facets["envs"], json!(["prod"]));

    // The other encodings the exporter family uses.
    let zstd_payload = agent_payload(vec![checkout_spans(5, t0)]);
    let body = zstd::encode_all(&zstd_payload.encode_to_vec()[..], 3).unwrap();
    assert_eq!(
        intake.post("/api/v0.2/traces", Some("zstd"), body).await.0,
        202
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut z,
        &agent_payload(vec![checkout_spans(6, t0)]).encode_to_vec(),
    )
    .unwrap();
    assert_eq!(
        intake
            .post("/api/v0.2/traces", Some("deflate"), z.finish().unwrap())
            .await
            .0,
        202
    );
    let plain = agent_payload(vec![checkout_spans(8, t0)]).encode_to_vec();
    assert_eq!(intake.post("/api/v0.2/traces", None, plain).await.0, 202);
    assert_eq!(counts(&intake).await, (16 + 1, 5, 1));

    // The rest of what the exporter talks to.
    assert_eq!(
        intake.get_ok("/api/v1/validate").await,
        json!({"valid": true})
    );
    let series = json!({"series": [{"metric": "otel.datadog_exporter.traces.running", "type": 3,
        "points": [{"timestamp": 1_700_000_000, "value": 1.0}], "tags": [], "resources": []}]});
    assert_eq!(
        intake
            .post(
                "/api/v2/series",
                Some("gzip"),
                gzip(series.to_string().as_bytes())
            )
            .await,
        (202, json!({"errors": []}))
    );
    let meta = json!({"internalHostname": "collector-1", "meta": {"hostname": "collector-1"}});
    assert_eq!(
        intake
            .post("/intake", Some("gzip"), gzip(meta.to_string().as_bytes()))
            .await
            .0,
        200
    );
    assert_eq!(
        intake
            .post("/api/v2/logs", None, b"[{\"message\":\"hi\"}]".to_vec())
            .await
            .0,
        202
    );
    let summary = intake.get_ok("/api/summary").await;
    assert_eq!(
        (
            summary["series_points"].as_i64(),
            summary["host_metadata"].as_i64(),
            summary["logs"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let accepted: i64 = summary["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"] == "/api/v0.2/traces" && p["status"] == 202)
        .map(|p| p["count"].as_i64().unwrap())
        .sum();
    assert_eq!(accepted, 4);

    // The UI and unknown paths.
    let r = intake.http.get(intake.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(intake.get("/api/nope").await.0, 404);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payloads_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let intake = std::sync::Arc::new(Intake::start(dir.path(), |_| {}).await);
    let t0 = now_ns() - 60_000 * MS;
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let intake = intake.clone();
        tasks.push(tokio::spawn(async move {
            let traces = (0..5)
                .map(|k| checkout_spans(1000 + i * 10 + k, t0 + k as i64 * MS))
                .collect();
            let body = gzip(&agent_payload(traces).encode_to_vec());
            intake.post("/api/v0.2/traces", Some("gzip"), body).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    assert_eq!(counts(&intake).await, (16 * 5 * 4, 16 * 5, 0));
    let intake = std::sync::Arc::into_inner(intake).expect("no other handle");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ns() - 60_000 * MS;
    let intake = Intake::start(dir.path(), |_| {}).await;
    let body = gzip(
        &agent_payload(vec![checkout_spans(11, t0), checkout_spans(12, t0 + MS)]).encode_to_vec(),
    );
    assert_eq!(
        intake.post("/api/v0.2/traces", Some("gzip"), body).await.0,
        202
    );
    assert_eq!(
        intake
            .post(
                "/api/v0.2/stats",
                Some("gzip"),
                stats_body("frontend", t0, &[5.0; 3], &[])
            )
            .await
            .0,
        202
    );
    let list_before = intake.get_ok("/api/traces").await;
    let trace_before = intake.get_ok("/api/traces/11").await;
    let services_before = intake.get_ok("/api/services").await;
    intake.stop().await;

    let intake = Intake::start(dir.path(), |_| {}).await;
    assert_eq!(intake.get_ok("/api/traces").await, list_before);
    assert_eq!(intake.get_ok("/api/traces/11").await, trace_before);
    assert_eq!(intake.get_ok("/api/services").await, services_before);
    assert_eq!(counts(&intake).await, (8, 2, 1));
    // And it goes on storing.
    let body = gzip(&agent_payload(vec![checkout_spans(13, t0 + 2 * MS)]).encode_to_vec());
    assert_eq!(
        intake.post("/api/v0.2/traces", Some("gzip"), body).await.0,
        202
    );
    assert_eq!(
        intake.get_ok("/api/traces").await["traces"][0]["trace_id"],
        "13"
    );
    intake.stop().await;
}

/// `run` binds `listen` itself and takes any shutdown future, `Send` or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_until_a_non_send_shutdown_completes() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = kakehashi_intake::IntakeConfig {
        listen: taken.local_addr().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let err = kakehashi_intake::run(config.clone(), async {})
        .await
        .unwrap_err();
    assert!(err.contains("cannot listen on"), "{err}");

    // Free a moment ago. Another test could be handed it in between, but the kernel rotates
    // through ephemeral ports, so a just-released one is not reused at once.
    drop(taken);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let not_send = std::rc::Rc::new(());
    let shutdown = async move {
        let _ = rx.await;
        drop(not_send);
    };
    let url = format!("http://{}/api/summary", config.listen);
    let client = async move {
        let http = reqwest::Client::new();
        let mut ok = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(&url).send().await {
                ok = r.status() == 200;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let _ = tx.send(());
        ok
    };
    let (result, ok) = tokio::join!(kakehashi_intake::run(config, shutdown), client);
    assert!(ok, "the intake answered");
    assert_eq!(result, Ok(()));
}
