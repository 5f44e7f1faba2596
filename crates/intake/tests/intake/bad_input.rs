//! Bad input: refused with a reason, nothing stored, good input still accepted afterwards.

use libdd_trace_protobuf::pb;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::*;
use super::stats_body;

type BadCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

/// Writes one HTTP/1.1 request with a chunked body of `total` bytes and returns the status.
async fn post_chunked(addr: std::net::SocketAddr, path: &str, total: usize) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b'x'; 8192];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        req.extend(format!("{n:x}\r\n").as_bytes());
        req.extend(&chunk[..n]);
        req.extend(b"\r\n");
        sent += n;
    }
    req.extend(b"0\r\n\r\n");
    // The server may answer and close before reading everything: a failed write is expected.
    let _ = s.write_all(&req).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_leaves_stored_data_intact() {
    const MAX_BODY: usize = 64 << 10;
    const MAX_DECOMPRESSED: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start(dir.path(), |c| {
        c.max_body_bytes = MAX_BODY;
        c.max_decompressed_bytes = MAX_DECOMPRESSED;
    })
    .await;
    let t0 = now_ns() - 60_000 * MS;
    let good = gzip(&agent_payload(vec![checkout_spans(1, t0)]).encode_to_vec());
    assert_eq!(
        intake
            .post("/api/v0.2/traces", Some("gzip"), good.clone())
            .await
            .0,
        202
    );
    let stats = stats_body("frontend", t0, &[10.0], &[]);
    assert_eq!(
        intake
            .post("/api/v0.2/stats", Some("gzip"), stats.clone())
            .await
            .0,
        202
    );
    let before = counts(&intake).await;
    assert_eq!(before, (4, 1, 1));

    let otlp = kakehashi_pdata::ExportTraceServiceRequest {
        resource_spans: vec![kakehashi_pdata::proto::trace::v1::ResourceSpans {
            scope_spans: vec![kakehashi_pdata::proto::trace::v1::ScopeSpans {
                spans: vec![kakehashi_pdata::proto::trace::v1::Span {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    name: "GET /".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let stats_as_protobuf = pb::StatsPayload {
        agent_hostname: "h".into(),
        agent_env: "prod".into(),
        ..Default::default()
    };
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..16 {
        std::io::Write::write_all(&mut bomb, &vec![0u8; 1 << 20]).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    assert!(
        bomb.len() < MAX_BODY,
        "the bomb itself is under the body limit"
    );
    let mut oversize = good.clone();
    oversize.resize(MAX_BODY + 1024, 0);

    // (name, path, Content-Encoding, body, status, part of the reason)
    let cases: Vec<BadCase> = vec![
        (
            "garbage",
            "/api/v0.2/traces",
            None,
            b"\x00\x01garbage\xff\xfe".repeat(10),
            400,
            "invalid AgentPayload protobuf",
        ),
        (
            "truncated gzip",
            "/api/v0.2/traces",
            Some("gzip"),
            good[..good.len() / 2].to_vec(),
            400,
            "invalid gzip body",
        ),
        (
            "gzip header, plain body",
            "/api/v0.2/traces",
            Some("gzip"),
            agent_payload(vec![checkout_spans(2, t0)]).encode_to_vec(),
            400,
            "invalid gzip body",
        ),
        (
            "unknown encoding",
            "/api/v0.2/traces",
            Some("br"),
            good.clone(),
            400,
            "unsupported Content-Encoding \"br\"",
        ),
        (
            "a StatsPayload protobuf",
            "/api/v0.2/traces",
            Some("gzip"),
            gzip(&stats_as_protobuf.encode_to_vec()),
            400,
            "no spans",
        ),
        (
            "an OTLP request",
            "/api/v0.2/traces",
            Some("gzip"),
            gzip(&otlp.encode_to_vec()),
            400,
            "AgentPayload",
        ),
        (
            "over max_body_bytes",
            "/api/v0.2/traces",
            Some("gzip"),
            oversize,
            413,
            "request body exceeds the limit of 65536 bytes",
        ),
        (
            "gzip bomb",
            "/api/v0.2/traces",
            Some("gzip"),
            bomb,
            413,
            "decompressed body exceeds the limit of 1048576 bytes",
        ),
        (
            "traces to the stats endpoint",
            "/api/v0.2/stats",
            Some("gzip"),
            good.clone(),
            400,
            "invalid StatsPayload msgpack",
        ),
        (
            "series without series",
            "/api/v2/series",
            None,
            b"{\"points\": []}".to_vec(),
            400,
            "no \"series\" array",
        ),
        (
            "logs that are not JSON",
            "/api/v2/logs",
            None,
            b"{not json".to_vec(),
            400,
            "invalid JSON",
        ),
    ];
    for (name, path, enc, body, want_status, want_reason) in cases {
        let (status, answer) = intake.post(path, enc, body).await;
        assert_eq!(status, want_status, "{name}: {answer}");
        let reason = answer["error"].as_str().unwrap_or_default();
        assert!(
            reason.contains(want_reason),
            "{name}: reason {reason:?} lacks {want_reason:?}"
        );
        assert_eq!(
            counts(&intake).await,
            before,
            "{name} changed the stored data"
        );
    }
    // Without Content-Length the limit holds while reading.
    assert_eq!(
        post_chunked(intake.addr, "/api/v0.2/traces", MAX_BODY + 8192).await,
        413
    );
    assert_eq!(counts(&intake).await, before);

    // Every refusal is on record, by status.
    let summary = intake.get_ok("/api/summary").await;
    let by_status = |s: i64| -> i64 {
        summary["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == s)
            .map(|p| p["count"].as_i64().unwrap())
            .sum()
    };
    assert_eq!((by_status(400), by_status(413)), (9, 3));

    // Still accepting good data.
    let next = gzip(&agent_payload(vec![checkout_spans(3, t0)]).encode_to_vec());
    assert_eq!(
        intake.post("/api/v0.2/traces", Some("gzip"), next).await.0,
        202
    );
    assert_eq!(
        intake.post("/api/v0.2/stats", Some("gzip"), stats).await.0,
        202
    );
    assert_eq!(counts(&intake).await, (8, 2, 2));
    intake.stop().await;
}
