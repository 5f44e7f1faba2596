//! One OTLP/HTTP request, answered exactly as otelcol's receiver answers it (spec §2.3, §2.4).

use crate::cors::Cors;
use crate::decode;
use crate::status::{
    grpc_code_for, http_status_for_code, rpc_status_for, status_json, RpcStatus,
    CODE_INVALID_ARGUMENT, CODE_UNAUTHENTICATED,
};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use kakehashi_component::{Batch, ClientMetadata, Consumer, ServerAuthenticator};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::ReceiverMetrics;
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

const PB: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const TOO_LARGE: &str = "http: request body too large";

/// Everything the handler needs, shared by all connections.
pub struct HttpState {
    /// `auth::authenticator`: checked before anything else but CORS.
    pub auth: Option<Arc<dyn ServerAuthenticator>>,
    pub routes: HashMap<String, (Signal, Arc<dyn Consumer>)>,
    pub metrics: ReceiverMetrics,
    pub body_limit: usize,
    pub include_metadata: bool,
    pub cors: Option<Cors>,
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Content-Encodings allowed by `compression_algorithms` that we can decode.
    pub encodings: Vec<String>,
}

type Resp = Response<Full<Bytes>>;

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Go's `http.Error`: text/plain with a trailing newline.
fn go_http_error(status: u16, msg: &str) -> Resp {
    let mut r = respond(status, "text/plain; charset=utf-8", format!("{msg}\n"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn status_response(http_status: u16, ct: &str, s: &RpcStatus) -> Resp {
    let body = if ct == JSON {
        status_json(s)
    } else {
        s.encode_to_vec()
    };
    respond(http_status, ct, body)
}

/// The otlp receiver's `errorHandler`, which confighttp calls for what fails before the OTLP
/// handler (authentication, an unsupported Content-Encoding): a Status in the request's
/// encoding with the real HTTP code, or, for any other Content-Type, otelcol's fixed 500 reply.
fn error_handler(headers: &HeaderMap, http_status: u16, code: i32, msg: String) -> Resp {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ct = match media_type.as_str() {
        PB => PB,
        JSON => JSON,
        _ => {
            return respond(
                500,
                JSON,
                r#"{"code": 13, "message": "failed to marshal error message"}"#,
            )
        }
    };
    let s = RpcStatus {
        code,
        message: msg,
        details: vec![],
    };
    status_response(http_status, ct, &s)
}

fn bad_request(ct: &str, msg: String) -> Resp {
    let s = RpcStatus {
        code: CODE_INVALID_ARGUMENT,
        message: msg,
        details: vec![],
    };
    status_response(400, ct, &s)
}

pub async fn handle<B>(state: Arc<HttpState>, peer: SocketAddr, req: Request<B>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let req_headers = req.headers().clone();
    let mut resp = match state.cors.as_ref() {
        Some(cors) if Cors::is_preflight(req.method(), &req_headers) => {
            let mut r = respond(204, "", Bytes::new());
            r.headers_mut().remove(header::CONTENT_TYPE);
            cors.preflight(&req_headers, r.headers_mut());
            r
        }
        Some(cors) => {
            let mut r = route(&state, peer, req).await;
            cors.actual(&req_headers, r.headers_mut());
            r
        }
        None => route(&state, peer, req).await,
    };
    for (k, v) in &state.response_headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

async fn route<B>(state: &HttpState, peer: SocketAddr, req: Request<B>) -> Resp
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // confighttp's auth interceptor wraps everything but CORS: nothing is read, decoded or
    // consumed for a request that fails it.
    if let Some(auth) = &state.auth {
        if let Err(msg) = auth.authenticate(req.headers()) {
            return error_handler(req.headers(), 401, CODE_UNAUTHENTICATED, msg);
        }
    }
    // confighttp's decompression middleware runs before the mux, so this check comes first.
    let encoding = match req.headers().get(header::CONTENT_ENCODING) {
        None => String::new(),
        Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    };
    // An uncompressed body is accepted only while "" is listed, as in confighttp, whose
    // decoders are exactly the listed algorithms.
    if !state.encodings.contains(&encoding) {
        return error_handler(
            req.headers(),
            400,
            CODE_INVALID_ARGUMENT,
            format!("unsupported Content-Encoding: {encoding}"),
        );
    }
    let Some((signal, consumer)) = state.routes.get(req.uri().path()) else {
        return go_http_error(404, "404 page not found");
    };
    if req.method() != Method::POST {
        return respond(
            405,
            "text/plain",
            "405 method not allowed, supported: [POST]",
        );
    }
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let ct =
        match media_type.as_str() {
            PB => PB,
            JSON => JSON,
            _ => return respond(
                415,
                "text/plain",
                "415 unsupported media type, supported: [application/json, application/x-protobuf]",
            ),
        };

    let metadata = ClientMetadata {
        addr: Some(peer),
        headers: if state.include_metadata {
            Arc::new(header_metadata(
                req.headers(),
                req.uri().authority().map(|a| a.as_str()),
            ))
        } else {
            Arc::default()
        },
    };

    let limit = state.body_limit;
    // A declared Content-Length over the limit is refused before reading anything, so a client
    // that announces a huge body and then sends nothing does not hold the request open.
    if req.body().size_hint().lower() > limit as u64 {
        return bad_request(ct, TOO_LARGE.into());
    }
    let raw = match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return bad_request(ct, TOO_LARGE.into())
        }
        Err(e) => return bad_request(ct, e.to_string()),
    };
    let body = if encoding.is_empty() {
        raw
    } else {
        // Decompression is CPU-bound; keep it off the async workers.
        let decoded = tokio::task::spawn_blocking(move || decompress(&encoding, &raw, limit)).await;
        match decoded {
            Ok(Ok(b)) => b,
            Ok(Err(msg)) => return bad_request(ct, msg),
            Err(e) => return bad_request(ct, e.to_string()),
        }
    };

    let decoded = if ct == JSON {
        decode::decode_json(*signal, &body)
    } else {
        decode::decode_proto(*signal, &body)
    };
    let payload = match decoded {
        Ok(p) => p,
        Err(msg) => return bad_request(ct, msg),
    };
    let n = payload.item_count();
    if n > 0 {
        if let Err(e) = consumer
            .consume(Batch::with_metadata(payload, metadata))
            .await
        {
            state.metrics.refused(*signal, n);
            let s = rpc_status_for(&e);
            let http_status = http_status_for_code(grpc_code_for(&e));
            let mut r = status_response(http_status, ct, &s);
            if let (Some(d), 429 | 503) = (e.retry_after, http_status) {
                // Whole seconds, rounded down, as otelcol writes it (`RetryDelay / time.Second`).
                let secs = d.as_secs();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return r;
        }
        state.metrics.accepted(*signal, n);
    }
    success(*signal, ct)
}

/// The Export*ServiceResponse otelcol sends: an empty (but present) `partial_success`.
fn success(signal: Signal, ct: &str) -> Resp {
    use kakehashi_pdata::proto::collector as c;
    if ct == JSON {
        return respond(200, ct, &br#"{"partialSuccess":{}}"#[..]);
    }
    let body = match signal {
        Signal::Traces => c::trace::v1::ExportTraceServiceResponse {
            partial_success: Some(Default::default()),
        }
        .encode_to_vec(),
        Signal::Metrics => c::metrics::v1::ExportMetricsServiceResponse {
            partial_success: Some(Default::default()),
        }
        .encode_to_vec(),
        Signal::Logs => c::logs::v1::ExportLogsServiceResponse {
            partial_success: Some(Default::default()),
        }
        .encode_to_vec(),
    };
    respond(200, ct, body)
}

/// The request's headers, plus `host` from the request target when no `Host` header carries
/// it (HTTP/2's `:authority`), as confighttp adds `r.Host`.
fn header_metadata(h: &HeaderMap, authority: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in h {
        out.entry(k.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    if let Some(a) = authority.filter(|a| !a.is_empty()) {
        out.entry("host".into())
            .or_insert_with(|| vec![a.to_owned()]);
    }
    out
}

/// The stream identifier chunk that opens snappy's framing format.
const SNAPPY_FRAMING_HEADER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// Decompresses through a reader capped at `limit + 1` bytes, so a compression bomb never
/// allocates more than the limit before it is rejected. The decoders are confighttp's:
/// `snappy` is the block format unless the body opens with the framing header,
/// `x-snappy-framed` the framing format, `lz4` the LZ4 frame format.
pub fn decompress(encoding: &str, raw: &[u8], limit: usize) -> Result<Bytes, String> {
    let reader: Box<dyn Read + '_> = match encoding {
        "gzip" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "zlib" | "deflate" => Box::new(flate2::read::ZlibDecoder::new(raw)),
        "zstd" => Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| e.to_string())?),
        "snappy" if !raw.starts_with(SNAPPY_FRAMING_HEADER) => {
            // A block states its decompressed length up front: refuse before allocating.
            let len = snap::raw::decompress_len(raw).map_err(|e| e.to_string())?;
            if len > limit {
                return Err(TOO_LARGE.into());
            }
            return snap::raw::Decoder::new()
                .decompress_vec(raw)
                .map(Bytes::from)
                .map_err(|e| e.to_string());
        }
        "snappy" | "x-snappy-framed" => Box::new(snap::read::FrameDecoder::new(raw)),
        "lz4" => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
        other => return Err(format!("unsupported Content-Encoding: {other}")),
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > limit {
        return Err(TOO_LARGE.into());
    }
    Ok(out.into())
}
