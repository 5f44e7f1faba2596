//! The otlphttp exporter against an in-process axum server.

mod common;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kakehashi_component::{Batch, Exporter};
use kakehashi_config::Secret;
use kakehashi_exporter_otlp::{OtlpHttpConfig, OtlpHttpExporter};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, Payload,
    Signal,
};
use prost::Message;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    /// Decompressed body.
    body: Vec<u8>,
}

/// (status, extra headers, body).
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

#[derive(Default)]
struct Server {
    seen: Mutex<Vec<Seen>>,
    /// What to answer with; 200 and empty when unset.
    answer: Mutex<Option<Answer>>,
    /// How long each answer takes; requests in flight now and at most.
    delay: Mutex<Duration>,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

async fn handle(State(st): State<Arc<Server>>, req: Request) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    let now = st.in_flight.fetch_add(1, SeqCst) + 1;
    st.max_in_flight.fetch_max(now, SeqCst);
    let delay = *st.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    st.in_flight.fetch_sub(1, SeqCst);
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let raw = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = match headers.get("content-encoding").map(|v| v.to_str().unwrap()) {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some("zstd") => zstd::decode_all(&raw[..]).unwrap(),
        Some("zlib") | Some("deflate") => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        _ => raw.to_vec(),
    };
    st.seen.lock().unwrap().push(Seen {
        path,
        headers,
        body,
    });
    match st.answer.lock().unwrap().clone() {
        None => StatusCode::OK.into_response(),
        Some((code, hdrs, body)) => {
            let mut r = (StatusCode::from_u16(code).unwrap(), Bytes::from(body)).into_response();
            for (k, v) in hdrs {
                r.headers_mut().insert(k, v.parse().unwrap());
            }
            r
        }
    }
}

async fn server() -> (SocketAddr, Arc<Server>) {
    let st = Arc::new(Server::default());
    let app = axum::Router::new().fallback(handle).with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, st)
}

fn config(addr: SocketAddr) -> OtlpHttpConfig {
    OtlpHttpConfig {
        endpoint: format!("http://{addr}/"),
        ..Default::default()
    }
}

fn decode(seen: &Seen, signal: Signal, json: bool) -> Payload {
    match (signal, json) {
        (Signal::Traces, false) => ExportTraceServiceRequest::decode(&seen.body[..])
            .unwrap()
            .into(),
        (Signal::Metrics, false) => ExportMetricsServiceRequest::decode(&seen.body[..])
            .unwrap()
            .into(),
        (Signal::Logs, false) => ExportLogsServiceRequest::decode(&seen.body[..])
            .unwrap()
            .into(),
        (Signal::Traces, true) => serde_json::from_slice::<ExportTraceServiceRequest>(&seen.body)
            .unwrap()
            .into(),
        (Signal::Metrics, true) => {
            serde_json::from_slice::<ExportMetricsServiceRequest>(&seen.body)
                .unwrap()
                .into()
        }
        (Signal::Logs, true) => serde_json::from_slice::<ExportLogsServiceRequest>(&seen.body)
            .unwrap()
            .into(),
    }
}

fn payloads() -> [Payload; 3] {
    [
        Payload::Traces(common::traces()),
        Payload::Metrics(common::metrics()),
        Payload::Logs(common::logs()),
    ]
}

#[tokio::test]
async fn proto_with_gzip_headers_and_paths() {
    let (addr, st) = server().await;
    let mut cfg = config(addr);
    cfg.headers
        .insert("Authorization".into(), Secret::new("Bearer t0k"));
    for p in payloads() {
        let exp = OtlpHttpExporter::new(&cfg, p.signal()).unwrap();
        exp.export(&Batch::new(p.clone())).await.unwrap();
        let seen = st.seen.lock().unwrap().pop().unwrap();
        assert_eq!(seen.path, format!("/v1/{}", p.signal()), "no double slash");
        assert_eq!(seen.headers["content-type"], "application/x-protobuf");
        assert_eq!(seen.headers["content-encoding"], "gzip");
        assert_eq!(seen.headers["authorization"], "Bearer t0k");
        assert_eq!(decode(&seen, p.signal(), false), p);
    }
}

#[tokio::test]
async fn json_is_otlp_json_and_round_trips() {
    let (addr, st) = server().await;
    let mut cfg = config(addr);
    cfg.encoding = "json".into();
    cfg.compression = "none".into();
    for p in payloads() {
        let exp = OtlpHttpExporter::new(&cfg, p.signal()).unwrap();
        exp.export(&Batch::new(p.clone())).await.unwrap();
        let seen = st.seen.lock().unwrap().pop().unwrap();
        assert_eq!(seen.headers["content-type"], "application/json");
        assert!(seen.headers.get("content-encoding").is_none());
        assert_eq!(decode(&seen, p.signal(), true), p);
    }
    // OTLP/JSON specifics: hex ids, int64 as strings, enums as integers, camelCase.
    let exp = OtlpHttpExporter::new(&cfg, Signal::Traces).unwrap();
    exp.export(&Batch::new(common::traces())).await.unwrap();
    let body = String::from_utf8(st.seen.lock().unwrap().pop().unwrap().body).unwrap();
    assert!(
        body.contains(r#""traceId":"0102030405060708090a0b0c0d0e0f10""#),
        "{body}"
    );
    assert!(body.contains(r#""spanId":"0102030405060708""#));
    assert!(body.contains(r#""startTimeUnixNano":"1700000000000000001""#));
    assert!(body.contains(r#""intValue":"-9223372036854775808""#));
    assert!(body.contains(r#""kind":2"#));
}

/// NaN, ±Infinity and an unset histogram `sum` go out as otelcol writes them (`"NaN"`, …, and no
/// `sum` key, where serde alone wrote `null`, which otelcol's reader refuses) and come back intact
/// through the OTLP/HTTP receiver's JSON decoder.
#[tokio::test]
async fn json_non_finite_and_unset_doubles_round_trip() {
    use kakehashi_pdata::proto::metrics::v1::{
        metric::Data, number_data_point::Value as V, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let (addr, st) = server().await;
    let mut cfg = config(addr);
    cfg.encoding = "json".into();
    cfg.compression = "none".into();
    let metric = |data| Metric {
        name: "m".into(),
        data: Some(data),
        ..Default::default()
    };
    let sent = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(Data::Gauge(Gauge {
                        data_points: [f64::NAN, f64::NEG_INFINITY, 0.5]
                            .map(|x| NumberDataPoint {
                                value: Some(V::AsDouble(x)),
                                time_unix_nano: 1,
                                ..Default::default()
                            })
                            .to_vec(),
                    })),
                    metric(Data::Histogram(Histogram {
                        aggregation_temporality: 2,
                        data_points: vec![HistogramDataPoint {
                            count: 1,
                            sum: None,
                            min: Some(2.0),
                            max: Some(f64::INFINITY),
                            bucket_counts: vec![1, 0],
                            explicit_bounds: vec![f64::INFINITY],
                            ..Default::default()
                        }],
                    })),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let exp = OtlpHttpExporter::new(&cfg, Signal::Metrics).unwrap();
    exp.export(&Batch::new(sent)).await.unwrap();
    let body = st.seen.lock().unwrap().pop().unwrap().body;
    let text = String::from_utf8(body.clone()).unwrap();
    // Unset messages (`"resource":null`) are fine for otelcol; unset doubles are left out.
    assert!(!text.contains(r#""sum""#), "{text}");
    assert!(text.contains(r#""asDouble":"NaN""#), "{text}");
    let Ok(Payload::Metrics(got)) =
        kakehashi_receiver_otlp::decode::decode_json(Signal::Metrics, &body)
    else {
        panic!("the receiver refused {text}")
    };
    let ms = &got.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(g)) = &ms[0].data else {
        panic!("gauge lost")
    };
    assert!(matches!(g.data_points[0].value, Some(V::AsDouble(x)) if x.is_nan()));
    assert_eq!(g.data_points[1].value, Some(V::AsDouble(f64::NEG_INFINITY)));
    assert_eq!(g.data_points[2].value, Some(V::AsDouble(0.5)));
    let Some(Data::Histogram(h)) = &ms[1].data else {
        panic!("histogram lost")
    };
    let p = &h.data_points[0];
    assert_eq!(
        (p.sum, p.min, p.max),
        (None, Some(2.0), Some(f64::INFINITY))
    );
    assert_eq!(p.explicit_bounds, [f64::INFINITY]);
}

#[tokio::test]
async fn zstd_and_zlib() {
    let (addr, st) = server().await;
    for c in ["zstd", "zlib", "deflate"] {
        let mut cfg = config(addr);
        cfg.compression = c.into();
        let exp = OtlpHttpExporter::new(&cfg, Signal::Logs).unwrap();
        exp.export(&Batch::new(common::logs())).await.unwrap();
        let seen = st.seen.lock().unwrap().pop().unwrap();
        assert_eq!(seen.headers["content-encoding"], c);
        assert_eq!(
            decode(&seen, Signal::Logs, false),
            Payload::Logs(common::logs())
        );
    }
}

#[tokio::test]
async fn per_signal_endpoints_are_verbatim() {
    let (addr, st) = server().await;
    let cfg = OtlpHttpConfig {
        traces_endpoint: format!("http://{addr}/custom/path"),
        ..Default::default()
    };
    let exp = OtlpHttpExporter::new(&cfg, Signal::Traces).unwrap();
    exp.export(&Batch::new(common::traces())).await.unwrap();
    assert_eq!(st.seen.lock().unwrap()[0].path, "/custom/path");
    assert!(
        OtlpHttpExporter::new(&cfg, Signal::Logs).is_err(),
        "no URL for logs"
    );
}

#[tokio::test]
async fn throttled_503_is_retryable_with_retry_after() {
    let (addr, st) = server().await;
    *st.answer.lock().unwrap() = Some((503, vec![("retry-after", "7".into())], vec![]));
    let exp = OtlpHttpExporter::new(&config(addr), Signal::Traces).unwrap();
    let e = exp.export(&Batch::new(common::traces())).await.unwrap_err();
    assert!(!e.permanent);
    assert_eq!(e.throttle, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn bad_request_is_permanent_with_otelcol_message() {
    let (addr, st) = server().await;
    // A google.rpc.Status body: code 3, message "bad span".
    let mut status = vec![0x08, 0x03, 0x12, 0x08];
    status.extend_from_slice(b"bad span");
    *st.answer.lock().unwrap() = Some((
        400,
        vec![("content-type", "application/x-protobuf".into())],
        status,
    ));
    let exp = OtlpHttpExporter::new(&config(addr), Signal::Traces).unwrap();
    let e = exp.export(&Batch::new(common::traces())).await.unwrap_err();
    assert!(e.permanent);
    assert_eq!(
        e.message,
        format!(
            "rpc error: code = InvalidArgument desc = error exporting items, request to http://{addr}/v1/traces responded with HTTP Status Code 400, Message=bad span, Details=[]"
        )
    );
    // The code reaches a receiver that answers the client without a queue in between.
    assert_eq!(e.grpc_code, Some(3));
}

#[tokio::test]
async fn partial_success_body_is_success_and_garbage_is_retried() {
    let (addr, st) = server().await;
    // ExportTraceServiceResponse{partial_success{rejected_spans: 1, error_message: "x"}}
    let body = kakehashi_pdata::proto::collector::trace::v1::ExportTraceServiceResponse {
        partial_success: Some(
            kakehashi_pdata::proto::collector::trace::v1::ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "x".into(),
            },
        ),
    }
    .encode_to_vec();
    let proto = ("content-type", "application/x-protobuf".to_string());
    *st.answer.lock().unwrap() = Some((200, vec![proto.clone()], body));
    let exp = OtlpHttpExporter::new(&config(addr), Signal::Traces).unwrap();
    exp.export(&Batch::new(common::traces())).await.unwrap();
    *st.answer.lock().unwrap() = Some((200, vec![proto], vec![0xff, 0xff, 0xff]));
    let e = exp.export(&Batch::new(common::traces())).await.unwrap_err();
    // otelcol's error, which its retry sender retries.
    assert!(!e.permanent, "{e:?}");
    assert!(
        e.message.starts_with("error parsing protobuf response: "),
        "{e:?}"
    );
    // A Content-Type with parameters is not OTLP's to otelcol: the body is not read.
    let with_charset = (
        "content-type",
        "application/json; charset=utf-8".to_string(),
    );
    *st.answer.lock().unwrap() = Some((200, vec![with_charset], b"not json".to_vec()));
    exp.export(&Batch::new(common::traces())).await.unwrap();
}

#[tokio::test]
async fn network_error_is_retryable() {
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let exp = OtlpHttpExporter::new(&config(addr), Signal::Metrics).unwrap();
    let e = exp
        .export(&Batch::new(common::metrics()))
        .await
        .unwrap_err();
    assert!(!e.permanent, "{e:?}");
}

#[test]
fn validation() {
    use kakehashi_config::Validate;
    let cfg = OtlpHttpConfig::default();
    assert_eq!(
        cfg.validate(),
        vec!["at least one endpoint must be specified".to_string()]
    );
    let cfg = OtlpHttpConfig {
        endpoint: "http://x:4318".into(),
        encoding: "xml".into(),
        compression: "lz4".into(),
        ..Default::default()
    };
    let errs = cfg.validate();
    assert_eq!(errs[0], "invalid encoding type: xml");
    assert!(errs[1].contains("\"lz4\" is not supported yet"), "{errs:?}");
    let cfg = OtlpHttpConfig {
        endpoint: "http://x:4318".into(),
        ..Default::default()
    };
    assert!(cfg.validate().is_empty());
    assert!(
        cfg.helper_settings().timeout.is_zero(),
        "the client enforces the 30s timeout"
    );
    assert_eq!(cfg.timeout, kakehashi_config::Duration::from_secs(30));
    assert_eq!(
        cfg.signal_url(Signal::Metrics).unwrap(),
        "http://x:4318/v1/metrics"
    );
}

#[tokio::test]
async fn max_conns_per_host_bounds_the_requests_in_flight() {
    use std::sync::atomic::Ordering::SeqCst;
    for (limit, want_max) in [(Some(1), 1), (None, 3)] {
        let (addr, st) = server().await;
        *st.delay.lock().unwrap() = Duration::from_millis(200);
        let cfg = OtlpHttpConfig {
            max_conns_per_host: limit,
            ..config(addr)
        };
        let exp = OtlpHttpExporter::new(&cfg, Signal::Traces).unwrap();
        let b = Batch::new(common::traces());
        let (r1, r2, r3) = tokio::join!(exp.export(&b), exp.export(&b), exp.export(&b));
        r1.unwrap();
        r2.unwrap();
        r3.unwrap();
        assert_eq!(st.max_in_flight.load(SeqCst), want_max, "limit {limit:?}");
    }
}
