//! Errors that say whether a retry helps.

use std::fmt;
use std::time::Duration;

/// Returned by [`crate::Consumer::consume`]. Receivers map it to the client's status:
/// retryable → gRPC `UNAVAILABLE` / HTTP 503, permanent → `INTERNAL` / 500, and a gRPC code
/// carried from a downstream OTLP server passes through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeError {
    pub message: String,
    pub permanent: bool,
    /// A server-provided delay (RetryInfo / `Retry-After`), if any.
    pub retry_after: Option<Duration>,
    /// A gRPC status code from a downstream OTLP server, passed through by receivers.
    pub grpc_code: Option<i32>,
}

impl ConsumeError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ConsumeError {
            message: message.into(),
            permanent: false,
            retry_after: None,
            grpc_code: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        ConsumeError {
            permanent: true,
            ..ConsumeError::retryable(message)
        }
    }
}

impl fmt::Display for ConsumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConsumeError {}

/// One failed export attempt, as an exporter reports it to the exporter runner.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportError {
    pub message: String,
    /// Permanent errors are never retried (`not retryable error: Permanent error: ...`).
    pub permanent: bool,
    /// A throttle hint from the server: the next attempt waits `max(backoff, throttle)`.
    pub throttle: Option<Duration>,
    /// The gRPC status code, when the backend is an OTLP/gRPC server.
    pub grpc_code: Option<i32>,
    /// How many of the batch's items were not delivered, when only part of it failed (an
    /// exporter that splits a batch into several requests). `None`: all of them.
    pub failed_items: Option<usize>,
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ExportError {
            message: message.into(),
            permanent: false,
            throttle: None,
            grpc_code: None,
            failed_items: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError {
            permanent: true,
            ..ExportError::retryable(message)
        }
    }
    /// Only `n` items of the batch were lost; the others reached the backend.
    pub fn with_failed_items(mut self, n: usize) -> Self {
        self.failed_items = Some(n);
        self
    }
    pub fn with_throttle(mut self, delay: Option<Duration>) -> Self {
        self.throttle = delay;
        self
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.permanent {
            write!(f, "Permanent error: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ExportError {}

/// A component could not be built from a valid config (surfaces as `failed to build pipelines:`),
/// or could not start (`failed to start "<id>" <kind>: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl From<String> for BuildError {
    fn from(s: String) -> Self {
        BuildError(s)
    }
}
impl From<&str> for BuildError {
    fn from(s: &str) -> Self {
        BuildError(s.to_owned())
    }
}
