//! The otlp receiver's config, with otelcol's keys and defaults (`configgrpc.ServerConfig`,
//! `confighttp.ServerConfig` plus the receiver's URL paths).
//!
//! Every key otelcol knows is accepted by the decoder so that configs written for otelcol decode;
//! keys whose behaviour we do not implement are rejected by [`Validate`] instead of being ignored.

use kakehashi_component::AuthConfig;
use kakehashi_config::{AnyValue, Duration, Optional, Secret, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

/// gRPC's default max receive message size, used when `max_recv_msg_size_mib` is 0.
pub const DEFAULT_GRPC_MAX_RECV_BYTES: usize = 4 * 1024 * 1024;
/// confighttp's default `max_request_body_size` (20 MiB).
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: i64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpReceiverConfig {
    pub protocols: Protocols,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocols {
    pub grpc: Optional<GrpcServerConfig>,
    pub http: Optional<HttpServerConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    pub endpoint: String,
    pub transport: String,
    pub tls: Optional<TlsServerConfig>,
    pub max_recv_msg_size_mib: u64,
    pub max_concurrent_streams: u32,
    /// Go-runtime buffer tuning; accepted for compatibility, hyper sizes its buffers itself.
    pub read_buffer_size: u64,
    pub write_buffer_size: u64,
    pub keepalive: Optional<KeepaliveServerConfig>,
    pub include_metadata: bool,
    /// `auth::authenticator`: an authenticator extension every request must pass.
    pub auth: Option<AuthConfig>,
    pub middlewares: Option<AnyValue>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: "localhost:4317".into(),
            transport: "tcp".into(),
            tls: Optional::default(),
            max_recv_msg_size_mib: 0,
            max_concurrent_streams: 0,
            read_buffer_size: 512 * 1024,
            write_buffer_size: 0,
            keepalive: Optional::default(),
            include_metadata: false,
            auth: None,
            middlewares: None,
        }
    }
}

impl GrpcServerConfig {
    /// The effective max message size (0 means gRPC's 4 MiB).
    pub fn max_recv_bytes(&self) -> usize {
        if self.max_recv_msg_size_mib == 0 {
            DEFAULT_GRPC_MAX_RECV_BYTES
        } else {
            usize::try_from(self.max_recv_msg_size_mib.saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerConfig {
    pub server_parameters: Optional<KeepaliveServerParameters>,
    pub enforcement_policy: Optional<KeepaliveEnforcementPolicy>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    pub max_connection_idle: Duration,
    pub max_connection_age: Duration,
    pub max_connection_age_grace: Duration,
    pub time: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveEnforcementPolicy {
    pub min_time: Duration,
    pub permit_without_stream: bool,
}

/// `configtls.ServerConfig`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    pub ca_file: String,
    pub ca_pem: Secret,
    pub include_system_ca_certs_pool: bool,
    pub cert_file: String,
    pub cert_pem: Secret,
    pub key_file: String,
    pub key_pem: Secret,
    pub min_version: String,
    pub max_version: String,
    pub cipher_suites: Vec<String>,
    pub curve_preferences: Vec<String>,
    pub reload_interval: Duration,
    pub client_ca_file: String,
    pub client_ca_file_reload: bool,
    pub tpm_config: Option<AnyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    pub endpoint: String,
    pub tls: Optional<TlsServerConfig>,
    pub cors: Optional<CorsConfig>,
    pub auth: Option<HttpAuthConfig>,
    pub middlewares: Option<AnyValue>,
    pub max_request_body_size: i64,
    pub include_metadata: bool,
    pub response_headers: BTreeMap<String, Secret>,
    pub compression_algorithms: Vec<String>,
    /// otelcol's receiver sets all of these to 0 (no timeout); any other value is an error
    /// (not supported yet), except `read_header_timeout`: HTTP/1 header read limit, where 0
    /// means 1 minute (see `http.rs`).
    pub read_timeout: Duration,
    pub read_header_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub keep_alives_enabled: bool,
    pub traces_url_path: String,
    pub metrics_url_path: String,
    pub logs_url_path: String,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: "localhost:4318".into(),
            tls: Optional::default(),
            cors: Optional::default(),
            auth: None,
            middlewares: None,
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
            include_metadata: false,
            response_headers: BTreeMap::new(),
            compression_algorithms: [
                "",
                "gzip",
                "zstd",
                "zlib",
                "snappy",
                "deflate",
                "lz4",
                "x-snappy-framed",
            ]
            .map(String::from)
            .to_vec(),
            read_timeout: Duration::ZERO,
            read_header_timeout: Duration::ZERO,
            write_timeout: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            keep_alives_enabled: true,
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
        }
    }
}

impl HttpServerConfig {
    /// The body limit in bytes; otelcol treats 0 (or less) as the 20 MiB default.
    pub fn body_limit(&self) -> usize {
        if self.max_request_body_size <= 0 {
            DEFAULT_MAX_REQUEST_BODY_SIZE as usize
        } else {
            usize::try_from(self.max_request_body_size).unwrap_or(usize::MAX)
        }
    }
}

/// A URL path as otelcol registers it: a missing leading `/` is added.
pub fn sanitize_url_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// `confighttp.AuthConfig`: `configauth.Config` plus `request_params`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuthConfig {
    pub authenticator: String,
    /// Query parameters passed to the authenticator as headers; not supported.
    #[serde(default)]
    pub request_params: Vec<String>,
}

impl OtlpReceiverConfig {
    /// The authenticator ids the servers use, with their config paths.
    pub fn authenticators(&self) -> Vec<(String, String)> {
        let grpc = self.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref());
        let http = self.protocols.http.as_ref().and_then(|h| h.auth.as_ref());
        let mut out = Vec::new();
        if let Some(a) = grpc {
            out.push((
                "protocols::grpc::auth::authenticator".into(),
                a.authenticator.clone(),
            ));
        }
        if let Some(a) = http {
            out.push((
                "protocols::http::auth::authenticator".into(),
                a.authenticator.clone(),
            ));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age: i64,
}

fn not_supported(what: &str) -> String {
    format!("{what} is not supported yet")
}

fn validate_tls(prefix: &str, tls: &TlsServerConfig, out: &mut Vec<String>) {
    let has_cert = !tls.cert_file.is_empty() || !tls.cert_pem.is_empty();
    let has_key = !tls.key_file.is_empty() || !tls.key_pem.is_empty();
    if has_cert != has_key || !has_cert {
        out.push(format!(
            "{prefix}: for auth via TLS, provide both certificate and key, or neither"
        ));
    }
    for (key, v) in [
        ("min_version", &tls.min_version),
        ("max_version", &tls.max_version),
    ] {
        match v.as_str() {
            "" | "1.2" | "1.3" => {}
            "1.0" | "1.1" => out.push(not_supported(&format!("{prefix}::{key} {v:?}"))),
            _ => out.push(format!(
                "{prefix}: invalid TLS {key}: unsupported TLS version: {v:?}"
            )),
        }
    }
    let unsupported = [
        ("cipher_suites", !tls.cipher_suites.is_empty()),
        ("curve_preferences", !tls.curve_preferences.is_empty()),
        ("reload_interval", !tls.reload_interval.is_zero()),
        ("client_ca_file_reload", tls.client_ca_file_reload),
        ("tpm_config", tls.tpm_config.is_some()),
    ];
    for (key, set) in unsupported {
        if set {
            out.push(not_supported(&format!("{prefix}::{key}")));
        }
    }
}

/// grpc-go's `defaultKeepalivePolicyMinTime`.
const GRPC_DEFAULT_PING_MIN_TIME: std::time::Duration = std::time::Duration::from_secs(300);

impl Validate for OtlpReceiverConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (grpc, http) = (self.protocols.grpc.as_ref(), self.protocols.http.as_ref());
        if grpc.is_none() && http.is_none() {
            out.push("must specify at least one protocol when using the OTLP receiver".into());
        }
        if let Some(g) = grpc {
            match g.transport.as_str() {
                "tcp" | "tcp4" | "tcp6" => {}
                "unix" => out.push(not_supported("protocols::grpc::transport \"unix\"")),
                t => out.push(format!("protocols::grpc::transport: unknown network {t:?}")),
            }
            if g.middlewares.is_some() {
                out.push(not_supported("protocols::grpc::middlewares"));
            }
            if let Some(tls) = g.tls.as_ref() {
                validate_tls("protocols::grpc::tls", tls, &mut out);
            }
            if let Some(ka) = g.keepalive.as_ref() {
                if let Some(sp) = ka.server_parameters.as_ref() {
                    if !sp.max_connection_idle.is_zero() {
                        out.push(not_supported(
                            "protocols::grpc::keepalive::server_parameters::max_connection_idle",
                        ));
                    }
                }
                if let Some(ep) = ka.enforcement_policy.as_ref() {
                    // hyper's HTTP/2 server does not police client pings, which is what a
                    // policy at or below grpc-go's default (5 minutes, 0 meaning the default)
                    // or one permitting pings without streams asks; a stricter one it cannot
                    // enforce.
                    if ep.min_time.get() > GRPC_DEFAULT_PING_MIN_TIME {
                        out.push(not_supported(
                            "protocols::grpc::keepalive::enforcement_policy::min_time above 5m",
                        ));
                    }
                }
            }
        }
        if let Some(h) = http {
            if h.auth
                .as_ref()
                .is_some_and(|a| !a.request_params.is_empty())
            {
                out.push(not_supported("protocols::http::auth::request_params"));
            }
            if h.middlewares.is_some() {
                out.push(not_supported("protocols::http::middlewares"));
            }
            if let Some(tls) = h.tls.as_ref() {
                validate_tls("protocols::http::tls", tls, &mut out);
            }
            // otelcol's receiver leaves these at 0 (no timeout); a config that sets one expects
            // protection we do not give yet, so it is an error, not a silent no-op.
            // (`read_header_timeout` is implemented.)
            for (key, v) in [
                ("read_timeout", h.read_timeout),
                ("write_timeout", h.write_timeout),
                ("idle_timeout", h.idle_timeout),
            ] {
                if !v.is_zero() {
                    out.push(not_supported(&format!("protocols::http::{key}")));
                }
            }
            if !h.keep_alives_enabled {
                out.push(not_supported("protocols::http::keep_alives_enabled: false"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_otelcol() {
        let g = GrpcServerConfig::default();
        assert_eq!(g.endpoint, "localhost:4317");
        assert_eq!(g.max_recv_bytes(), 4 * 1024 * 1024);
        let h = HttpServerConfig::default();
        assert_eq!(h.endpoint, "localhost:4318");
        assert_eq!(h.body_limit(), 20971520);
        assert_eq!(h.traces_url_path, "/v1/traces");
        assert!(h.keep_alives_enabled);
        assert_eq!(sanitize_url_path("x/y"), "/x/y");
    }

    #[test]
    fn validation() {
        let none = OtlpReceiverConfig::default();
        assert_eq!(
            none.validate(),
            vec!["must specify at least one protocol when using the OTLP receiver"]
        );
        let mut c = OtlpReceiverConfig::default();
        c.protocols.grpc = Optional::some(GrpcServerConfig {
            transport: "unix".into(),
            ..Default::default()
        });
        let errs = c.validate();
        assert!(
            errs.iter()
                .any(|e| e.contains("\"unix\" is not supported yet")),
            "{errs:?}"
        );
        let mut c = OtlpReceiverConfig::default();
        c.protocols.http = Optional::some(HttpServerConfig {
            auth: Some(HttpAuthConfig {
                authenticator: "bearertokenauth".into(),
                request_params: vec!["token".into()],
            }),
            ..Default::default()
        });
        assert_eq!(
            c.validate(),
            vec!["protocols::http::auth::request_params is not supported yet"]
        );

        let mut c = OtlpReceiverConfig::default();
        c.protocols.http = Optional::some(HttpServerConfig {
            tls: Optional::some(TlsServerConfig {
                cert_file: "c.pem".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(c.validate().len(), 1);
        c.protocols.http = Optional::some(HttpServerConfig::default());
        assert!(c.validate().is_empty());
    }
}
