//! The otlp (gRPC) exporter against an in-process tonic server.

mod common;

use kakehashi_component::{Batch, Exporter};
use kakehashi_config::Secret;
use kakehashi_exporter_otlp::{OtlpGrpcConfig, OtlpGrpcExporter, TlsClientSettings};
use kakehashi_pdata::proto::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use kakehashi_pdata::proto::collector::logs::v1::ExportLogsServiceResponse;
use kakehashi_pdata::proto::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use kakehashi_pdata::proto::collector::metrics::v1::ExportMetricsServiceResponse;
use kakehashi_pdata::proto::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use kakehashi_pdata::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, Payload,
};
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// What the server saw: the decoded payload and the request headers.
#[derive(Default)]
struct Recorder {
    payloads: Mutex<Vec<Payload>>,
    metadata: Mutex<Vec<tonic::metadata::MetadataMap>>,
    /// Returned instead of success when set.
    fail_with: Mutex<Option<Status>>,
    partial: Mutex<Option<ExportTracePartialSuccess>>,
}

#[derive(Clone)]
struct Svc(Arc<Recorder>);

impl Svc {
    fn record<T: Into<Payload>>(&self, req: Request<T>) -> Result<(), Status> {
        self.0.metadata.lock().unwrap().push(req.metadata().clone());
        self.0
            .payloads
            .lock()
            .unwrap()
            .push(req.into_inner().into());
        match self.0.fail_with.lock().unwrap().clone() {
            Some(st) => Err(st),
            None => Ok(()),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.record(req)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: self.0.partial.lock().unwrap().clone(),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.record(req)?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.record(req)?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

async fn server() -> (SocketAddr, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let svc = Svc(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(svc.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd),
            )
            .add_service(
                MetricsServiceServer::new(svc.clone()).accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(LogsServiceServer::new(svc).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming(incoming),
    );
    (addr, rec)
}

fn config(addr: SocketAddr) -> OtlpGrpcConfig {
    OtlpGrpcConfig {
        endpoint: addr.to_string(),
        tls: TlsClientSettings {
            insecure: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn all_signals_arrive_intact_with_gzip_and_headers() {
    let (addr, rec) = server().await;
    let mut cfg = config(addr);
    cfg.headers
        .insert("X-Api-Key".into(), Secret::new("s3cret"));
    let exp = OtlpGrpcExporter::new(&cfg).unwrap();
    let sent = [
        Payload::Traces(common::traces()),
        Payload::Metrics(common::metrics()),
        Payload::Logs(common::logs()),
    ];
    for p in &sent {
        exp.export(&Batch::new(p.clone())).await.unwrap();
    }
    assert_eq!(*rec.payloads.lock().unwrap(), sent);
    let md = rec.metadata.lock().unwrap();
    assert_eq!(md[0].get("x-api-key").unwrap(), "s3cret");
    assert_eq!(md[0].get("grpc-encoding").unwrap(), "gzip");
    assert!(
        md[0].get("grpc-timeout").is_some(),
        "the 5s timeout is propagated"
    );
}

#[tokio::test]
async fn zstd_and_none_compression() {
    let (addr, rec) = server().await;
    for (c, want) in [("zstd", Some("zstd")), ("none", None)] {
        let mut cfg = config(addr);
        cfg.compression = c.into();
        let exp = OtlpGrpcExporter::new(&cfg).unwrap();
        exp.export(&Batch::new(common::traces())).await.unwrap();
        let md = rec.metadata.lock().unwrap().pop().unwrap();
        assert_eq!(md.get("grpc-encoding").map(|v| v.to_str().unwrap()), want);
    }
}

async fn export_against(status: Status) -> kakehashi_component::ExportError {
    let (addr, rec) = server().await;
    *rec.fail_with.lock().unwrap() = Some(status);
    let exp = OtlpGrpcExporter::new(&config(addr)).unwrap();
    exp.export(&Batch::new(common::traces())).await.unwrap_err()
}

#[tokio::test]
async fn status_mapping() {
    let e = export_against(Status::unavailable("try later")).await;
    assert!(!e.permanent);
    assert_eq!(e.grpc_code, Some(14));
    assert_eq!(e.message, "rpc error: code = Unavailable desc = try later");

    let e = export_against(Status::invalid_argument("bad data")).await;
    assert!(e.permanent);
    assert_eq!(e.grpc_code, Some(3));
    assert_eq!(
        e.to_string(),
        "Permanent error: rpc error: code = InvalidArgument desc = bad data"
    );

    let e = export_against(Status::resource_exhausted("quota")).await;
    assert!(
        e.permanent,
        "RESOURCE_EXHAUSTED without RetryInfo is permanent"
    );

    let e = export_against(retry_info_status(tonic::Code::ResourceExhausted, 3)).await;
    assert!(!e.permanent);
    assert_eq!(e.throttle, Some(Duration::from_secs(3)));
    assert_eq!(e.grpc_code, Some(8));
}

/// A status with a google.rpc.RetryInfo detail, encoded by hand.
fn retry_info_status(code: tonic::Code, secs: i64) -> Status {
    #[derive(Clone, PartialEq, Message)]
    struct Dur {
        #[prost(int64, tag = "1")]
        seconds: i64,
    }
    #[derive(Clone, PartialEq, Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<Dur>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct St {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }
    let st = St {
        code: code as i32,
        message: "slow down".into(),
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: RetryInfo {
                retry_delay: Some(Dur { seconds: secs }),
            }
            .encode_to_vec(),
        }],
    };
    Status::with_details(code, "slow down", st.encode_to_vec().into())
}

#[tokio::test]
async fn partial_success_is_success() {
    let (addr, rec) = server().await;
    *rec.partial.lock().unwrap() = Some(ExportTracePartialSuccess {
        rejected_spans: 1,
        error_message: "one bad span".into(),
    });
    let exp = OtlpGrpcExporter::new(&config(addr)).unwrap();
    exp.export(&Batch::new(common::traces())).await.unwrap();
}

#[tokio::test]
async fn server_down_is_retryable_and_build_is_lazy() {
    // Bind then drop to get a port nobody listens on.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let exp = OtlpGrpcExporter::new(&config(addr)).expect("building does not connect");
    let e = exp.export(&Batch::new(common::logs())).await.unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert_eq!(e.grpc_code, Some(14));
}

#[tokio::test]
async fn tls_by_default_fails_against_a_plaintext_server() {
    let (addr, _rec) = server().await;
    let mut cfg = config(addr);
    cfg.tls.insecure = false;
    let exp = OtlpGrpcExporter::new(&cfg).unwrap();
    let e = exp.export(&Batch::new(common::traces())).await.unwrap_err();
    assert!(
        !e.permanent,
        "a handshake failure is a transport error: {e:?}"
    );
}

#[test]
fn validation() {
    use kakehashi_config::Validate;
    let cfg = OtlpGrpcConfig::default();
    assert_eq!(
        cfg.validate(),
        vec!["requires a non-empty \"endpoint\"".to_string()]
    );
    let cfg = OtlpGrpcConfig {
        endpoint: "localhost:4317".into(),
        compression: "snappy".into(),
        ..Default::default()
    };
    assert!(cfg.validate()[0].contains("\"snappy\" is not supported yet"));
    let cfg = OtlpGrpcConfig {
        endpoint: "localhost:4317".into(),
        ..Default::default()
    };
    assert!(cfg.validate().is_empty());
    assert_eq!(
        cfg.helper_settings().timeout,
        kakehashi_config::Duration::from_secs(5)
    );
    assert!(cfg.helper_settings().queue.enabled);
    // Header values are secrets: Debug output never shows them.
    let mut cfg = cfg;
    cfg.headers
        .insert("authorization".into(), Secret::new("Bearer xyz"));
    assert!(!format!("{cfg:?}").contains("xyz"));
}
