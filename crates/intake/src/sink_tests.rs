use std::io::Write;

use libdd_trace_protobuf::pb;
use prost::Message;
use serde_json::Value;

use super::*;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn trace_payload(span_ids: &[u64]) -> Vec<u8> {
    let spans = span_ids
        .iter()
        .map(|&id| pb::Span {
            span_id: id,
            trace_id: 7,
            name: "op".into(),
            ..Default::default()
        })
        .collect();
    let p = pb::AgentPayload {
        tracer_payloads: vec![pb::TracerPayload {
            chunks: vec![pb::TraceChunk {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    gzip(&p.encode_to_vec())
}

async fn start() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(run_sink_on(listener, SinkConfig::default(), async move {
        let _ = rx.await;
    }));
    (base, tx)
}

async fn post(c: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::Response {
    c.post(url)
        .header("Content-Encoding", "gzip")
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn counts(c: &reqwest::Client, base: &str) -> Value {
    c.get(format!("{base}/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn counts_spans_unique_ids_duplicates_and_stats() {
    let (base, _stop) = start().await;
    let c = reqwest::Client::new();
    let traces = format!("{base}/api/v0.2/traces");
    assert_eq!(
        post(&c, &traces, trace_payload(&[1, 2, 3])).await.status(),
        202
    );
    // A retried payload: two of its spans were seen already.
    assert_eq!(
        post(&c, &traces, trace_payload(&[3, 4, 2])).await.status(),
        202
    );
    let stats = pb::StatsPayload {
        stats: vec![pb::ClientStatsPayload {
            stats: vec![pb::ClientStatsBucket {
                stats: vec![pb::ClientGroupedStats {
                    hits: 5,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let raw = gzip(&rmp_serde::to_vec_named(&stats).unwrap());
    assert_eq!(
        post(&c, &format!("{base}/api/v0.2/stats"), raw)
            .await
            .status(),
        202
    );

    let n = counts(&c, &base).await;
    assert_eq!(n["trace_payloads"], 2);
    assert_eq!(n["spans"], 6);
    assert_eq!(n["unique_spans"], 4);
    assert_eq!(n["duplicate_spans"], 2);
    assert_eq!(n["chunks"], 2);
    assert_eq!(n["stats_payloads"], 1);
    assert_eq!(n["stats_buckets"], 1);
    assert_eq!(n["stats_hits"], 5);
    assert_eq!(n["bad_payloads"], 0);

    let r = c.post(format!("{base}/counts/reset")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let n = counts(&c, &base).await;
    assert_eq!(n["spans"], 0);
    assert_eq!(n["unique_spans"], 0);
}

#[tokio::test]
async fn garbage_is_400_and_counted_as_bad_while_good_payloads_still_count() {
    let (base, _stop) = start().await;
    let c = reqwest::Client::new();
    let traces = format!("{base}/api/v0.2/traces");
    let r = post(&c, &traces, b"not gzip at all".to_vec()).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("gzip"), "{body}");
    assert_eq!(post(&c, &traces, trace_payload(&[9])).await.status(), 202);
    let n = counts(&c, &base).await;
    assert_eq!(n["bad_payloads"], 1);
    assert_eq!(n["spans"], 1);
}

#[tokio::test]
async fn injected_faults_refuse_without_counting_then_recover() {
    let (base, _stop) = start().await;
    let c = reqwest::Client::new();
    let traces = format!("{base}/api/v0.2/traces");
    let r = c
        .post(format!("{base}/control"))
        .body(r#"{"status": 503, "retry_after_s": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = post(&c, &traces, trace_payload(&[1])).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");

    let r = c
        .post(format!("{base}/control"))
        .body(r#"{"status": 0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(post(&c, &traces, trace_payload(&[1])).await.status(), 202);
    let n = counts(&c, &base).await;
    assert_eq!(n["refused_payloads"], 1);
    assert_eq!(n["spans"], 1);

    let r = c
        .post(format!("{base}/control"))
        .body(r#"{"status": 99}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{base}/control"))
        .body(r#"{"stauts": 503}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unknown keys are refused");
}

#[tokio::test]
async fn reset_mode_resets_intake_requests_but_still_answers_control() {
    let (base, _stop) = start().await;
    let c = reqwest::Client::new();
    let traces = format!("{base}/api/v0.2/traces");
    assert_eq!(post(&c, &traces, trace_payload(&[1])).await.status(), 202);
    let control = |body: &'static str| c.post(format!("{base}/control")).body(body).send();
    assert_eq!(control(r#"{"reset": true}"#).await.unwrap().status(), 204);
    let r = c
        .post(&traces)
        .header("Content-Encoding", "gzip")
        .body(trace_payload(&[2]))
        .send()
        .await;
    assert!(r.is_err(), "the connection is reset, got {r:?}");
    assert_eq!(counts(&c, &base).await["spans"], 1);

    assert_eq!(control(r#"{"status": 0}"#).await.unwrap().status(), 204);
    assert_eq!(post(&c, &traces, trace_payload(&[2])).await.status(), 202);
    assert_eq!(counts(&c, &base).await["unique_spans"], 2);
}

#[tokio::test]
async fn a_counting_sink_keeps_its_counters_across_a_restart() {
    let sink = CountingSink::new(SinkConfig::default());
    let c = reqwest::Client::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let sink = sink.clone();
        async move {
            sink.serve(listener, async move {
                let _ = rx.await;
            })
            .await
        }
    });
    let traces = format!("{base}/api/v0.2/traces");
    assert_eq!(post(&c, &traces, trace_payload(&[1])).await.status(), 202);
    drop(c);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { sink.serve(listener, std::future::pending()).await });
    let c = reqwest::Client::new();
    assert_eq!(
        post(&c, &traces, trace_payload(&[1, 2])).await.status(),
        202
    );
    let n = counts(&c, &base).await;
    assert_eq!(n["unique_spans"], 2);
    assert_eq!(n["duplicate_spans"], 1);
}
