//! `generate_traffic` against a running in-process sample-app (loopback only): bounded, and
//! every answered request is a traced request.

mod common;

use common::{closed_port, int_attr, Receiver};
use kakehashi_pdata::proto::trace::v1::span::SpanKind;
use kakehashi_sample_app::traffic::STOP_GRACE;
use kakehashi_sample_app::{generate_traffic, run_on, SampleConfig};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_against_a_running_app_is_bounded_and_traced() {
    let receiver = Receiver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_app, app_stopped) = tokio::sync::oneshot::channel::<()>();
    let config = SampleConfig {
        listen: addr,
        otlp_endpoint: Some(receiver.endpoint()),
        shutdown_timeout: Duration::from_secs(10),
    };
    let app = tokio::spawn(run_on(listener, config, async {
        let _ = app_stopped.await;
    }));

    let rate = 40.0;
    let run_for = Duration::from_secs(1);
    let started = Instant::now();
    let stats = generate_traffic(
        &format!("http://127.0.0.1:{}", addr.port()),
        rate,
        tokio::time::sleep(run_for),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();

    // Bounded in time: the run, plus at most the grace for in-flight requests (+ slack).
    assert!(
        elapsed < run_for + STOP_GRACE + Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Bounded in count: one request per tick (the first tick is immediate).
    let max = (rate * run_for.as_secs_f64()) as u64 + 1;
    assert!(stats.sent >= 1 && stats.sent <= max, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.ok + stats.error_status, stats.sent, "{stats:?}");
    assert!(stats.ok >= 1, "{stats:?}");

    let _ = stop_app.send(());
    let res = tokio::time::timeout(Duration::from_secs(15), app)
        .await
        .expect("the app stops within 15 s")
        .unwrap();
    assert_eq!(res, Ok(()));

    // Every answered request left exactly one SERVER span, each on one of the app's routes, and
    // the 5xx ones are exactly the /fail ones.
    let spans = receiver.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.span.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(servers.len() as u64, stats.sent, "{stats:?}");
    for s in &servers {
        assert!(
            ["GET /health", "GET /slow", "GET /users/{id}", "GET /fail"]
                .contains(&s.span.name.as_str()),
            "{}",
            s.span.name
        );
    }
    let errors = servers
        .iter()
        .filter(|s| int_attr(&s.span.attributes, "http.response.status_code") == Some(500))
        .count() as u64;
    let fails = servers
        .iter()
        .filter(|s| s.span.name == "GET /fail")
        .count() as u64;
    assert_eq!(errors, stats.error_status, "{stats:?}");
    assert_eq!(fails, stats.error_status, "{stats:?}");
    let checks = spans
        .iter()
        .filter(|s| s.span.name == "HealthCheck Local")
        .count();
    let healths = servers
        .iter()
        .filter(|s| s.span.name == "GET /health")
        .count();
    assert_eq!(checks, healths);
}

#[tokio::test]
async fn traffic_to_nothing_fails_fast_and_stops() {
    let port = closed_port();
    let started = Instant::now();
    let stats = generate_traffic(
        &format!("http://127.0.0.1:{port}"),
        20.0,
        tokio::time::sleep(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500) + STOP_GRACE + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(stats.sent >= 1 && stats.sent <= 11, "{stats:?}");
    assert_eq!(stats.ok + stats.error_status, 0, "{stats:?}");
    assert_eq!(stats.failed, stats.sent, "{stats:?}");
}

#[tokio::test]
async fn traffic_refuses_non_loopback_targets() {
    // Rejected before any request is made (the stop future would let it run for a minute).
    for url in [
        "http://192.0.2.1:8080",
        "http://example.com",
        "https://127.0.0.1:1",
    ] {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            generate_traffic(url, 10.0, tokio::time::sleep(Duration::from_secs(60))),
        )
        .await
        .expect("rejected at once");
        assert!(r.is_err(), "{url} accepted");
    }
}
