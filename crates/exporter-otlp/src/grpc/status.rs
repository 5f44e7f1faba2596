//! Mapping a gRPC status to retryable/permanent, as otelcol's otlp exporter does (§3, §7).

use crate::rpc_status::RpcStatus;
use kakehashi_component::ExportError;
use tonic::Code;

/// Go's `codes.Code.String()` names (`Canceled` with one `l`), so messages read like otelcol's
/// `rpc error: code = Unavailable desc = ...`.
pub fn go_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// One failed call → an export error. Connection failures surface from tonic as UNAVAILABLE
/// (or UNKNOWN for some transport errors, which we treat as retryable too: the data was never
/// judged by the server).
pub fn map_status(status: &tonic::Status) -> ExportError {
    let code = status.code();
    // A client-side transport failure carries its cause (e.g. the TLS alert) only as a source.
    let desc = match std::error::Error::source(status).map(crate::tls::error_chain) {
        Some(chain) if chain.starts_with(status.message()) => chain,
        Some(chain) => format!("{}: {chain}", status.message()),
        None => status.message().to_string(),
    };
    let message = format!("rpc error: code = {} desc = {desc}", go_code_name(code));
    let details = decode_details(status);
    let retry_info = details.as_ref().and_then(RpcStatus::retry_info);
    let retryable = match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        Code::Unknown => is_transport_error(status),
        _ => false,
    };
    let mut err = if retryable {
        ExportError::retryable(message).with_throttle(retry_info.flatten())
    } else {
        ExportError::permanent(message)
    };
    err.grpc_code = Some(code as i32);
    err
}

fn decode_details(status: &tonic::Status) -> Option<RpcStatus> {
    use prost::Message;
    let bytes = status.details();
    if bytes.is_empty() {
        return None;
    }
    RpcStatus::decode(bytes).ok()
}

/// tonic reports some client-side transport failures (a broken connection mid-call) as UNKNOWN
/// with a source error attached; a server-sent UNKNOWN has no source.
fn is_transport_error(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc_status::{ProtoAny, ProtoDuration, RetryInfo, RETRY_INFO_TYPE};
    use prost::Message;
    use std::time::Duration;

    fn with_retry_info(code: Code, delay: Option<Duration>) -> tonic::Status {
        let info = RetryInfo {
            retry_delay: delay.map(|d| ProtoDuration {
                seconds: d.as_secs() as i64,
                nanos: d.subsec_nanos() as i32,
            }),
        };
        let st = RpcStatus {
            code: code as i32,
            message: "slow down".into(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE.into(),
                value: info.encode_to_vec(),
            }],
        };
        tonic::Status::with_details(code, "slow down", st.encode_to_vec().into())
    }

    #[test]
    fn codes() {
        let e = map_status(&tonic::Status::unavailable("down"));
        assert!(!e.permanent);
        assert_eq!(e.message, "rpc error: code = Unavailable desc = down");
        assert_eq!(e.grpc_code, Some(14));
        assert!(map_status(&tonic::Status::invalid_argument("bad")).permanent);
        assert!(map_status(&tonic::Status::resource_exhausted("x")).permanent);
        let e = map_status(&with_retry_info(
            Code::ResourceExhausted,
            Some(Duration::from_secs(3)),
        ));
        assert!(!e.permanent);
        assert_eq!(e.throttle, Some(Duration::from_secs(3)));
        let e = map_status(&with_retry_info(
            Code::Unavailable,
            Some(Duration::from_millis(1500)),
        ));
        assert_eq!(e.throttle, Some(Duration::from_millis(1500)));
        assert!(map_status(&tonic::Status::unknown("server said")).permanent);
    }
}
