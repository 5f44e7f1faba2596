//! Component factories and the running parts they build.

use crate::auth::{ClientAuthenticator, Extensions, ServerAuthenticator};
use crate::consumer::{Batch, Consumer, SignalConsumers};
use crate::error::{BuildError, ExportError};
use crate::exporterhelper::ExporterHelperSettings;
use async_trait::async_trait;
use kakehashi_config::{decode, ComponentId, ConfigError, ConfigErrors, Node, Validate};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::Telemetry;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A decoded, validated component config. Each factory downcasts to its own type.
pub type AnyConfig = Box<dyn Any + Send + Sync>;

/// Decodes `node` into `T`, runs its [`Validate`] checks and boxes it. Validation messages are
/// reported at `path` (otelcol: `processors::batch/datadog: send_batch_max_size must be ...`).
pub fn decode_config<T>(node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors>
where
    T: DeserializeOwned + Validate + Send + Sync + 'static,
{
    let cfg: T = decode(node, path)?;
    let problems = cfg.validate();
    if problems.is_empty() {
        Ok(Box::new(cfg))
    } else {
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|m| ConfigError::new(path, m).at(node.location.clone()))
                .collect(),
        ))
    }
}

/// The config a factory decoded, as its concrete type. Panics on a type mismatch, which can only
/// be a wiring bug in the topology (a config passed to another factory).
pub fn config_as<T: 'static>(cfg: &AnyConfig) -> &T {
    cfg.downcast_ref::<T>()
        .expect("config passed to the factory that decoded it")
}

/// Everything a component gets at build time besides its config.
#[derive(Clone)]
pub struct BuildContext {
    pub id: ComponentId,
    pub telemetry: Telemetry,
    /// Enabled feature gates (`--feature-gates=+a,-b`).
    pub feature_gates: Arc<BTreeSet<String>>,
    /// The extensions enabled in `service::extensions` (empty when building an extension).
    pub extensions: Extensions,
    /// The service being built: its pipelines, extensions and gates (zpages shows them).
    pub service: Arc<crate::ServiceInfo>,
}

impl BuildContext {
    pub fn new(id: ComponentId, telemetry: Telemetry) -> Self {
        BuildContext {
            id,
            telemetry,
            feature_gates: Arc::default(),
            extensions: Extensions::default(),
            service: Arc::default(),
        }
    }
    pub fn gate_enabled(&self, gate: &str) -> bool {
        self.feature_gates.contains(gate)
    }
}

/// What every factory says about itself.
pub trait FactoryInfo: Send + Sync {
    /// The config type name (`otlp`, `batch`, ...).
    fn type_name(&self) -> &'static str;
    /// Other accepted type names (`otlp_grpc` for `otlp`); using one logs a deprecation warning
    /// only when it is the old name.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// Signals the component supports (empty for extensions).
    fn signals(&self) -> &'static [Signal];
    /// `development`, `alpha`, `beta` or `stable`, for `kakehashi components`.
    fn stability(&self) -> &'static str {
        "beta"
    }
    /// Decodes and validates the component's config subtree at `path`.
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors>;
    /// The extensions a decoded config refers to, as (key path inside the component, extension
    /// id), e.g. `("protocols::grpc::auth::authenticator", "bearertokenauth")`. The resolver
    /// reports a reference to an extension missing from `service::extensions` as a config error.
    fn extension_refs(&self, _cfg: &AnyConfig) -> Vec<(String, String)> {
        Vec::new()
    }
}

#[async_trait]
pub trait Receiver: Send {
    /// Binds listeners; an error fails the collector start (`failed to start "otlp" receiver: ...`).
    async fn start(&mut self) -> Result<(), BuildError>;
    /// Stops accepting and waits for in-flight requests to finish.
    async fn shutdown(&mut self);
}

pub trait ReceiverFactory: FactoryInfo {
    /// One receiver instance serves every pipeline that lists it; `consumers` has the entry
    /// points of those pipelines, per signal.
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        consumers: SignalConsumers,
    ) -> Result<Box<dyn Receiver>, BuildError>;
}

/// A processor is a consumer that passes (possibly changed) data to the next consumer.
#[async_trait]
pub trait Processor: Consumer {
    async fn start(&self) -> Result<(), BuildError> {
        Ok(())
    }
    /// Called after every upstream component has shut down; flushes everything pending.
    async fn shutdown(&self) {}
}

pub trait ProcessorFactory: FactoryInfo {
    /// One instance per pipeline (processors are never shared between pipelines).
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError>;
}

/// The backend-facing part of an exporter: one attempt to send one batch. Queueing, retries and
/// timeouts are the exporter runner's job (configured by [`ExporterHelperSettings`]).
#[async_trait]
pub trait Exporter: Send + Sync + 'static {
    async fn start(&self) -> Result<(), BuildError> {
        Ok(())
    }
    async fn export(&self, batch: &Batch) -> Result<(), ExportError>;
    /// Shutdown has begun (the runner drains its queue next): an exporter that retries on its
    /// own stops retrying, so each remaining batch gets its attempt before the drain deadline.
    /// A batch given up this way is a retryable error, so a persistent queue keeps it.
    fn begin_shutdown(&self) {}
    async fn shutdown(&self) {}
}

/// An exporter plus how the runner must drive it.
pub struct BuiltExporter {
    pub exporter: Arc<dyn Exporter>,
    pub settings: ExporterHelperSettings,
}

pub trait ExporterFactory: FactoryInfo {
    /// For a signal this exporter takes only from some connectors (the Datadog exporter's
    /// metrics, which so far carry only the Datadog connector's APM stats): their type names.
    /// A pipeline of that signal feeding it from a receiver or another connector is a config
    /// error. `None`: any source.
    fn only_from_connectors(&self, _signal: Signal) -> Option<&'static [&'static str]> {
        None
    }
    /// One instance per (exporter id, signal), shared by the pipelines of that signal.
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
    ) -> Result<BuiltExporter, BuildError>;
}

/// A connector: an exporter in the pipelines that list it under `exporters` and a receiver in
/// those that list it under `receivers`. One instance per (id, consumed signal, emitted signal)
/// pair in use, as otelcol's graph builds them; it pushes what it emits into `next`, the fan-out
/// to every pipeline of the emitted signal that lists it as a receiver.
#[async_trait]
pub trait Connector: Consumer {
    async fn start(&self) -> Result<(), BuildError> {
        Ok(())
    }
    /// Called after every pipeline feeding it has shut down; emits everything pending.
    async fn shutdown(&self) {}
}

pub trait ConnectorFactory: FactoryInfo {
    /// The (consumed, emitted) signal pairs it supports (`traces` to `metrics`, ...).
    fn pairs(&self) -> &'static [(Signal, Signal)];
    /// Feature gates a configuration using this pair turns on for every component, e.g. the
    /// Datadog connector computing APM stats turns off the Datadog exporter's own.
    fn implied_gates(&self, _from: Signal, _to: Signal) -> &'static [&'static str] {
        &[]
    }
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        from: Signal,
        to: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Connector>, BuildError>;
}

#[async_trait]
pub trait Extension: Send + Sync {
    async fn start(&self) -> Result<(), BuildError>;
    async fn shutdown(&self);
    /// All pipelines have started (health_check turns 200).
    fn pipelines_ready(&self) {}
    /// Shutdown has begun (health_check turns 503).
    fn pipelines_not_ready(&self) {}
    /// This extension as a server authenticator, if it is one (`bearertokenauth`).
    fn server_authenticator(self: Arc<Self>) -> Option<Arc<dyn ServerAuthenticator>> {
        None
    }
    /// This extension as a client authenticator, if it is one (`bearertokenauth`).
    fn client_authenticator(self: Arc<Self>) -> Option<Arc<dyn ClientAuthenticator>> {
        None
    }
    /// This extension as a storage (`file_storage`), if it is one: `sending_queue::storage`.
    fn storage(self: Arc<Self>) -> Option<Arc<dyn crate::storage::Storage>> {
        None
    }
}

pub trait ExtensionFactory: FactoryInfo {
    fn build(&self, ctx: &BuildContext, cfg: &AnyConfig) -> Result<Arc<dyn Extension>, BuildError>;
    /// Whether the extensions of this type are storages (for `sending_queue::storage` checks at
    /// config validation time).
    fn provides_storage(&self) -> bool {
        false
    }
}
