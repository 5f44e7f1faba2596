//! Test support: a real OTLP/gRPC trace receiver (tonic) on 127.0.0.1:0 that records every
//! `ExportTraceServiceRequest`, and helpers to look at what it got.

#![allow(dead_code)] // each test binary uses a different part

use kakehashi_pdata::proto::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use kakehashi_pdata::proto::collector::trace::v1::ExportTraceServiceResponse;
use kakehashi_pdata::proto::common::v1::any_value::Value;
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::ExportTraceServiceRequest;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.lock().unwrap().push(req.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A running OTLP/gRPC receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    recorded: Recorder,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// One received span with its resource and scope.
#[derive(Debug, Clone)]
pub struct Received {
    pub resource: Vec<KeyValue>,
    pub scope: String,
    pub span: Span,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:0 (must be called inside a Tokio runtime).
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Recorder::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = TraceServiceServer::new(recorded.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Receiver {
            addr,
            recorded,
            _stop: stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn request_count(&self) -> usize {
        self.recorded.0.lock().unwrap().len()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<Received> {
        let requests = self.recorded.0.lock().unwrap();
        let mut out = Vec::new();
        for req in requests.iter() {
            for rs in &req.resource_spans {
                let resource = rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    let scope = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for span in &ss.spans {
                        out.push(Received {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits (polling) up to `timeout` until `f` finds something among the received spans.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&[Received]) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = f(&self.spans()) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The value of attribute `key`, if present.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

/// The one span named `name`; panics (listing what arrived) if there is not exactly one.
pub fn only<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(|s| s.span.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one span {name:?}, got {}: {:?}",
        found.len(),
        spans.iter().map(|s| &s.span.name).collect::<Vec<_>>()
    );
    found[0]
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
