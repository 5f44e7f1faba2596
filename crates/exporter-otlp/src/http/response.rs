//! Judging an OTLP/HTTP response (otelcol's otlphttp `export` and `handlePartialSuccessResponse`).

use super::config::Encoding;
use crate::partial_success::{self, Rejected};
use crate::rpc_status::RpcStatus;
use kakehashi_component::ExportError;
use kakehashi_pdata::{
    proto::collector::{
        logs::v1::ExportLogsServiceResponse, metrics::v1::ExportMetricsServiceResponse,
        trace::v1::ExportTraceServiceResponse,
    },
    Signal,
};
use std::time::{Duration, SystemTime};

/// otelcol reads at most this much of a response body.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Reads up to [`MAX_RESPONSE_BODY`] bytes; the rest is dropped with the connection.
pub async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_RESPONSE_BODY - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_RESPONSE_BODY {
            break;
        }
    }
    Ok(buf)
}

/// `Retry-After` as integer seconds or an HTTP-date (RFC 1123 and friends).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-2xx answer. 429/502/503/504 are retryable (429/503 honour `Retry-After`); every
/// other status is permanent.
pub fn status_error(url: &str, status: u16, retry_after: Option<&str>, body: &[u8]) -> ExportError {
    use prost::Message;
    let mut msg =
        format!("error exporting items, request to {url} responded with HTTP Status Code {status}");
    // Go unmarshals the body as google.rpc.Status whatever its type; an empty body decodes
    // to an empty status, so `Message=, Details=[]` appears then too.
    if let Ok(st) = RpcStatus::decode(body) {
        msg.push_str(&format!(
            ", Message={}, Details={}",
            st.message,
            st.details_text()
        ));
    }
    // otelcol wraps the text in a gRPC status (`NewStatusFromMsgAndHTTPCode(...).Err()`): the
    // code shows in the message and reaches a receiver that answers without a queue.
    let (code, name) = grpc_code_for_http(status);
    let msg = format!("rpc error: code = {name} desc = {msg}");
    let mut e = match status {
        429 | 503 => ExportError::retryable(msg)
            .with_throttle(retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()))),
        502 | 504 => ExportError::retryable(msg),
        _ => ExportError::permanent(msg),
    };
    e.grpc_code = Some(code);
    e
}

/// otelcol's `NewStatusFromMsgAndHTTPCode` mapping, with grpc-go's code names.
fn grpc_code_for_http(status: u16) -> (i32, &'static str) {
    match status {
        400 => (3, "InvalidArgument"),
        401 => (16, "Unauthenticated"),
        403 => (7, "PermissionDenied"),
        404 => (12, "Unimplemented"),
        429 => (8, "ResourceExhausted"),
        502..=504 => (14, "Unavailable"),
        _ => (2, "Unknown"),
    }
}

/// A 2xx answer: log a partial success. An empty body, or one whose Content-Type is not
/// exactly OTLP's (otelcol compares the header as it is, parameters included), is a plain
/// success. A body that claims to be OTLP but does not parse fails the attempt with otelcol's
/// error, which is not permanent: otelcol's retry sender tries it again.
pub fn check_success(
    signal: Signal,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), ExportError> {
    if body.is_empty() {
        return Ok(());
    }
    let enc = match content_type {
        Some("application/x-protobuf") => Encoding::Proto,
        Some("application/json") => Encoding::Json,
        _ => return Ok(()),
    };
    if enc == Encoding::Json {
        let (what, key) = match signal {
            Signal::Traces => (Rejected::Spans, "rejectedSpans"),
            Signal::Metrics => (Rejected::DataPoints, "rejectedDataPoints"),
            Signal::Logs => (Rejected::LogRecords, "rejectedLogRecords"),
        };
        let (rejected, message) = json_partial_success(body, key)?;
        partial_success::log(what, rejected, &message);
        return Ok(());
    }
    let (what, rejected, message) = match signal {
        Signal::Traces => {
            let r: ExportTraceServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (Rejected::Spans, p.rejected_spans, p.error_message)
        }
        Signal::Metrics => {
            let r: ExportMetricsServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (
                Rejected::DataPoints,
                p.rejected_data_points,
                p.error_message,
            )
        }
        Signal::Logs => {
            let r: ExportLogsServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (
                Rejected::LogRecords,
                p.rejected_log_records,
                p.error_message,
            )
        }
    };
    partial_success::log(what, rejected, &message);
    Ok(())
}

/// The partial success of an OTLP/JSON response, read as Go's protojson reads it: the int64
/// count as a number or a string (`"3"`, how OTLP/JSON writes 64-bit integers), a `null` or
/// missing message as empty, snake_case keys too, unknown fields ignored. (`opentelemetry-proto`'s
/// serde takes only a number, and a response it cannot read would make the exporter resend
/// data the backend already took.)
fn json_partial_success(body: &[u8], rejected_key: &str) -> Result<(i64, String), ExportError> {
    let bad = |m: String| ExportError::retryable(format!("error parsing json response: {m}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let field = |v: &'_ serde_json::Value, camel: &str| -> Option<serde_json::Value> {
        let obj = v.as_object()?;
        obj.get(camel)
            .or_else(|| obj.get(&snake_case(camel)))
            .cloned()
    };
    let Some(p) = field(&v, "partialSuccess").filter(|p| !p.is_null()) else {
        return Ok((0, String::new()));
    };
    let rejected = match field(&p, rejected_key) {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| bad(format!("{rejected_key} {n} is not an int64")))?,
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("{rejected_key} {s:?} is not an int64")))?,
        Some(other) => return Err(bad(format!("{rejected_key} {other} is not an int64"))),
    };
    let message = match field(&p, "errorMessage") {
        Some(serde_json::Value::String(s)) => s,
        None | Some(serde_json::Value::Null) => String::new(),
        Some(other) => return Err(bad(format!("errorMessage {other} is not a string"))),
    };
    Ok((rejected, message))
}

/// `rejectedSpans` → `rejected_spans`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn decode<T>(body: &[u8], enc: Encoding) -> Result<T, ExportError>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    match enc {
        Encoding::Proto => T::decode(body)
            .map_err(|e| ExportError::retryable(format!("error parsing protobuf response: {e}"))),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| ExportError::retryable(format!("error parsing json response: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_partial_success_as_protojson_writes_it() {
        let read = |body: &str| json_partial_success(body.as_bytes(), "rejectedSpans");
        assert_eq!(
            read(r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad"}}"#).unwrap(),
            (3, "bad".into())
        );
        assert_eq!(
            read(r#"{"partialSuccess":{"rejectedSpans":2}}"#).unwrap(),
            (2, "".into())
        );
        assert_eq!(
            read(r#"{"partial_success":{"rejected_spans":"1","error_message":null}}"#).unwrap(),
            (1, "".into())
        );
        assert_eq!(read(r#"{"partialSuccess":{}}"#).unwrap(), (0, "".into()));
        assert_eq!(read(r#"{}"#).unwrap(), (0, "".into()));
        assert_eq!(
            read(r#"{"partialSuccess":null,"other":1}"#).unwrap(),
            (0, "".into())
        );
        assert!(read(r#"{"partialSuccess":{"rejectedSpans":"x"}}"#).is_err());
        assert!(read("not json").is_err());
    }

    #[test]
    fn retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses() {
        let e = status_error("http://x/v1/traces", 400, None, b"");
        assert!(e.permanent);
        assert_eq!(
            e.message,
            "rpc error: code = InvalidArgument desc = error exporting items, request to http://x/v1/traces responded with HTTP Status Code 400, Message=, Details=[]"
        );
        let e = status_error("u", 503, Some("7"), b"");
        assert!(e
            .message
            .starts_with("rpc error: code = Unavailable desc = "));
        assert_eq!(e.grpc_code, Some(14));
        assert!(!e.permanent);
        assert_eq!(e.throttle, Some(Duration::from_secs(7)));
        let e = status_error("u", 502, Some("7"), b"");
        assert!(!e.permanent && e.throttle.is_none());
        let e = status_error("u", 500, None, b"");
        assert!(e.permanent);
        assert!(e.message.starts_with("rpc error: code = Unknown desc = "));
        assert_eq!(status_error("u", 429, None, b"").grpc_code, Some(8));
    }
}
