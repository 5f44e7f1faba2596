//! The otlp receiver: OTLP over gRPC and HTTP (protobuf and JSON).
//!
//! [`OtlpReceiverFactory`] builds an [`OtlpReceiver`]; its `start()` binds the configured
//! listeners and [`OtlpReceiver::grpc_addr`] / [`OtlpReceiver::http_addr`] report the bound
//! addresses (useful with port 0 in tests).

pub mod config;
mod cors;
/// The body decoders, public for the fuzz targets (`fuzz/`).
pub mod decode;
mod grpc;
mod grpc_service;
mod http;
mod http_handler;
mod json_doubles;
mod json_text;
mod server_handle;
mod snappy;
mod status;
mod tls;

pub use config::OtlpReceiverConfig;

use async_trait::async_trait;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, Extensions, FactoryInfo,
    Receiver, ReceiverFactory, ServerAuthenticator, SignalConsumers,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::Telemetry;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct OtlpReceiverFactory;

impl FactoryInfo for OtlpReceiverFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn stability(&self) -> &'static str {
        "stable"
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<OtlpReceiverConfig>(node, path)
    }
    fn extension_refs(&self, cfg: &AnyConfig) -> Vec<(String, String)> {
        config_as::<OtlpReceiverConfig>(cfg).authenticators()
    }
}

impl ReceiverFactory for OtlpReceiverFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        consumers: SignalConsumers,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        let cfg = config_as::<OtlpReceiverConfig>(cfg).clone();
        Ok(Box::new(OtlpReceiver::new(ctx, cfg, consumers)))
    }
}

/// One otlp receiver instance: a gRPC and/or an HTTP server feeding the same consumers.
pub struct OtlpReceiver {
    id: String,
    telemetry: Telemetry,
    cfg: OtlpReceiverConfig,
    consumers: SignalConsumers,
    /// Where `auth::authenticator` is looked up, at start (as otelcol does).
    extensions: Extensions,
    grpc: Option<server_handle::ServerHandle>,
    http: Option<server_handle::ServerHandle>,
}

impl OtlpReceiver {
    pub fn new(ctx: &BuildContext, cfg: OtlpReceiverConfig, consumers: SignalConsumers) -> Self {
        OtlpReceiver {
            id: ctx.id.to_string(),
            telemetry: ctx.telemetry.clone(),
            cfg,
            consumers,
            extensions: ctx.extensions.clone(),
            grpc: None,
            http: None,
        }
    }

    /// The gRPC server's bound address, once started.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|g| g.addr)
    }

    /// The HTTP server's bound address, once started.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    fn authenticator(
        &self,
        name: Option<&String>,
    ) -> Result<Option<Arc<dyn ServerAuthenticator>>, BuildError> {
        name.map(|n| self.extensions.server_authenticator(n))
            .transpose()
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self) -> Result<(), BuildError> {
        let (grpc_cfg, http_cfg) = (
            self.cfg.protocols.grpc.as_ref(),
            self.cfg.protocols.http.as_ref(),
        );
        let grpc_auth = self.authenticator(
            grpc_cfg
                .and_then(|g| g.auth.as_ref())
                .map(|a| &a.authenticator),
        )?;
        let http_auth = self.authenticator(
            http_cfg
                .and_then(|h| h.auth.as_ref())
                .map(|a| &a.authenticator),
        )?;
        if let Some(g) = grpc_cfg {
            let m = self.telemetry.receiver(&self.id, "grpc");
            self.grpc = Some(grpc::start(g, &self.consumers, m, grpc_auth).await?);
        }
        if let Some(h) = self.cfg.protocols.http.as_ref() {
            let m = self.telemetry.receiver(&self.id, "http");
            match http::start(h, &self.consumers, m, http_auth).await {
                Ok(s) => self.http = Some(s),
                Err(e) => {
                    // Do not leave the gRPC listener running after a failed start.
                    self.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(mut h) = self.http.take() {
            h.shutdown().await;
        }
        if let Some(mut g) = self.grpc.take() {
            g.shutdown().await;
        }
    }
}
