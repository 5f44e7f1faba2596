//! `google.rpc.Status` and `google.rpc.RetryInfo`, decoded by hand so we need no extra crate.
//! They carry the error details of a gRPC status (`grpc-status-details-bin`) and the body of an
//! OTLP/HTTP error response.

use std::time::Duration;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

pub(crate) const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// The RetryInfo detail, if the status carries one. `Some(None)` is a RetryInfo without
    /// a delay (still makes RESOURCE_EXHAUSTED retryable).
    pub fn retry_info(&self) -> Option<Option<Duration>> {
        use prost::Message;
        let any = self
            .details
            .iter()
            .find(|d| d.type_url == RETRY_INFO_TYPE)?;
        let info = RetryInfo::decode(any.value.as_slice()).ok()?;
        Some(info.retry_delay.map(|d| {
            Duration::from_secs(d.seconds.max(0) as u64)
                + Duration::from_nanos(d.nanos.max(0) as u64)
        }))
    }

    /// Go's `%v` of `[]*anypb.Any`, close enough for an error message.
    pub fn details_text(&self) -> String {
        let items: Vec<String> = self
            .details
            .iter()
            .map(|d| format!("type_url:{:?}", d.type_url))
            .collect();
        format!("[{}]", items.join(" "))
    }
}
