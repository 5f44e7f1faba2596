//! The otlp (gRPC) and otlphttp exporters.
//!
//! Each exporter does one attempt per [`kakehashi_component::Exporter::export`] call and says
//! whether a retry may help; queueing, retries and timeouts are the exporter runner's job,
//! configured by the `ExporterHelperSettings` the factories return.

pub mod grpc;
pub mod http;
pub mod keepalive;
mod partial_success;
pub mod proxy;
mod rpc_status;
pub mod tls;

pub use grpc::{OtlpGrpcConfig, OtlpGrpcExporter, OtlpGrpcExporterFactory};
pub use http::{OtlpHttpConfig, OtlpHttpExporter, OtlpHttpExporterFactory};
pub use tls::TlsClientSettings;

/// Sent as `User-Agent` by both exporters.
pub(crate) const USER_AGENT: &str = concat!("kakehashi/", env!("CARGO_PKG_VERSION"));
