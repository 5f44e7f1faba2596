//! `google.rpc.Status` and `RetryInfo`, and otelcol's mapping of pipeline errors to gRPC codes
//! and HTTP statuses (spec §2.4). Defined with prost derive to avoid pulling in `tonic-types`.

use kakehashi_component::ConsumeError;
use prost::Message;
use std::time::Duration;

pub const CODE_INVALID_ARGUMENT: i32 = 3;
pub const CODE_INTERNAL: i32 = 13;
pub const CODE_UNAVAILABLE: i32 = 14;
pub const CODE_UNAUTHENTICATED: i32 = 16;

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The gRPC code otelcol's receiver reports for a pipeline error: a downstream code passes
/// through, otherwise permanent → INTERNAL and anything else → UNAVAILABLE.
pub fn grpc_code_for(err: &ConsumeError) -> i32 {
    match err.grpc_code {
        Some(c) => c,
        None if err.permanent => CODE_INTERNAL,
        None => CODE_UNAVAILABLE,
    }
}

/// The full status for a pipeline error, with a RetryInfo detail only if a delay is known.
pub fn rpc_status_for(err: &ConsumeError) -> RpcStatus {
    let details = err
        .retry_after
        .map(|d| ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.into(),
            value: retry_info(d).encode_to_vec(),
        })
        .into_iter()
        .collect();
    RpcStatus {
        code: grpc_code_for(err),
        message: err.message.clone(),
        details,
    }
}

fn retry_info(d: Duration) -> RetryInfo {
    RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }),
    }
}

/// otelcol's `GetHTTPStatusCodeFromStatus`.
pub fn http_status_for_code(code: i32) -> u16 {
    match code {
        // CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS
        1 | 4 | 10 | 11 | 14 | 15 => 503,
        8 => 429,
        3 => 400,
        16 => 401,
        7 => 403,
        12 => 404,
        _ => 500,
    }
}

/// The JSON form of a status as protojson writes it (zero fields omitted).
pub fn status_json(s: &RpcStatus) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    if s.code != 0 {
        m.insert("code".into(), s.code.into());
    }
    if !s.message.is_empty() {
        m.insert("message".into(), s.message.clone().into());
    }
    if !s.details.is_empty() {
        let details = s
            .details
            .iter()
            .map(|d| {
                let mut o = serde_json::Map::new();
                o.insert("@type".into(), d.type_url.clone().into());
                if d.type_url == RETRY_INFO_TYPE_URL {
                    if let Ok(ri) = RetryInfo::decode(d.value.as_slice()) {
                        let delay = ri.retry_delay.unwrap_or_default();
                        let secs = delay.seconds as f64 + f64::from(delay.nanos) / 1e9;
                        o.insert("retryDelay".into(), format!("{secs}s").into());
                    }
                }
                serde_json::Value::Object(o)
            })
            .collect();
        m.insert("details".into(), serde_json::Value::Array(details));
    }
    serde_json::to_vec(&m).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(grpc_code_for(&ConsumeError::permanent("x")), CODE_INTERNAL);
        assert_eq!(
            grpc_code_for(&ConsumeError::retryable("x")),
            CODE_UNAVAILABLE
        );
        let mut e = ConsumeError::retryable("x");
        e.grpc_code = Some(8);
        assert_eq!(http_status_for_code(grpc_code_for(&e)), 429);
        assert!(rpc_status_for(&e).details.is_empty());
        e.retry_after = Some(Duration::from_secs(3));
        assert_eq!(rpc_status_for(&e).details.len(), 1);
        let json = status_json(&RpcStatus {
            code: 3,
            message: "bad".into(),
            details: vec![],
        });
        assert_eq!(json, br#"{"code":3,"message":"bad"}"#);
    }
}
