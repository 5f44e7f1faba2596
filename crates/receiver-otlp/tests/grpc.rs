//! OTLP/gRPC over real sockets.

mod common;

use common::*;
use kakehashi_component::ConsumeError;
use kakehashi_component::Receiver;
use kakehashi_pdata::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use kakehashi_pdata::proto::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use kakehashi_pdata::proto::collector::trace::v1::ExportTraceServiceResponse;
use kakehashi_receiver_otlp::config::GrpcServerConfig;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::Code;

async fn client(r: &kakehashi_receiver_otlp::OtlpReceiver) -> tonic::transport::Channel {
    let addr = r.grpc_addr().expect("grpc bound");
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn all_signals_accepted_with_gzip_and_metadata() {
    let (t, m, l) = (
        std::sync::Arc::new(Recorder::default()),
        std::sync::Arc::new(Recorder::default()),
        std::sync::Arc::new(Recorder::default()),
    );
    let cfg = GrpcServerConfig {
        include_metadata: true,
        ..Default::default()
    };
    let mut r = start(
        Some(cfg),
        None,
        consumers(Some(t.clone()), Some(m.clone()), Some(l.clone())),
    )
    .await;
    let ch = client(&r).await;

    let mut tc = TraceServiceClient::new(ch.clone()).send_compressed(CompressionEncoding::Gzip);
    let mut req = tonic::Request::new(traces(3));
    req.metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    let resp = tc.export(req).await.expect("export ok").into_inner();
    assert!(resp.partial_success.is_none());
    let b = t.last();
    assert_eq!(b.item_count(), 3);
    assert_eq!(b.metadata.get("x-tenant"), Some(&["acme".to_string()][..]));
    assert!(b.metadata.get("host").is_some(), "{:?}", b.metadata);
    assert!(b.metadata.get("user-agent").is_some(), "{:?}", b.metadata);
    // grpc-go's reserved fields are not client metadata.
    for reserved in ["te", "content-type", "grpc-encoding", "grpc-timeout"] {
        assert!(
            b.metadata.get(reserved).is_none(),
            "{reserved}: {:?}",
            b.metadata
        );
    }
    assert!(b.metadata.addr.is_some());

    MetricsServiceClient::new(ch.clone())
        .send_compressed(CompressionEncoding::Zstd)
        .export(metrics(2))
        .await
        .unwrap();
    assert_eq!(m.last().item_count(), 2);
    LogsServiceClient::new(ch.clone())
        .export(logs(4))
        .await
        .unwrap();
    assert_eq!(l.last().item_count(), 4);

    // Zero items: success without calling the pipeline.
    TraceServiceClient::new(ch).export(traces(0)).await.unwrap();
    assert_eq!(t.count(), 1);
    r.shutdown().await;
}

/// Large request metadata (a bearer JWT with many claims, `include_metadata` setups) passes:
/// the header list may be up to 1 MiB, as on the HTTP side, not hyper's default of 16 KiB.
#[tokio::test]
async fn large_metadata_is_accepted() {
    let t = std::sync::Arc::new(Recorder::default());
    let cfg = GrpcServerConfig {
        include_metadata: true,
        ..Default::default()
    };
    let mut r = start(Some(cfg), None, consumers(Some(t.clone()), None, None)).await;
    let mut tc = TraceServiceClient::new(client(&r).await);
    let token = "j".repeat(64 * 1024);
    let mut req = tonic::Request::new(traces(1));
    req.metadata_mut()
        .insert("x-big-token", token.parse().unwrap());
    tc.export(req).await.expect("export ok");
    assert_eq!(
        t.last().metadata.get("x-big-token").map(|v| v[0].len()),
        Some(token.len())
    );
    r.shutdown().await;
}

#[tokio::test]
async fn unregistered_signal_is_unimplemented_and_oversized_is_resource_exhausted() {
    let t = std::sync::Arc::new(Recorder::default());
    let cfg = GrpcServerConfig {
        max_recv_msg_size_mib: 1,
        ..Default::default()
    };
    let mut r = start(Some(cfg), None, consumers(Some(t.clone()), None, None)).await;
    let ch = client(&r).await;
    let err = LogsServiceClient::new(ch.clone())
        .export(logs(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    // A method the registered trace service does not have.
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let err = grpc
        .unary(
            tonic::Request::new(traces(1)),
            http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Import",
            ),
            tonic_prost::ProstCodec::<_, ExportTraceServiceResponse>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(t.count(), 0);

    let mut big = traces(1);
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(2 << 20);
    let err = TraceServiceClient::new(ch.clone())
        .export(big)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message()
            .starts_with("grpc: received message larger than max ("),
        "{err:?}"
    );
    assert!(err.message().ends_with(" vs. 1048576)"), "{err:?}");
    assert_eq!(t.count(), 0);
    // Still serving afterwards.
    TraceServiceClient::new(ch).export(traces(1)).await.unwrap();
    r.shutdown().await;
}

#[tokio::test]
async fn pipeline_errors_map_to_codes() {
    let mut retry = ConsumeError::retryable("queue is full");
    retry.retry_after = Some(Duration::from_secs(2));
    let cases = [
        (ConsumeError::permanent("bad data"), Code::Internal),
        (ConsumeError::retryable("try later"), Code::Unavailable),
        (retry, Code::Unavailable),
        (
            ConsumeError {
                grpc_code: Some(Code::ResourceExhausted as i32),
                ..ConsumeError::retryable("downstream")
            },
            Code::ResourceExhausted,
        ),
    ];
    for (err, code) in cases {
        let with_retry = err.retry_after.is_some();
        let c = Recorder::failing(err.clone());
        let mut r = start(
            Some(GrpcServerConfig::default()),
            None,
            consumers(Some(c), None, None),
        )
        .await;
        let st = TraceServiceClient::new(client(&r).await)
            .export(traces(1))
            .await
            .unwrap_err();
        assert_eq!(st.code(), code);
        assert_eq!(st.message(), err.message);
        assert_eq!(!st.details().is_empty(), with_retry);
        r.shutdown().await;
    }
}

#[tokio::test]
async fn bind_failure_names_endpoint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = taken.local_addr().unwrap().to_string();
    let cfg = kakehashi_receiver_otlp::OtlpReceiverConfig {
        protocols: kakehashi_receiver_otlp::config::Protocols {
            grpc: kakehashi_config::Optional::some(GrpcServerConfig {
                endpoint: endpoint.clone(),
                ..Default::default()
            }),
            http: Default::default(),
        },
    };
    let ctx = kakehashi_component::BuildContext::new(
        kakehashi_config::ComponentId::new("otlp", None),
        kakehashi_telemetry::Telemetry::new(),
    );
    let mut r = kakehashi_receiver_otlp::OtlpReceiver::new(&ctx, cfg, consumers(None, None, None));
    let err = r.start().await.unwrap_err();
    assert!(err.0.contains(&endpoint), "{err}");
}

/// A Go client with `compression: snappy` (grpc-go's snappy codec writes snappy's framing
/// format): tonic cannot decode it, the receiver does before tonic sees the request.
#[tokio::test]
async fn snappy_compressed_requests_are_accepted() {
    use prost::Message;
    use std::io::Write;
    let t = std::sync::Arc::new(Recorder::default());
    let mut r = start(
        Some(GrpcServerConfig::default()),
        None,
        consumers(Some(t.clone()), None, None),
    )
    .await;
    let addr = r.grpc_addr().expect("grpc bound");
    let mut snappy = snap::write::FrameEncoder::new(Vec::new());
    snappy.write_all(&traces(3).encode_to_vec()).unwrap();
    let snappy = snappy.into_inner().unwrap();
    let mut frame = vec![1u8];
    frame.extend_from_slice(&(snappy.len() as u32).to_be_bytes());
    frame.extend_from_slice(&snappy);
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = http
        .post(format!(
            "http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", "snappy")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A failure would be a trailers-only response: grpc-status in the headers.
    assert!(resp.headers().get("grpc-status").is_none(), "{resp:?}");
    let _ = resp.bytes().await.unwrap();
    assert_eq!(t.count(), 1);
    assert_eq!(t.last().item_count(), 3);
    r.shutdown().await;
}
