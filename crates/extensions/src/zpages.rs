//! The `zpages` extension: otelcol's in-process debug pages under `/debug/`: the service
//! (`servicez`), its pipelines (`pipelinez`), extensions (`extensionz`) and feature gates
//! (`featurez`), and with `expvar::enabled` the `expvarz` JSON. `tracez` needs spans of the
//! collector's own, which kakehashi does not record: as otelcol when its tracer provider cannot
//! take a span processor, the page is not served and a warning says so.

mod pages;

use async_trait::async_trait;
use kakehashi_component::Signal;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, Extension, ExtensionFactory,
    FactoryInfo, ServiceInfo,
};
use kakehashi_config::{AnyValue, ConfigErrors, Node, Validate};
use kakehashi_telemetry::server::HttpServer;
use serde::Deserialize;
use std::sync::Arc;

/// otelcol's `zpagesextension.Config`: `confighttp.ServerConfig`, squashed, plus `expvar`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZPagesConfig {
    pub endpoint: String,
    pub expvar: ExpvarConfig,
    // The rest of confighttp's server settings: otelcol's keys, not supported here yet (an
    // error, never ignored).
    pub tls: Option<AnyValue>,
    pub cors: Option<AnyValue>,
    pub auth: Option<AnyValue>,
    pub middlewares: Option<AnyValue>,
    pub response_headers: Option<AnyValue>,
    pub max_request_body_size: Option<AnyValue>,
    pub include_metadata: Option<AnyValue>,
    pub compression_algorithms: Option<AnyValue>,
    pub read_timeout: Option<AnyValue>,
    pub read_header_timeout: Option<AnyValue>,
    pub write_timeout: Option<AnyValue>,
    pub idle_timeout: Option<AnyValue>,
    pub keep_alives_enabled: Option<AnyValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpvarConfig {
    pub enabled: bool,
}

impl Default for ZPagesConfig {
    fn default() -> Self {
        ZPagesConfig {
            endpoint: "localhost:55679".into(),
            expvar: ExpvarConfig::default(),
            tls: None,
            cors: None,
            auth: None,
            middlewares: None,
            response_headers: None,
            max_request_body_size: None,
            include_metadata: None,
            compression_algorithms: None,
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            keep_alives_enabled: None,
        }
    }
}

impl ZPagesConfig {
    fn unsupported_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("tls", &self.tls),
            ("cors", &self.cors),
            ("auth", &self.auth),
            ("middlewares", &self.middlewares),
            ("response_headers", &self.response_headers),
            ("max_request_body_size", &self.max_request_body_size),
            ("include_metadata", &self.include_metadata),
            ("compression_algorithms", &self.compression_algorithms),
            ("read_timeout", &self.read_timeout),
            ("read_header_timeout", &self.read_header_timeout),
            ("write_timeout", &self.write_timeout),
            ("idle_timeout", &self.idle_timeout),
            ("keep_alives_enabled", &self.keep_alives_enabled),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
    }
}

impl Validate for ZPagesConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.endpoint.is_empty() {
            // otelcol's text.
            errs.push(r#""endpoint" is required when using the "zpages" extension"#.into());
        }
        for key in self.unsupported_keys() {
            errs.push(format!(
                "{key}: not supported yet on the zpages endpoint (only endpoint and expvar are)"
            ));
        }
        errs
    }
}

pub struct ZPagesExtensionFactory;

impl FactoryInfo for ZPagesExtensionFactory {
    fn type_name(&self) -> &'static str {
        "zpages"
    }
    fn signals(&self) -> &'static [Signal] {
        &[]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<ZPagesConfig>(node, path)
    }
}

impl ExtensionFactory for ZPagesExtensionFactory {
    fn build(&self, ctx: &BuildContext, cfg: &AnyConfig) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(ZPages::new(
            ctx.id.to_string(),
            config_as::<ZPagesConfig>(cfg).clone(),
            ctx.service.clone(),
        )))
    }
}

pub struct ZPages {
    id: String,
    config: ZPagesConfig,
    service: Arc<ServiceInfo>,
    server: tokio::sync::Mutex<Option<HttpServer>>,
}

impl ZPages {
    pub fn new(id: String, config: ZPagesConfig, service: Arc<ServiceInfo>) -> ZPages {
        ZPages {
            id,
            config,
            service,
            server: tokio::sync::Mutex::new(None),
        }
    }

    /// The bound address, once started (tests bind port 0).
    pub async fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.lock().await.as_ref().map(|s| s.local_addr)
    }
}

#[async_trait]
impl Extension for ZPages {
    async fn start(&self) -> Result<(), BuildError> {
        // otelcol's warning when its tracer provider takes no span processor (tracez needs one).
        tracing::warn!(
            extension = %self.id,
            "zPages span processor registration is not available: kakehashi records no spans \
             of its own, so /debug/tracez is not served"
        );
        if self.config.expvar.enabled {
            tracing::info!(extension = %self.id, "Registered zPages expvar handler");
        }
        let router = pages::router(self.service.clone(), self.config.expvar.enabled);
        let server = HttpServer::start(&self.config.endpoint, router)
            .await
            .map_err(BuildError)?;
        tracing::info!(extension = %self.id, endpoint = %server.local_addr, "Starting zPages extension");
        *self.server.lock().await = Some(server);
        Ok(())
    }

    async fn shutdown(&self) {
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests;
