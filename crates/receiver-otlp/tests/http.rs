//! OTLP/HTTP over real sockets.

mod common;

use common::*;
use kakehashi_component::{ConsumeError, Receiver};
use kakehashi_config::Optional;
use kakehashi_receiver_otlp::config::{CorsConfig, HttpServerConfig};
use kakehashi_receiver_otlp::OtlpReceiver;
use prost::Message;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PB: &str = "application/x-protobuf";

struct Srv {
    r: OtlpReceiver,
    base: String,
    http: reqwest::Client,
}

impl Srv {
    async fn new(cfg: HttpServerConfig, t: Option<Arc<Recorder>>) -> Srv {
        let r = start(None, Some(cfg), consumers(t, None, None)).await;
        let base = format!("http://{}", r.http_addr().unwrap());
        Srv {
            r,
            base,
            http: reqwest::Client::new(),
        }
    }
    async fn post(
        &self,
        path: &str,
        ct: &str,
        enc: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", ct)
            .body(body);
        if let Some(e) = enc {
            rb = rb.header("content-encoding", e);
        }
        rb.send().await.unwrap()
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

async fn text(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn protobuf_json_and_compression() {
    let t = Arc::new(Recorder::default());
    let mut s = Srv::new(
        HttpServerConfig {
            include_metadata: true,
            ..Default::default()
        },
        Some(t.clone()),
    )
    .await;

    let r = s
        .post("/v1/traces", PB, None, traces(2).encode_to_vec())
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], PB);
    let body = r.bytes().await.unwrap();
    let resp =
        kakehashi_pdata::proto::collector::trace::v1::ExportTraceServiceResponse::decode(body)
            .unwrap();
    assert_eq!(resp.partial_success.unwrap_or_default().rejected_spans, 0);
    assert_eq!(t.last().item_count(), 2);
    assert!(t.last().metadata.get("content-type").is_some());
    assert!(t.last().metadata.addr.is_some());

    let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","name":"j","kind":2,"startTimeUnixNano":"1"}]}]}]}"#;
    let r = s
        .post(
            "/v1/traces",
            "application/json; charset=utf-8",
            None,
            json.into(),
        )
        .await;
    assert_eq!(
        text(r).await,
        (
            200,
            "application/json".into(),
            r#"{"partialSuccess":{}}"#.into()
        )
    );
    let kakehashi_pdata::Payload::Traces(got) = t.last().into_payload() else {
        panic!()
    };
    let span = &got.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, TRACE_ID);
    assert_eq!(span.span_id, SPAN_ID);

    let r = s
        .post(
            "/v1/traces",
            PB,
            Some("gzip"),
            gzip(&traces(3).encode_to_vec()),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(t.last().item_count(), 3);
    let z = zstd::encode_all(&traces(4).encode_to_vec()[..], 3).unwrap();
    let r = s.post("/v1/traces", PB, Some("zstd"), z).await;
    assert_eq!(r.status(), 200);
    assert_eq!(t.last().item_count(), 4);
    // confighttp's other decoders: snappy as a block or framed, x-snappy-framed, lz4 frames.
    let raw = traces(5).encode_to_vec();
    let block = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let mut framed = snap::write::FrameEncoder::new(Vec::new());
    framed.write_all(&raw).unwrap();
    let framed = framed.into_inner().unwrap();
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz4.write_all(&raw).unwrap();
    let lz4 = lz4.finish().unwrap();
    for (encoding, body) in [
        ("snappy", block),
        ("snappy", framed.clone()),
        ("x-snappy-framed", framed),
        ("lz4", lz4),
    ] {
        let r = s.post("/v1/traces", PB, Some(encoding), body).await;
        assert_eq!(r.status(), 200, "{encoding}");
        assert_eq!(t.last().item_count(), 5, "{encoding}");
    }

    // Zero spans: 200 without a pipeline call.
    let before = t.count();
    assert_eq!(
        s.post("/v1/traces", PB, None, traces(0).encode_to_vec())
            .await
            .status(),
        200
    );
    assert_eq!(t.count(), before);
    s.r.shutdown().await;
}

#[tokio::test]
async fn exact_error_responses() {
    let t = Arc::new(Recorder::default());
    let mut s = Srv::new(HttpServerConfig::default(), Some(t.clone())).await;

    let r = s
        .http
        .get(format!("{}/v1/traces", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(r).await,
        (
            405,
            "text/plain".into(),
            "405 method not allowed, supported: [POST]".into()
        )
    );
    let r = s.post("/v1/traces", "text/plain", None, vec![]).await;
    assert_eq!(
        text(r).await,
        (
            415,
            "text/plain".into(),
            "415 unsupported media type, supported: [application/json, application/x-protobuf]"
                .into()
        )
    );
    let (st, _, body) = text(s.post("/nope", PB, None, vec![]).await).await;
    assert_eq!((st, body.as_str()), (404, "404 page not found\n"));
    // Metrics has no pipeline: its path is not registered.
    assert_eq!(
        s.post("/v1/metrics", PB, None, metrics(1).encode_to_vec())
            .await
            .status(),
        404
    );
    // Refused before the OTLP handler: otelcol's error handler, a Status in the request's
    // encoding.
    let r = s.post("/v1/traces", PB, Some("br"), vec![1]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], PB);
    let st = RpcStatusBody::decode(&r.bytes().await.unwrap()[..]).expect("a Status");
    assert_eq!(
        (st.code, st.message.as_str()),
        (3, "unsupported Content-Encoding: br")
    );

    let r = s
        .post("/v1/traces", PB, None, b"\xff\xff\xff\xffgarbage".to_vec())
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], PB);
    let st = kakehashi_receiver_otlp_status(r.bytes().await.unwrap().to_vec());
    assert_eq!(st, 3);
    // Still serving after garbage.
    assert_eq!(
        s.post("/v1/traces", PB, None, traces(1).encode_to_vec())
            .await
            .status(),
        200
    );

    let bad_id = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8e","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
    let (st, ct, body) = text(
        s.post("/v1/traces", "application/json", None, bad_id.into())
            .await,
    )
    .await;
    assert_eq!((st, ct.as_str()), (400, "application/json"));
    assert!(body.starts_with(r#"{"code":3,"message":"#), "{body}");
    assert_eq!(t.count(), 1);
    s.r.shutdown().await;
}

/// Decodes the `code` of a protobuf google.rpc.Status (field 1, varint).
/// A google.rpc.Status body.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatusBody {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn kakehashi_receiver_otlp_status(b: Vec<u8>) -> i32 {
    assert_eq!(b[0], 0x08, "{b:?}");
    b[1] as i32
}

#[tokio::test]
async fn body_limits_and_gzip_bomb() {
    let t = Arc::new(Recorder::default());
    let cfg = HttpServerConfig {
        max_request_body_size: 64 * 1024,
        ..Default::default()
    };
    let mut s = Srv::new(cfg, Some(t.clone())).await;

    let (st, _, body) = text(
        s.post(
            "/v1/traces",
            "application/json",
            None,
            vec![b' '; 100 * 1024],
        )
        .await,
    )
    .await;
    assert_eq!(st, 400);
    assert!(body.contains("http: request body too large"), "{body}");

    // 100 MiB of zeros compresses to ~100 KiB; stream it compressed under the raw limit by
    // raising the limit slightly above the compressed size but far below the inflated size.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
    // A snappy block announcing more than the limit is refused before it is inflated.
    let mut claim = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        claim.push((n as u8) | 0x80);
        n >>= 7;
    }
    claim.push(n as u8);
    claim.extend_from_slice(&[0u8; 16]);
    let r = s.post("/v1/traces", PB, Some("snappy"), claim).await;
    assert_eq!(r.status(), 400);
    s.r.shutdown().await;
    let cfg = HttpServerConfig {
        max_request_body_size: 256 * 1024,
        ..Default::default()
    };
    let mut s = Srv::new(cfg, Some(t.clone())).await;
    let started = Instant::now();
    let (st, _, body) = text(s.post("/v1/traces", PB, Some("gzip"), bomb).await).await;
    assert_eq!(st, 400);
    assert!(body.contains("http: request body too large"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(t.count(), 0);
    s.r.shutdown().await;
}

#[tokio::test]
async fn pipeline_errors() {
    for (err, want) in [
        (ConsumeError::retryable("full"), 503),
        (ConsumeError::permanent("broken"), 500),
        (
            ConsumeError {
                grpc_code: Some(8),
                ..ConsumeError::retryable("x")
            },
            429,
        ),
    ] {
        let mut s = Srv::new(HttpServerConfig::default(), Some(Recorder::failing(err))).await;
        let r = s
            .post(
                "/v1/traces",
                "application/json",
                None,
                br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}"#.to_vec(),
            )
            .await;
        assert_eq!(r.status(), want);
        assert!(r.headers().get("retry-after").is_none());
        let body = r.text().await.unwrap();
        assert!(body.starts_with(r#"{"code":"#), "{body}");
        s.r.shutdown().await;
    }
    let mut e = ConsumeError::retryable("throttled");
    // Whole seconds, rounded down, as otelcol writes it.
    e.retry_after = Some(Duration::from_millis(7900));
    let mut s = Srv::new(HttpServerConfig::default(), Some(Recorder::failing(e))).await;
    let r = s
        .post("/v1/traces", PB, None, traces(1).encode_to_vec())
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    s.r.shutdown().await;
}

#[tokio::test]
async fn uncompressed_bodies_need_the_empty_algorithm_listed() {
    let cfg = HttpServerConfig {
        compression_algorithms: vec!["gzip".into()],
        ..Default::default()
    };
    let mut s = Srv::new(cfg, Some(Arc::new(Recorder::default()))).await;
    let r = s
        .post(
            "/v1/traces",
            "application/json",
            None,
            br#"{"resourceSpans":[]}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":3,"message":"unsupported Content-Encoding: "}"#
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &traces(1).encode_to_vec()).unwrap();
    let r = s
        .post("/v1/traces", PB, Some("gzip"), gz.finish().unwrap())
        .await;
    assert_eq!(r.status(), 200);
    s.r.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_string_is_accepted_as_otelcol_does() {
    let t = Arc::new(Recorder::default());
    let mut s = Srv::new(HttpServerConfig::default(), Some(t.clone())).await;
    let mut body = traces(2).encode_to_vec();
    let at = body
        .windows(6)
        .position(|w| w == b"span-1")
        .expect("the second span's name");
    body[at + 4] = 0xff;
    let r = s.post("/v1/traces", PB, None, body).await;
    assert_eq!(r.status(), 200);
    let b = t.last();
    let kakehashi_pdata::Payload::Traces(req) = &*b.payload else {
        panic!("traces")
    };
    let names: Vec<&str> = req.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["span-0", "span\u{FFFD}1"]);
    s.r.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_actual() {
    let cfg = HttpServerConfig {
        cors: Optional::some(CorsConfig {
            allowed_origins: vec!["https://*.example.com".into()],
            max_age: 600,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut s = Srv::new(cfg, Some(Arc::new(Recorder::default()))).await;
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/traces", s.base))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-max-age"], "600");

    let r = s
        .http
        .post(format!("{}/v1/traces", s.base))
        .header("origin", "https://evil.com")
        .header("content-type", PB)
        .body(traces(1).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    s.r.shutdown().await;
}

/// What an otelcol `otlphttp` exporter with `encoding: json` sends for a NaN gauge and an
/// infinite histogram bound (protojson's string forms): accepted like otelcol, values intact,
/// and a malformed double in another request is still a 400 that loses nothing else.
#[tokio::test]
async fn json_non_finite_doubles_are_accepted() {
    use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point::Value as V};
    let m = Arc::new(Recorder::default());
    let r = start(
        None,
        Some(HttpServerConfig::default()),
        consumers(None, Some(m.clone()), None),
    )
    .await;
    let mut s = Srv {
        base: format!("http://{}", r.http_addr().unwrap()),
        r,
        http: reqwest::Client::new(),
    };

    let body = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
        {"name":"queue.ratio","gauge":{"dataPoints":[{"timeUnixNano":"1","asDouble":"NaN"},{"timeUnixNano":"2","asDouble":0.25}]}},
        {"name":"latency","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","sum":3,"bucketCounts":["1","0"],"explicitBounds":["Infinity"]}]}}
    ]}]}]}"#;
    let bad = body.replace("\"NaN\"", "\"not-a-number\"");
    let (status, _, msg) = text(
        s.post("/v1/metrics", "application/json", None, bad.into())
            .await,
    )
    .await;
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("not-a-number"), "{msg}");
    assert_eq!(m.count(), 0);

    let (status, _, msg) = text(
        s.post("/v1/metrics", "application/json", None, body.into())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{msg}");
    let kakehashi_pdata::Payload::Metrics(got) = m.last().into_payload() else {
        panic!("not metrics")
    };
    let metrics = &got.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(g)) = &metrics[0].data else {
        panic!("gauge lost")
    };
    assert!(matches!(g.data_points[0].value, Some(V::AsDouble(f)) if f.is_nan()));
    assert_eq!(g.data_points[1].value, Some(V::AsDouble(0.25)));
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!("histogram lost")
    };
    assert_eq!(h.data_points[0].explicit_bounds, [f64::INFINITY]);
    s.r.shutdown().await;
}
