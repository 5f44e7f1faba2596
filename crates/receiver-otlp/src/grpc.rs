//! OTLP/gRPC: a tonic server with the trace, metrics and logs services (`grpc_service`), each
//! registered only if a pipeline consumes that signal (so the others answer UNIMPLEMENTED, as in
//! otelcol).

use crate::config::GrpcServerConfig;
use crate::grpc_service::{Logs, Metrics, OtlpService, Traces};
use crate::server_handle::ServerHandle;
use crate::status::{grpc_code_for, rpc_status_for};
use crate::{decode, tls};
use futures::Stream;
use kakehashi_component::{
    Batch, BuildError, ClientMetadata, Consumer, ServerAuthenticator, SignalConsumers,
};
use kakehashi_pdata::{Payload, Signal};
use kakehashi_telemetry::ReceiverMetrics;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Status};

/// The largest request header list (metadata) a client may send; see `start`.
const MAX_HEADER_LIST_BYTES: u32 = 1 << 20;

/// The HTTP/2 `:authority`, which tonic keeps only in the URI; stashed for `include_metadata`.
#[derive(Clone)]
struct Authority(String);

/// `auth::authenticator`, checked on the request headers before the body is read or decoded; a
/// rejected request gets `UNAUTHENTICATED` (configgrpc's interceptor) and never reaches a
/// consumer.
#[derive(Clone)]
struct Authenticate(Option<Arc<dyn ServerAuthenticator>>);

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        match &self.0 {
            None => Ok(req),
            Some(auth) => match auth.authenticate(req.metadata().as_ref()) {
                Ok(()) => Ok(req),
                Err(msg) => Err(Status::unauthenticated(msg)),
            },
        }
    }
}

/// The HTTP/2 fields grpc-go keeps out of a server's incoming metadata (its
/// `isReservedHeader`, minus the whitelisted `user-agent`); tonic passes them all through.
fn is_reserved_grpc_header(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "grpc-message-type"
            | "grpc-encoding"
            | "grpc-message"
            | "grpc-status"
            | "grpc-timeout"
            | "grpc-status-details-bin"
            | "te"
    )
}

/// One signal's export handler.
#[derive(Clone)]
pub(crate) struct Export {
    consumer: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
    signal: Signal,
    include_metadata: bool,
}

impl Export {
    pub(crate) fn client_metadata<T>(&self, req: &Request<T>) -> ClientMetadata {
        let mut md = ClientMetadata {
            addr: req.remote_addr(),
            ..Default::default()
        };
        if self.include_metadata {
            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in req.metadata().as_ref() {
                if is_reserved_grpc_header(k.as_str()) {
                    continue;
                }
                headers
                    .entry(k.as_str().to_ascii_lowercase())
                    .or_default()
                    .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
            }
            if let Some(Authority(a)) = req.extensions().get::<Authority>() {
                headers.insert(":authority".into(), vec![a.clone()]);
                headers
                    .entry("host".into())
                    .or_insert_with(|| vec![a.clone()]);
            }
            md.headers = Arc::new(headers);
        }
        md
    }

    pub(crate) async fn run(
        &self,
        metadata: ClientMetadata,
        payload: Payload,
    ) -> Result<(), Status> {
        // Go's pdata rejects wrong-length ids while unmarshalling, which gRPC reports as INTERNAL.
        decode::check_ids(&payload)
            .map_err(|e| Status::internal(format!("grpc: error unmarshalling request: {e}")))?;
        let n = payload.item_count();
        if n == 0 {
            return Ok(());
        }
        match self
            .consumer
            .consume(Batch::with_metadata(payload, metadata))
            .await
        {
            Ok(()) => {
                self.metrics.accepted(self.signal, n);
                Ok(())
            }
            Err(e) => {
                self.metrics.refused(self.signal, n);
                let code = tonic::Code::from(grpc_code_for(&e));
                let details = rpc_status_for(&e);
                Err(if details.details.is_empty() {
                    Status::new(code, e.message)
                } else {
                    Status::with_details(code, e.message, details.encode_to_vec().into())
                })
            }
        }
    }
}

/// Binds the endpoint and spawns the server.
pub async fn start(
    cfg: &GrpcServerConfig,
    consumers: &SignalConsumers,
    metrics: ReceiverMetrics,
    auth: Option<Arc<dyn ServerAuthenticator>>,
) -> Result<ServerHandle, BuildError> {
    let auth = Authenticate(auth);
    let tls = match cfg.tls.as_ref() {
        Some(t) => Some(tls::server_config(t, &[b"h2"])?),
        None => None,
    };
    let listener = kakehashi_telemetry::net::bind_tcp(&cfg.endpoint)
        .await
        .map_err(|e| BuildError(format!("listen tcp {}: {e}", cfg.endpoint)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BuildError(format!("listen tcp {}: {e}", cfg.endpoint)))?;

    let handler = |signal: Signal| {
        consumers.get(signal).map(|c| Export {
            consumer: c.clone(),
            metrics: metrics.clone(),
            signal,
            include_metadata: cfg.include_metadata,
        })
    };
    let max = cfg.max_recv_bytes();
    let traces = handler(Signal::Traces)
        .map(|h| InterceptedService::new(OtlpService::<Traces>::new(h, max), auth.clone()));
    let metrics_svc = handler(Signal::Metrics)
        .map(|h| InterceptedService::new(OtlpService::<Metrics>::new(h, max), auth.clone()));
    let logs = handler(Signal::Logs)
        .map(|h| InterceptedService::new(OtlpService::<Logs>::new(h, max), auth.clone()));

    // hyper's default header list limit is 16 KiB, and a larger one (a bearer JWT with many
    // claims) ends the whole connection with GOAWAY. grpc-go allows 16 MiB; 1 MiB is what our
    // HTTP side and Go's HTTP server allow.
    let mut builder = Server::builder().http2_max_header_list_size(MAX_HEADER_LIST_BYTES);
    if cfg.max_concurrent_streams > 0 {
        builder = builder.max_concurrent_streams(cfg.max_concurrent_streams);
    }
    if let Some(sp) = cfg
        .keepalive
        .as_ref()
        .and_then(|k| k.server_parameters.as_ref())
    {
        let nz = |d: kakehashi_config::Duration| (!d.is_zero()).then(|| d.get());
        builder = builder
            .http2_keepalive_interval(nz(sp.time))
            .http2_keepalive_timeout(nz(sp.timeout));
        if let Some(age) = nz(sp.max_connection_age) {
            builder = builder.max_connection_age(age);
        }
        if let Some(grace) = nz(sp.max_connection_age_grace) {
            builder = builder.max_connection_age_grace(grace);
        }
    }
    let router = builder
        .layer(tower::util::MapRequestLayer::new(
            |mut req: http::Request<tonic::body::Body>| {
                if let Some(a) = req.uri().authority().map(|a| Authority(a.to_string())) {
                    req.extensions_mut().insert(a);
                }
                req
            },
        ))
        .layer(tower::util::MapResponseLayer::new(go_size_error))
        .add_optional_service(traces)
        .add_optional_service(metrics_svc)
        .add_optional_service(logs);

    let (stop, stopped) = oneshot::channel::<()>();
    let signal = async {
        let _ = stopped.await;
    };
    let task = match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            tokio::spawn(async move {
                if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
                    tracing::error!(error = %e, "OTLP gRPC server failed");
                }
            })
        }
        Some(tls) => {
            let incoming = tls_incoming(listener, tokio_rustls::TlsAcceptor::from(tls));
            tokio::spawn(async move {
                if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
                    tracing::error!(error = %e, "OTLP gRPC server failed");
                }
            })
        }
    };
    tracing::info!(endpoint = %addr, "Starting GRPC server");
    Ok(ServerHandle::new(addr, stop, task))
}

/// tonic reports an oversized message as OUT_OF_RANGE; grpc-go, and so otelcol, says
/// RESOURCE_EXHAUSTED `grpc: received message larger than max (N vs. M)`. The status may be in
/// the response headers (trailers-only) or in the trailers, so both are rewritten.
fn go_size_error(resp: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    let (mut parts, body) = resp.into_parts();
    fix_size_status(&mut parts.headers);
    http::Response::from_parts(parts, tonic::body::Body::new(SizeFix(body)))
}

fn fix_size_status(h: &mut http::HeaderMap) {
    const PREFIX: &str = "Error, decoded message length too large: found ";
    if h.get("grpc-status").map(|v| v.as_bytes()) != Some(b"11") {
        return;
    }
    let Some(msg) = h.get("grpc-message").map(|v| percent_decode(v.as_bytes())) else {
        return;
    };
    let Some(rest) = msg.strip_prefix(PREFIX) else {
        return;
    };
    // "N bytes, the limit is: M bytes"
    let nums: Vec<&str> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    if let [found, limit] = nums[..] {
        let text = format!("grpc: received message larger than max ({found} vs. {limit})");
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            h.insert("grpc-message", v);
            h.insert("grpc-status", http::HeaderValue::from_static("8"));
        }
    }
}

/// grpc-message is percent-encoded (tonic encodes spaces too).
fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response body whose trailers get [`fix_size_status`].
struct SizeFix(tonic::body::Body);

impl hyper::body::Body for SizeFix {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx).map(|f| {
            f.map(|r| {
                r.map(|frame| match frame.into_trailers() {
                    Ok(mut t) => {
                        fix_size_status(&mut t);
                        hyper::body::Frame::trailers(t)
                    }
                    Err(frame) => frame,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.size_hint()
    }
}

type TlsConn = tokio_rustls::server::TlsStream<TcpStream>;

/// Accepts TCP connections and completes each TLS handshake in its own task, so that one slow
/// client cannot hold up the others; ends when the server drops the stream.
fn tls_incoming(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Stream<Item = Result<TlsConn, std::io::Error>> {
    let (tx, rx) = mpsc::channel::<TlsConn>(64);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let (acceptor, tx) = (acceptor.clone(), tx.clone());
                        tokio::spawn(async move {
                            match acceptor.accept(tcp).await {
                                Ok(conn) => { let _ = tx.send(conn).await; }
                                Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                _ = tx.closed() => break,
            }
        }
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|c| (Ok(c), rx)) },
    )
}
