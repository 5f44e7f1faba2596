//! One connection's client: OTLP/gRPC over tonic or OTLP/HTTP over reqwest, sending
//! pre-encoded requests and classifying the answer.

use crate::cli::{Compression, Protocol};
use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use std::error::Error;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Per-request timeout (connect included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// gRPC OK / HTTP 2xx; `rejected_spans` from a partial_success.
    Accepted { rejected_spans: u64 },
    /// The collector answered with a gRPC status or an HTTP non-2xx status (e.g. `UNAVAILABLE`,
    /// `http 503`).
    Refused(String),
    /// Transport error: `connection refused`, `connection reset`, `timeout`, ...
    Failed(String),
}

/// A client bound to one connection.
#[derive(Debug, Clone)]
pub enum Client {
    Grpc(tonic::client::Grpc<Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        gzip: bool,
    },
}

impl Client {
    /// A client for `addr`; connects lazily, so a dead port shows up as failed requests.
    pub fn new(
        protocol: Protocol,
        addr: SocketAddr,
        compression: Compression,
    ) -> anyhow::Result<Client> {
        match protocol {
            Protocol::Grpc => {
                let channel = Endpoint::from_shared(format!("http://{addr}"))?
                    .connect_timeout(REQUEST_TIMEOUT)
                    .tcp_nodelay(true)
                    .connect_lazy();
                let mut grpc = tonic::client::Grpc::new(channel);
                if compression == Compression::Gzip {
                    grpc = grpc
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                Ok(Client::Grpc(grpc))
            }
            Protocol::Http => {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(REQUEST_TIMEOUT)
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .build()?;
                Ok(Client::Http {
                    client,
                    url: format!("http://{addr}/v1/traces"),
                    gzip: compression == Compression::Gzip,
                })
            }
        }
    }

    /// Turns an encoded request into the body to send (gzip for HTTP; tonic compresses gRPC).
    pub fn prepare(&self, encoded: Vec<u8>) -> Bytes {
        match self {
            Client::Http { gzip: true, .. } => {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(encoded.len() / 4),
                    flate2::Compression::fast(),
                );
                gz.write_all(&encoded)
                    .expect("writing to a Vec cannot fail");
                Bytes::from(gz.finish().expect("writing to a Vec cannot fail"))
            }
            _ => Bytes::from(encoded),
        }
    }

    /// Sends one attempt, bounded by [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.send_inner(body)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed("timeout".to_string()),
        }
    }

    async fn send_inner(&mut self, body: Bytes) -> Outcome {
        match self {
            Client::Grpc(grpc) => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Failed(transport_error(&e));
                }
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
                    Ok(response) => accepted(response.get_ref()),
                    Err(status) => classify_status(&status),
                }
            }
            Client::Http { client, url, gzip } => {
                let mut request = client
                    .post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(body);
                if *gzip {
                    request = request.header(http::header::CONTENT_ENCODING, "gzip");
                }
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => return Outcome::Failed(reqwest_error(&e)),
                };
                let status = response.status();
                let bytes = match response.bytes().await {
                    Ok(b) => b,
                    Err(e) => return Outcome::Failed(reqwest_error(&e)),
                };
                if !status.is_success() {
                    return Outcome::Refused(format!("http {}", status.as_u16()));
                }
                // A JSON or empty body simply carries no partial success we can read.
                let response = ExportTraceServiceResponse::decode(bytes).unwrap_or_default();
                accepted(&response)
            }
        }
    }
}

fn accepted(response: &ExportTraceServiceResponse) -> Outcome {
    let rejected_spans = response
        .partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64);
    Outcome::Accepted { rejected_spans }
}

/// A status built by tonic from a local error carries that error as its source; one sent by
/// the server does not.
fn classify_status(status: &Status) -> Outcome {
    match status.source() {
        Some(source) => Outcome::Failed(transport_error(source)),
        None => Outcome::Refused(code_name(status.code()).to_string()),
    }
}

fn reqwest_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".to_string();
    }
    let kind = transport_error(e);
    if kind == "transport error" && e.is_connect() {
        "connect error".to_string()
    } else {
        kind
    }
}

/// A short, bounded category for a transport error (used as a key of the report's `errors`).
fn transport_error(e: &(dyn Error + 'static)) -> String {
    let mut cur = Some(e);
    let mut text = String::new();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return "connection refused".to_string(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return "connection reset".to_string()
                }
                TimedOut => return "timeout".to_string(),
                _ => {}
            }
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push(' ');
        cur = err.source();
    }
    if text.contains("refused") {
        "connection refused"
    } else if text.contains("reset") || text.contains("closed") || text.contains("broken pipe") {
        "connection reset"
    } else if text.contains("timed out") || text.contains("timeout") {
        "timeout"
    } else {
        "transport error"
    }
    .to_string()
}

/// The canonical gRPC status name (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, ...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

// === impl RawCodec ===

/// Sends an already encoded `ExportTraceServiceRequest` as is and decodes the response.
///
/// This is what the generated `TraceServiceClient` does (same path, same framing), minus the
/// message type on the request side: the generated client takes an owned message per call,
/// which would cost a deep clone of the whole batch (thousands of small allocations) per
/// request instead of a copy of the stamped bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding ExportTraceServiceResponse: {e}")))
    }
}
