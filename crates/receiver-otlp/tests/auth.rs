//! `auth::authenticator` on both servers: a request without the expected header, or with another
//! value, is refused (gRPC UNAUTHENTICATED, HTTP 401) and never reaches the pipeline.

mod common;

use async_trait::async_trait;
use common::*;
use kakehashi_component::{
    AuthConfig, BuildContext, BuildError, Extension, Extensions, Receiver, ServerAuthenticator,
};
use kakehashi_config::{ComponentId, Optional};
use kakehashi_pdata::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use kakehashi_receiver_otlp::config::{
    GrpcServerConfig, HttpAuthConfig, HttpServerConfig, Protocols,
};
use kakehashi_receiver_otlp::{OtlpReceiver, OtlpReceiverConfig};
use kakehashi_telemetry::Telemetry;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Accepts `authorization: Bearer good` only.
struct Fixed;

impl ServerAuthenticator for Fixed {
    fn authenticate(&self, h: &http::HeaderMap) -> Result<(), String> {
        match h.get("authorization").map(|v| v.as_bytes()) {
            Some(b"Bearer good") => Ok(()),
            Some(_) => Err("scheme or token does not match".into()),
            None => Err("missing or empty authorization header: authorization".into()),
        }
    }
}

#[async_trait]
impl Extension for Fixed {
    async fn start(&self) -> Result<(), BuildError> {
        Ok(())
    }
    async fn shutdown(&self) {}
    fn server_authenticator(self: Arc<Self>) -> Option<Arc<dyn ServerAuthenticator>> {
        Some(self)
    }
}

/// Not an authenticator.
struct Plain;

#[async_trait]
impl Extension for Plain {
    async fn start(&self) -> Result<(), BuildError> {
        Ok(())
    }
    async fn shutdown(&self) {}
}

fn extensions() -> Extensions {
    let mut m: BTreeMap<ComponentId, Arc<dyn Extension>> = BTreeMap::new();
    m.insert(ComponentId::new("bearertokenauth", None), Arc::new(Fixed));
    m.insert(ComponentId::new("health_check", None), Arc::new(Plain));
    Extensions::new(m)
}

fn receiver(authenticator: &str, t: Arc<Recorder>) -> OtlpReceiver {
    let cfg = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Optional::some(GrpcServerConfig {
                endpoint: "127.0.0.1:0".into(),
                auth: Some(AuthConfig {
                    authenticator: authenticator.into(),
                }),
                ..Default::default()
            }),
            http: Optional::some(HttpServerConfig {
                endpoint: "127.0.0.1:0".into(),
                auth: Some(HttpAuthConfig {
                    authenticator: authenticator.into(),
                    request_params: vec![],
                }),
                ..Default::default()
            }),
        },
    };
    let mut ctx = BuildContext::new(ComponentId::new("otlp", None), Telemetry::new());
    ctx.extensions = extensions();
    OtlpReceiver::new(&ctx, cfg, consumers(Some(t), None, None))
}

#[tokio::test]
async fn grpc_and_http_require_the_token() {
    let t = Arc::new(Recorder::default());
    let mut r = receiver("bearertokenauth", t.clone());
    r.start().await.unwrap();

    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", r.grpc_addr().unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = TraceServiceClient::new(ch);
    for header in [None, Some("Bearer bad"), Some("good")] {
        let mut req = tonic::Request::new(traces(2));
        if let Some(h) = header {
            req.metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        let err = client.export(req).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{header:?}");
        assert!(!err.message().contains("good"), "{}", err.message());
    }
    assert_eq!(t.count(), 0);
    let mut req = tonic::Request::new(traces(2));
    req.metadata_mut()
        .insert("authorization", "Bearer good".parse().unwrap());
    client.export(req).await.unwrap();
    assert_eq!(t.count(), 1);

    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/traces", r.http_addr().unwrap());
    let body = traces(3).encode_to_vec();
    let post = |auth: Option<&'static str>, ct: &'static str| {
        let mut rb = http
            .post(&url)
            .header("content-type", ct)
            .body(body.clone());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    let resp = post(None, "application/x-protobuf").await.unwrap();
    assert_eq!(resp.status(), 401);
    let status = kakehashi_receiver_otlp_status(resp.bytes().await.unwrap().to_vec());
    assert_eq!(status, 16, "UNAUTHENTICATED in the protobuf Status");
    let resp = post(Some("Bearer bad"), "application/json").await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["code"], 16);
    assert_eq!(v["message"], "scheme or token does not match");
    // Any other Content-Type: otelcol's error handler answers its fixed 500.
    let resp = post(Some("Bearer bad"), "text/plain").await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"code": 13, "message": "failed to marshal error message"}"#
    );
    assert_eq!(t.count(), 1, "nothing entered the pipeline");
    let resp = post(Some("Bearer good"), "application/x-protobuf")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(t.count(), 2);
    r.shutdown().await;
}

#[tokio::test]
async fn unknown_or_non_authenticator_extension_fails_start() {
    for (name, want) in [
        ("bearertokenauth/other", "failed to resolve authenticator \"bearertokenauth/other\": authenticator not found"),
        ("health_check", "failed to resolve authenticator \"health_check\": requested authenticator is not a server authenticator"),
    ] {
        let mut r = receiver(name, Arc::new(Recorder::default()));
        let err = r.start().await.unwrap_err().to_string();
        assert_eq!(err, want);
        assert!(r.grpc_addr().is_none() && r.http_addr().is_none());
    }
}

fn kakehashi_receiver_otlp_status(b: Vec<u8>) -> i32 {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
    }
    Status::decode(&b[..]).unwrap().code
}
