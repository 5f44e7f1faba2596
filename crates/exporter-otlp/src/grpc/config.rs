//! The `otlp` exporter's config (otelcol `configgrpc.ClientConfig` + exporterhelper settings).

use crate::tls::TlsClientSettings;
use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_component::AuthConfig;
use kakehashi_config::{Duration, MapList, Optional, Validate};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    pub endpoint: String,
    pub tls: TlsClientSettings,
    /// `gzip` (default), `zstd`, `none`/empty; `snappy` is rejected as not supported yet.
    pub compression: String,
    /// Sent as gRPC metadata on every call. Values are secrets (API keys, bearer tokens).
    pub headers: MapList,
    /// `round_robin` (otelcol's default) or `pick_first`: tonic's channel connects to one
    /// resolved address, so other balancers are an error.
    pub balancer_name: String,
    /// Accepted; the lazily connected channel already waits for a connection per call.
    pub wait_for_ready: bool,
    /// Accepted for compatibility (HTTP/2 buffering is managed by hyper).
    pub write_buffer_size: u64,
    pub read_buffer_size: u64,
    /// Overrides the `:authority` pseudo-header.
    pub authority: String,
    pub keepalive: Optional<KeepaliveSettings>,
    /// Authenticator extensions are not supported yet (validation error).
    /// `auth::authenticator`: a client authenticator extension (`bearertokenauth`).
    pub auth: Option<AuthConfig>,
    pub timeout: Duration,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        OtlpGrpcConfig {
            endpoint: String::new(),
            tls: TlsClientSettings::default(),
            compression: "gzip".into(),
            headers: MapList::default(),
            balancer_name: "round_robin".into(),
            wait_for_ready: false,
            write_buffer_size: 512 * 1024,
            read_buffer_size: 0,
            authority: String::new(),
            keepalive: Optional::default(),
            auth: None,
            timeout: Duration::from_secs(5),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
        }
    }
}

/// `keepalive`: off unless the section is present; `time` and `timeout` then default to 10s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveSettings {
    pub time: Duration,
    pub timeout: Duration,
    pub permit_without_stream: bool,
}

impl Default for KeepaliveSettings {
    fn default() -> Self {
        KeepaliveSettings {
            time: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            permit_without_stream: false,
        }
    }
}

/// The compression a gRPC client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCompression {
    None,
    Gzip,
    Zstd,
}

impl OtlpGrpcConfig {
    pub fn helper_settings(&self) -> ExporterHelperSettings {
        ExporterHelperSettings {
            timeout: self.timeout,
            retry: self.retry_on_failure.clone(),
            queue: self.sending_queue.clone(),
        }
    }

    pub fn compression(&self) -> Result<GrpcCompression, String> {
        match self.compression.to_ascii_lowercase().as_str() {
            "" | "none" => Ok(GrpcCompression::None),
            "gzip" => Ok(GrpcCompression::Gzip),
            "zstd" => Ok(GrpcCompression::Zstd),
            "snappy" => Err(
                "compression \"snappy\" is not supported yet by the otlp exporter; use gzip, zstd or none"
                    .into(),
            ),
            other => Err(format!("unsupported compression type {other:?}")),
        }
    }
}

impl Validate for OtlpGrpcConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.endpoint.trim().is_empty() {
            errs.push("requires a non-empty \"endpoint\"".into());
        } else if let Err(e) = super::endpoint::parse(&self.endpoint, &self.tls) {
            errs.push(e);
        }
        if let Err(e) = self.compression() {
            errs.push(e);
        }
        if !matches!(
            self.balancer_name.as_str(),
            "" | "round_robin" | "pick_first"
        ) {
            errs.push(format!(
                "balancer_name {:?} is not supported yet (round_robin, pick_first)",
                self.balancer_name
            ));
        }
        for key in self.headers.keys() {
            if tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(
                key.to_ascii_lowercase().as_bytes(),
            )
            .is_err()
            {
                errs.push(format!("headers: invalid header name {key:?}"));
            }
        }
        errs.extend(self.tls.validate());
        // The gRPC channel always offers TLS 1.2 and 1.3 (rustls has nothing older): a setting
        // that would narrow that cannot be honoured, and an error says so.
        if self.tls.min_version == "1.3"
            || ["1.0", "1.1", "1.2"].contains(&self.tls.max_version.as_str())
        {
            errs.push("tls::min_version / max_version: the gRPC exporter offers TLS 1.2 and 1.3; narrowing that is not supported yet".into());
        }
        errs.extend(self.helper_settings().validate());
        errs
    }
}
