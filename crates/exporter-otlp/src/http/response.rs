//! Judging an OTLP/HTTP response (otelcol's otlphttp `export` and `handlePartialSuccessResponse`).

use super::config::Encoding;
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
    match status {
        429 | 503 => ExportError::retryable(msg)
            .with_throttle(retry_after.and_then(|v| parse_retry_after(v, SystemTime::now()))),
        502 | 504 => ExportError::retryable(msg),
        _ => ExportError::permanent(msg),
    }
}

/// A 2xx answer: log a partial success. An empty body, or one of a content type we did not
/// ask for, is a plain success; a body that claims to be OTLP but does not parse is permanent.
pub fn check_success(
    signal: Signal,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), ExportError> {
    if body.is_empty() {
        return Ok(());
    }
    let enc = match content_type.map(|c| c.split(';').next().unwrap_or("").trim()) {
        Some("application/x-protobuf") => Encoding::Proto,
        Some("application/json") => Encoding::Json,
        _ => return Ok(()),
    };
    let (rejected, message, kind) = match signal {
        Signal::Traces => {
            let r: ExportTraceServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (p.rejected_spans, p.error_message, "spans")
        }
        Signal::Metrics => {
            let r: ExportMetricsServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (p.rejected_data_points, p.error_message, "data_points")
        }
        Signal::Logs => {
            let r: ExportLogsServiceResponse = decode(body, enc)?;
            let p = r.partial_success.unwrap_or_default();
            (p.rejected_log_records, p.error_message, "log_records")
        }
    };
    if rejected != 0 || !message.is_empty() {
        match kind {
            "spans" => tracing::warn!(
                message,
                dropped_spans = rejected,
                "Partial success response"
            ),
            "data_points" => {
                tracing::warn!(
                    message,
                    dropped_data_points = rejected,
                    "Partial success response"
                )
            }
            _ => tracing::warn!(
                message,
                dropped_log_records = rejected,
                "Partial success response"
            ),
        }
    }
    Ok(())
}

fn decode<T>(body: &[u8], enc: Encoding) -> Result<T, ExportError>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    let res = match enc {
        Encoding::Proto => T::decode(body).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    res.map_err(|e| ExportError::permanent(format!("failed to unmarshal the export response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "error exporting items, request to http://x/v1/traces responded with HTTP Status Code 400, Message=, Details=[]"
        );
        let e = status_error("u", 503, Some("7"), b"");
        assert!(!e.permanent);
        assert_eq!(e.throttle, Some(Duration::from_secs(7)));
        let e = status_error("u", 502, Some("7"), b"");
        assert!(!e.permanent && e.throttle.is_none());
        assert!(status_error("u", 500, None, b"").permanent);
    }
}
