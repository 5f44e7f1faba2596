use super::*;
use crate::payload::{build_agent_payloads, gzip, AgentInfo, DEFAULT_GZIP_LEVEL};
use crate::retry::{Delivered, Failed, Stop};
use crate::test_server::{Reply, TestServer};
use kakehashi_component::exporterhelper::RetrySettings;
use libdd_trace_protobuf::pb;
use prost::Message;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn settings(traces: &str, api: &str) -> IntakeSettings {
    IntakeSettings {
        traces_endpoint: traces.to_string(),
        api_endpoint: api.to_string(),
        api_key: Secret::new(KEY),
        timeout: Duration::from_secs(5),
        tls: Default::default(),
        proxy_url: None,
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        user_agent: "kakehashi/0.1.0".into(),
    }
}

fn client(base: &str) -> IntakeClient {
    IntakeClient::new(&settings(base, base)).unwrap()
}

fn fast_retry() -> RetrySettings {
    RetrySettings {
        enabled: true,
        initial_interval: Duration::from_millis(1).into(),
        randomization_factor: 0.5,
        multiplier: 2.0,
        max_interval: Duration::from_millis(5).into(),
        max_elapsed_time: Duration::from_secs(30).into(),
    }
}

fn agent_payload_body() -> (pb::AgentPayload, Bytes) {
    let tp = pb::TracerPayload {
        hostname: "h".into(),
        chunks: vec![pb::TraceChunk {
            priority: 1,
            spans: vec![pb::Span {
                service: "svc".into(),
                name: "op".into(),
                span_id: 7,
                trace_id: 9,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let info = AgentInfo {
        host_name: "collector".into(),
        agent_version: "datadogexporter-kakehashi-0.1.0".into(),
    };
    let ap = build_agent_payloads(&info, vec![tp.into()], crate::payload::MAX_PAYLOAD_BYTES)
        .pop()
        .unwrap();
    let body = gzip(
        &crate::encode::encode_agent_payload(&ap),
        DEFAULT_GZIP_LEVEL,
    )
    .into();
    (ap.into(), body)
}

/// A loopback port with nobody listening.
async fn refused_base() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn traces_request_has_the_agent_headers_and_a_decodable_body() {
    let srv = TestServer::start(vec![]).await;
    let c = client(&srv.base);
    let (ap, body) = agent_payload_body();
    let out = c
        .post_traces(body, &["go".to_string(), "python".to_string()])
        .await;
    assert_eq!(out, Outcome::Success { status: 200 });

    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v0.2/traces");
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("x-datadog-reported-languages"), Some("go|python"));
    assert_eq!(r.header("dd-api-key"), Some(KEY));
    assert_eq!(
        r.header("user-agent"),
        Some("Datadog Trace Agent/datadogexporter-kakehashi-0.1.0/")
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let decoded = pb::AgentPayload::decode(&r.gunzipped()[..]).unwrap();
    assert_eq!(decoded, ap);
}

#[tokio::test]
async fn stats_series_and_host_metadata_requests() {
    let srv = TestServer::start(vec![]).await;
    let c = client(&format!("{}/", srv.base)); // a trailing slash is tolerated
    assert!(matches!(
        c.post_stats(Bytes::from(gzip(b"\x80", 1)), &[]).await,
        Outcome::Success { .. }
    ));
    assert!(matches!(
        c.post_series(br#"{"series":[]}"#).await,
        Outcome::Success { .. }
    ));
    assert!(matches!(
        c.post_host_metadata(br#"{"hostname":"h"}"#).await,
        Outcome::Success { .. }
    ));
    let seen = srv.seen();
    assert_eq!(seen[0].path, "/api/v0.2/stats");
    assert_eq!(seen[0].header("content-type"), Some("application/msgpack"));
    assert_eq!(seen[0].header("content-encoding"), Some("gzip"));
    assert_eq!(seen[0].header("x-datadog-reported-languages"), Some(""));
    assert_eq!(seen[0].header("dd-api-key"), Some(KEY));
    assert_eq!(seen[0].gunzipped(), b"\x80");

    assert_eq!(seen[1].path, "/api/v2/series");
    assert_eq!(seen[1].header("content-type"), Some("application/json"));
    assert_eq!(seen[1].header("content-encoding"), Some("gzip"));
    assert_eq!(seen[1].header("user-agent"), Some("kakehashi/0.1.0"));
    assert_eq!(seen[1].header("dd-api-key"), Some(KEY));
    assert_eq!(seen[1].gunzipped(), br#"{"series":[]}"#);
    assert_eq!(seen[1].header("x-datadog-reported-languages"), None);

    assert_eq!(seen[2].path, "/intake");
    assert_eq!(seen[2].header("content-type"), Some("application/json"));
    assert_eq!(seen[2].gunzipped(), br#"{"hostname":"h"}"#);
}

#[tokio::test]
async fn statuses_are_classified() {
    let srv = TestServer::start(vec![
        Reply::status(202),
        Reply::status(500),
        Reply::status(503).header("retry-after", "7"),
        Reply::status(429).header("retry-after", "3"),
        Reply::status(502).header("retry-after", "9"),
        Reply::status(408),
        Reply::status(403).body("{\"errors\":[\"Forbidden\"]}"),
        Reply::status(413).body(&"x".repeat(1000)),
        Reply::status(400),
        Reply::status(404),
    ])
    .await;
    let c = client(&srv.base);
    let (_, body) = agent_payload_body();
    let mut outs = Vec::new();
    for _ in 0..10 {
        outs.push(c.post_traces(body.clone(), &[]).await);
    }
    let retryable = |s: u16, ra: Option<u64>| Outcome::Retryable {
        status: Some(s),
        reason: String::new(),
        retry_after: ra.map(Duration::from_secs),
    };
    assert_eq!(outs[0], Outcome::Success { status: 202 });
    assert_eq!(outs[1], retryable(500, None));
    assert_eq!(outs[2], retryable(503, Some(7)));
    assert_eq!(outs[3], retryable(429, Some(3)));
    assert_eq!(outs[4], retryable(502, None), "Retry-After only on 429/503");
    assert_eq!(outs[5], retryable(408, None));
    assert_eq!(
        outs[6],
        Outcome::Permanent {
            status: Some(403),
            reason: "{\"errors\":[\"Forbidden\"]}".into()
        }
    );
    match &outs[7] {
        Outcome::Permanent { status, reason } => {
            assert_eq!(*status, Some(413));
            assert_eq!(reason.len(), 200);
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        outs[8],
        Outcome::Permanent {
            status: Some(400),
            ..
        }
    ));
    assert!(matches!(
        outs[9],
        Outcome::Permanent {
            status: Some(404),
            ..
        }
    ));
}

#[tokio::test]
async fn retries_until_success_resending_the_same_bytes() {
    let srv = TestServer::start(vec![
        Reply::status(500),
        Reply::status(503).header("retry-after", "1"),
        Reply::status(429),
    ])
    .await;
    let c = client(&srv.base);
    let (ap, body) = agent_payload_body();
    let req = Request::traces(body.clone(), &[]);
    let started = std::time::Instant::now();
    let out = c
        .send_with_retry(&req, &fast_retry(), &Stop::default())
        .await;
    assert_eq!(out, Ok(Delivered { attempts: 4 }));
    // The 503's Retry-After: 1 was honoured although max_interval is 5 ms.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let seen = srv.seen();
    assert_eq!(seen.len(), 4);
    for r in &seen {
        assert_eq!(r.body, body.as_ref());
        assert_eq!(pb::AgentPayload::decode(&r.gunzipped()[..]).unwrap(), ap);
    }
}

#[tokio::test]
async fn a_403_is_not_retried() {
    let srv = TestServer::start(vec![Reply::status(403).body("Forbidden: bad key")]).await;
    let c = client(&srv.base);
    let (_, body) = agent_payload_body();
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &fast_retry(), &Stop::default())
        .await;
    assert_eq!(
        out,
        Err(Failed {
            permanent: true,
            status: Some(403),
            reason: "Forbidden: bad key".into(),
            attempts: 1,
            interrupted: false,
        })
    );
    assert_eq!(srv.seen().len(), 1);
}

#[tokio::test]
async fn a_413_after_retries_is_permanent() {
    let srv = TestServer::start(vec![Reply::status(500), Reply::status(413)]).await;
    let c = client(&srv.base);
    let (_, body) = agent_payload_body();
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &fast_retry(), &Stop::default())
        .await
        .unwrap_err();
    assert!(out.permanent);
    assert_eq!(out.status, Some(413));
    assert_eq!(out.attempts, 2);
}

#[tokio::test]
async fn max_elapsed_time_bounds_the_retries() {
    let srv = TestServer::start_with_fallback(vec![], Reply::status(500)).await;
    let c = client(&srv.base);
    let retry = RetrySettings {
        max_interval: Duration::from_millis(20).into(),
        max_elapsed_time: Duration::from_millis(100).into(),
        ..fast_retry()
    };
    let (_, body) = agent_payload_body();
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &retry, &Stop::default())
        .await
        .unwrap_err();
    assert!(!out.permanent);
    assert_eq!(out.status, Some(500));
    assert!(out.attempts > 1);
    assert_eq!(srv.seen().len() as u32, out.attempts);
}

/// A `Retry-After` beyond any budget (here u64::MAX seconds, once a second has passed) gives
/// the payload up as over budget; adding it to the time spent must not overflow and panic.
#[tokio::test]
async fn an_enormous_retry_after_is_over_budget_not_a_panic() {
    let srv = TestServer::start_with_fallback(
        vec![Reply::status(503).header("retry-after", "1")],
        Reply::status(429).header("retry-after", &u64::MAX.to_string()),
    )
    .await;
    let c = client(&srv.base);
    let (_, body) = agent_payload_body();
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &fast_retry(), &Stop::default())
        .await
        .unwrap_err();
    assert!(!out.permanent);
    assert_eq!(out.status, Some(429));
    assert_eq!(out.attempts, 2);
}

#[tokio::test]
async fn disabled_retries_mean_one_attempt() {
    let srv = TestServer::start_with_fallback(vec![], Reply::status(503)).await;
    let c = client(&srv.base);
    let retry = RetrySettings {
        enabled: false,
        ..fast_retry()
    };
    let (_, body) = agent_payload_body();
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &retry, &Stop::default())
        .await
        .unwrap_err();
    assert!(!out.permanent);
    assert_eq!(out.attempts, 1);
}

#[tokio::test]
async fn shutdown_stops_retrying_at_once() {
    let srv =
        TestServer::start_with_fallback(vec![], Reply::status(503).header("retry-after", "3600"))
            .await;
    let c = client(&srv.base);
    let retry = RetrySettings {
        max_elapsed_time: Duration::ZERO.into(), // forever
        ..fast_retry()
    };
    let stop = Stop::default();
    let now = stop.now.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now.cancel();
    });
    let (_, body) = agent_payload_body();
    let started = std::time::Instant::now();
    let out = c
        .send_with_retry(&Request::traces(body.clone(), &[]), &retry, &stop)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!out.permanent && out.interrupted);
    assert_eq!(out.attempts, 1);
    // Already shut down: no attempt at all.
    let out = c
        .send_with_retry(&Request::traces(body, &[]), &retry, &stop)
        .await
        .unwrap_err();
    assert!(!out.permanent && out.interrupted);
    assert_eq!(srv.seen().len(), 1);
}

/// Once shutdown has begun (`stop.retrying`), a payload gets one attempt and no retry: a
/// backoff in progress ends at once, a later payload is still tried once, and one the intake
/// takes is delivered as usual.
#[tokio::test]
async fn once_shutdown_begins_each_payload_gets_one_attempt() {
    let srv = TestServer::start_with_fallback(
        vec![
            Reply::status(503).header("retry-after", "3600"),
            Reply::status(503),
        ],
        Reply::status(202),
    )
    .await;
    let c = client(&srv.base);
    let stop = Stop::default();
    let retrying = stop.retrying.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        retrying.cancel();
    });
    let retry = RetrySettings {
        max_elapsed_time: Duration::ZERO.into(), // forever: only shutdown ends the backoff
        ..fast_retry()
    };
    let (_, body) = agent_payload_body();
    let req = Request::traces(body, &[]);
    let started = std::time::Instant::now();
    let out = c.send_with_retry(&req, &retry, &stop).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "mid-backoff");
    assert!(!out.permanent && out.interrupted);
    assert_eq!((out.status, out.attempts), (Some(503), 1));
    assert!(
        out.reason.ends_with("not retried: shutting down"),
        "{}",
        out.reason
    );
    let out = c.send_with_retry(&req, &retry, &stop).await.unwrap_err();
    assert!(out.interrupted);
    assert_eq!(out.attempts, 1, "tried once, not retried");
    let out = c.send_with_retry(&req, &retry, &stop).await;
    assert_eq!(out, Ok(Delivered { attempts: 1 }));
    assert_eq!(srv.seen().len(), 3);
}

#[tokio::test]
async fn refused_connection_is_retryable_and_never_shows_the_key() {
    let base = refused_base().await;
    let c = client(&base);
    assert!(!format!("{c:?}").contains(KEY));
    assert!(format!("{c:?}").contains("[REDACTED]"));

    let (_, body) = agent_payload_body();
    let out = c.post_traces(body.clone(), &[]).await;
    assert!(
        matches!(out, Outcome::Retryable { status: None, .. }),
        "{out:?}"
    );
    assert!(!format!("{out:?}").contains(KEY));

    let retry = RetrySettings {
        max_elapsed_time: Duration::from_millis(30).into(),
        max_interval: Duration::from_millis(10).into(),
        ..fast_retry()
    };
    let err = c
        .send_with_retry(&Request::traces(body, &[]), &retry, &Stop::default())
        .await
        .unwrap_err();
    assert!(!err.permanent);
    assert!(!format!("{err:?}").contains(KEY));
    assert!(!err.to_string().contains(KEY));
    match c.validate_api_key().await {
        KeyValidity::Unknown(text) => assert!(!text.contains(KEY)),
        v => panic!("{v:?}"),
    }
}

#[tokio::test]
async fn an_echoed_key_is_scrubbed_from_reasons() {
    let srv = TestServer::start(vec![Reply::status(400).body(&format!("bad key {KEY}"))]).await;
    let c = client(&srv.base);
    let out = c.post_series(b"{}").await;
    assert_eq!(
        out,
        Outcome::Permanent {
            status: Some(400),
            reason: "bad key [REDACTED]".into()
        }
    );
}

#[tokio::test]
async fn timeouts_are_retryable() {
    // A listener that accepts but never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let _keep = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            conns.push(s);
        }
    });
    let c = IntakeClient::new(&IntakeSettings {
        timeout: Duration::from_millis(200),
        ..settings(&base, &base)
    })
    .unwrap();
    let out = c.post_series(b"{}").await;
    assert!(
        matches!(out, Outcome::Retryable { status: None, .. }),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_zero_timeout_means_no_limit() {
    // otelcol's `timeout: 0` is "no limit"; reqwest's zero timeout would expire at once.
    let srv = TestServer::start(vec![]).await;
    let c = IntakeClient::new(&IntakeSettings {
        timeout: Duration::ZERO,
        ..settings(&srv.base, &srv.base)
    })
    .unwrap();
    let out = c.post_series(br#"{"series":[]}"#).await;
    assert!(matches!(out, Outcome::Success { .. }), "{out:?}");
}

#[tokio::test]
async fn validate_api_key_answers() {
    let srv = TestServer::start(vec![
        Reply::status(200).body(r#"{"valid":true}"#),
        Reply::status(200).body(r#"{"valid":false}"#),
        Reply::status(403).body(r#"{"errors":["Forbidden"]}"#),
        Reply::status(500).body("oops"),
        Reply::status(200).body("not json"),
    ])
    .await;
    let c = client(&srv.base);
    assert_eq!(c.validate_api_key().await, KeyValidity::Valid);
    assert_eq!(c.validate_api_key().await, KeyValidity::Invalid);
    assert_eq!(c.validate_api_key().await, KeyValidity::Invalid);
    assert_eq!(
        c.validate_api_key().await,
        KeyValidity::Unknown("HTTP 500: oops".into())
    );
    assert!(matches!(
        c.validate_api_key().await,
        KeyValidity::Unknown(_)
    ));
    let seen = srv.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/api/v1/validate");
    assert_eq!(seen[0].header("dd-api-key"), Some(KEY));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_eq!(seen[0].header("user-agent"), Some("kakehashi/0.1.0"));
}

#[test]
fn bad_settings_are_build_errors_without_the_key() {
    let mut s = settings("ftp://x", "http://127.0.0.1:1");
    assert!(IntakeClient::new(&s)
        .unwrap_err()
        .0
        .contains("http or https"));
    s.traces_endpoint = "not a url".into();
    assert!(IntakeClient::new(&s).is_err());
    s.traces_endpoint = "http://127.0.0.1:1".into();
    s.proxy_url = Some("::::".into());
    assert!(IntakeClient::new(&s).is_err());
    s.proxy_url = None;
    s.api_key = Secret::new("abc\ndef");
    let e = IntakeClient::new(&s).unwrap_err();
    assert!(!e.0.contains("abc"));
    s.api_key = Secret::new(KEY);
    s.tls.insecure_skip_verify = true;
    s.proxy_url = Some("http://127.0.0.1:3128".into());
    let c = IntakeClient::new(&s).unwrap();
    assert_eq!(
        c.url(Endpoint::Traces),
        "http://127.0.0.1:1/api/v0.2/traces"
    );
    assert_eq!(c.url(Endpoint::Stats), "http://127.0.0.1:1/api/v0.2/stats");
    assert_eq!(c.url(Endpoint::Series), "http://127.0.0.1:1/api/v2/series");
    assert_eq!(c.url(Endpoint::HostMetadata), "http://127.0.0.1:1/intake");
}

#[test]
fn retry_after_parsing() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    assert_eq!(
        parse_retry_after(" 12 ", now),
        Some(Duration::from_secs(12))
    );
    let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
    assert_eq!(
        parse_retry_after(&later, now),
        Some(Duration::from_secs(30))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn reported_languages_stay_few_short_and_header_safe() {
    use std::collections::BTreeSet;
    let mut seen = BTreeSet::new();
    let batch: BTreeSet<String> = ["python", "go", "bad|pipe", "new\nline", &"x".repeat(33)]
        .into_iter()
        .map(String::from)
        .collect();
    note_reported_languages(&mut seen, &batch);
    assert_eq!(
        seen,
        BTreeSet::from(["go".to_string(), "python".to_string()])
    );
    // A client inventing languages cannot grow the set (and the header) without bound.
    let many: BTreeSet<String> = (0..1000).map(|i| format!("lang{i}")).collect();
    note_reported_languages(&mut seen, &many);
    assert_eq!(seen.len(), 16);
    assert!(seen.contains("python") && seen.contains("go"));
    let header = Request::traces(Bytes::new(), &seen.iter().cloned().collect::<Vec<_>>());
    assert!(HeaderValue::from_str(&header.reported_languages).is_ok());
}
