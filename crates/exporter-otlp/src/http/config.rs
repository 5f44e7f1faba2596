//! The `otlphttp` exporter's config (otelcol `confighttp.ClientConfig` + exporter fields).

use crate::keepalive::{KeepaliveKeys, KeepaliveSettings};
use crate::tls::TlsClientSettings;
use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_component::AuthConfig;
use kakehashi_config::{AnyValue, Duration, MapList, Validate};
use kakehashi_pdata::Signal;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    /// Base URL; `/v1/<signal>` is appended.
    pub endpoint: String,
    /// Per-signal URLs, used verbatim.
    pub traces_endpoint: String,
    pub metrics_endpoint: String,
    pub logs_endpoint: String,
    /// Accepted; profiles are not a supported signal yet.
    pub profiles_endpoint: String,
    /// `proto` (default) or `json`.
    pub encoding: String,
    pub compression: String,
    pub compression_params: CompressionParams,
    /// The HTTP client's timeout for a whole request (the runner's timeout is 0 for otlphttp).
    pub timeout: Duration,
    /// Values are secrets (API keys, bearer tokens).
    pub headers: MapList,
    pub tls: TlsClientSettings,
    pub proxy_url: String,
    /// Accepted for compatibility (buffering is managed by hyper).
    pub read_buffer_size: u64,
    pub write_buffer_size: u64,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    /// Requests beyond it wait for one in flight to finish (see the exporter).
    pub max_conns_per_host: Option<usize>,
    pub idle_conn_timeout: Option<Duration>,
    pub disable_keep_alives: bool,
    /// otelcol v0.160's section for the idle-connection keys ([`crate::keepalive`]).
    pub keepalive: Option<KeepaliveSettings>,
    pub http2_read_idle_timeout: Duration,
    pub http2_ping_timeout: Duration,
    pub force_attempt_http2: Option<bool>,
    pub cookies: Option<AnyValue>,
    /// `auth::authenticator`: a client authenticator extension (`bearertokenauth`).
    pub auth: Option<AuthConfig>,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            endpoint: String::new(),
            traces_endpoint: String::new(),
            metrics_endpoint: String::new(),
            logs_endpoint: String::new(),
            profiles_endpoint: String::new(),
            encoding: "proto".into(),
            compression: "gzip".into(),
            compression_params: CompressionParams::default(),
            timeout: Duration::from_secs(30),
            headers: MapList::default(),
            tls: TlsClientSettings::default(),
            proxy_url: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 512 * 1024,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: None,
            disable_keep_alives: false,
            keepalive: None,
            http2_read_idle_timeout: Duration::ZERO,
            http2_ping_timeout: Duration::ZERO,
            force_attempt_http2: None,
            cookies: None,
            auth: None,
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// 0 means the codec's default level.
    pub level: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Proto,
    Json,
}

/// A request body codec; the name is also the `Content-Encoding` value (as in confighttp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCompression {
    None,
    Gzip,
    Zstd,
    Zlib,
    Deflate,
}

impl HttpCompression {
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            HttpCompression::None => None,
            HttpCompression::Gzip => Some("gzip"),
            HttpCompression::Zstd => Some("zstd"),
            HttpCompression::Zlib => Some("zlib"),
            HttpCompression::Deflate => Some("deflate"),
        }
    }
}

impl OtlpHttpConfig {
    /// The keep-alive keys, flat and sectioned.
    pub fn keepalive_keys(&self) -> KeepaliveKeys<'_> {
        KeepaliveKeys {
            section: self.keepalive.as_ref(),
            idle_conn_timeout: self.idle_conn_timeout,
            max_idle_conns: self.max_idle_conns,
            max_idle_conns_per_host: self.max_idle_conns_per_host,
            disable_keep_alives: self.disable_keep_alives,
        }
    }

    pub fn helper_settings(&self) -> ExporterHelperSettings {
        ExporterHelperSettings {
            // otlphttp passes timeout 0 to exporterhelper; the HTTP client enforces `timeout`.
            timeout: Duration::ZERO,
            retry: self.retry_on_failure.clone(),
            queue: self.sending_queue.clone(),
        }
    }

    pub fn encoding(&self) -> Result<Encoding, String> {
        match self.encoding.as_str() {
            "proto" => Ok(Encoding::Proto),
            "json" => Ok(Encoding::Json),
            other => Err(format!("invalid encoding type: {other}")),
        }
    }

    pub fn compression(&self) -> Result<HttpCompression, String> {
        let c = match self.compression.to_ascii_lowercase().as_str() {
            "" | "none" => HttpCompression::None,
            "gzip" => HttpCompression::Gzip,
            "zstd" => HttpCompression::Zstd,
            "zlib" => HttpCompression::Zlib,
            "deflate" => HttpCompression::Deflate,
            other @ ("snappy" | "x-snappy-framed" | "lz4") => {
                return Err(format!(
                    "compression {other:?} is not supported yet by the otlphttp exporter; use gzip, zstd, zlib, deflate or none"
                ))
            }
            other => return Err(format!("unsupported compression type {other:?}")),
        };
        let level = self.compression_params.level;
        let ok = match c {
            _ if level == 0 => true,
            HttpCompression::None => false,
            HttpCompression::Gzip | HttpCompression::Zlib | HttpCompression::Deflate => {
                (-1..=9).contains(&level)
            }
            HttpCompression::Zstd => (1..=22).contains(&level),
        };
        if !ok {
            return Err(format!(
                "unsupported parameters {{Level:{level}}} for compression type {:?}",
                self.compression
            ));
        }
        Ok(c)
    }

    /// The URL a signal is posted to: its own `<signal>_endpoint` verbatim, else `endpoint`
    /// plus `/v1/<signal>` without a double `/`.
    pub fn signal_url(&self, signal: Signal) -> Option<String> {
        let own = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        if !own.is_empty() {
            return Some(own.clone());
        }
        if self.endpoint.is_empty() {
            return None;
        }
        let base = self.endpoint.strip_suffix('/').unwrap_or(&self.endpoint);
        Some(format!("{base}/v1/{}", signal.as_str()))
    }
}

impl Validate for OtlpHttpConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let all = [
            &self.endpoint,
            &self.traces_endpoint,
            &self.metrics_endpoint,
            &self.logs_endpoint,
            &self.profiles_endpoint,
        ];
        if all.iter().all(|e| e.is_empty()) {
            errs.push("at least one endpoint must be specified".into());
        }
        for (key, v) in [
            ("endpoint", &self.endpoint),
            ("traces_endpoint", &self.traces_endpoint),
            ("metrics_endpoint", &self.metrics_endpoint),
            ("logs_endpoint", &self.logs_endpoint),
        ] {
            if !v.is_empty() && reqwest::Url::parse(v).is_err() {
                errs.push(format!("{key:?} must be a valid URL"));
            }
        }
        if let Err(e) = self.encoding() {
            errs.push(e);
        }
        if self.cookies.is_some() {
            errs.push("cookies is not supported yet".into());
        }
        self.keepalive_keys().validate(&mut errs);
        if let Err(e) = self.compression() {
            errs.push(e);
        }
        if !self.proxy_url.is_empty() && reqwest::Proxy::all(&self.proxy_url).is_err() {
            errs.push(format!("invalid proxy_url {:?}", self.proxy_url));
        }
        if !self.tls.server_name_override.is_empty() {
            errs.push(
                "tls::server_name_override is not supported yet by the otlphttp exporter".into(),
            );
        }
        errs.extend(self.tls.validate());
        errs.extend(self.helper_settings().validate());
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_config::decode_yaml;

    fn parse(yaml: &str) -> OtlpHttpConfig {
        decode_yaml::<OtlpHttpConfig>("exporters::otlphttp", yaml).expect("decodes")
    }

    #[test]
    fn the_keepalive_section_drives_the_pool_unless_mixed_with_flat_keys() {
        let c = parse("endpoint: http://127.0.0.1:4318\nkeepalive:\n  enabled: false\n");
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert!(!c.keepalive_keys().effective().enabled);
        let c = parse("endpoint: http://127.0.0.1:4318\nkeepalive:\n  idle_conn_timeout: 5s\n");
        let k = c.keepalive_keys().effective();
        assert!(k.enabled, "the section's presence enables keep-alives");
        assert_eq!(k.idle_conn_timeout, Some(Duration::from_secs(5)));
        let c = parse(
            "endpoint: http://127.0.0.1:4318\nidle_conn_timeout: 10s\nkeepalive:\n  enabled: true\n",
        );
        assert_eq!(c.validate().len(), 1, "{:?}", c.validate());
    }
}
