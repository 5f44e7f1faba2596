//! `auth::authenticator` on the exporters: credentials are never sent in plaintext over gRPC
//! (grpc-go's per-RPC credentials refuse it, so otelcol does too), and the HTTP exporter sets the
//! authenticator's header on every request.

use axum::http::HeaderMap;
use kakehashi_component::{Batch, ClientAuthenticator, Exporter, Payload};
use kakehashi_exporter_otlp::{OtlpGrpcConfig, OtlpGrpcExporter, OtlpHttpConfig, OtlpHttpExporter};
use kakehashi_pdata::{ExportTraceServiceRequest, Signal};
use std::sync::{Arc, Mutex};

struct Fixed;

impl ClientAuthenticator for Fixed {
    fn headers(&self) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
        Ok(vec![(
            http::HeaderName::from_static("authorization"),
            http::HeaderValue::from_static("Bearer from-extension"),
        )])
    }
}

#[tokio::test]
async fn grpc_refuses_credentials_over_plaintext() {
    let mut cfg = OtlpGrpcConfig {
        endpoint: "127.0.0.1:4317".into(),
        ..Default::default()
    };
    cfg.tls.insecure = true;
    let err = OtlpGrpcExporter::new(&cfg)
        .unwrap()
        .with_authenticator(Arc::new(Fixed))
        .err()
        .expect("plaintext with credentials is refused");
    assert!(
        err.0.contains("require transport level security"),
        "{}",
        err.0
    );

    cfg.tls.insecure = false;
    assert!(OtlpGrpcExporter::new(&cfg)
        .unwrap()
        .with_authenticator(Arc::new(Fixed))
        .is_ok());
}

#[tokio::test]
async fn http_sets_the_authenticator_header() {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |h: HeaderMap| {
        record.lock().unwrap().push(h);
        async {
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cfg = OtlpHttpConfig {
        endpoint: format!("http://{addr}"),
        ..Default::default()
    };
    let exp = OtlpHttpExporter::new(&cfg, Signal::Traces)
        .unwrap()
        .with_authenticator(Arc::new(Fixed));
    let batch = Batch::new(Payload::Traces(ExportTraceServiceRequest::default()));
    exp.export(&batch).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0]["authorization"], "Bearer from-extension");
}
