//! The `k8s_attributes` processor (otelcol-contrib's `k8sattributes`): tags each resource
//! with the Kubernetes metadata of the pod that sent it — pod, namespace, workload, node and
//! container — so Datadog shows `kube_*` tags and the right host for data a gateway
//! collector receives from many pods.
//!
//! * [`config`]: otelcol's keys; what kakehashi cannot do yet is an error naming the key.
//! * [`rules`]: the config compiled (metadata to extract, label/annotation rules, exclusions,
//!   association rules).
//! * [`pod`]: what is kept of a pod and the identifiers it is found by.
//! * [`store`]: the tables the watches fill (with the deleted-pod grace period).
//! * [`watch`]: the Kubernetes client and the list + watch of pods, namespaces and nodes.
//! * [`processor`]: finding a resource's pod and adding the attributes.
//!
//! The watches are shared by the pipelines that list the same processor (one set of watches
//! per processor id, not one per pipeline).

pub mod config;
pub mod image;
pub mod metrics;
pub mod pod;
pub mod processor;
pub mod rules;
pub mod store;
pub mod watch;

pub use config::K8sAttributesConfig;

use async_trait::async_trait;
use kakehashi_component::{
    AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer, FactoryInfo, Processor,
    ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use kakehashi_telemetry::Telemetry;
use metrics::Metrics;
use processor::Lookup;
use rules::Rules;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock, Weak};
use watch::Watches;

/// Running watches by processor id and configuration, so the traces, metrics and logs
/// pipelines that list one processor share one set.
static SHARED: LazyLock<tokio::sync::Mutex<HashMap<String, Weak<Watches>>>> =
    LazyLock::new(Default::default);

pub struct K8sAttributesProcessor {
    cfg: K8sAttributesConfig,
    rules: Arc<Rules>,
    /// The processor id and its configuration: the key of [`SHARED`].
    key: String,
    watches: RwLock<Option<Arc<Watches>>>,
    metrics: Metrics,
    next: Arc<dyn Consumer>,
}

impl K8sAttributesProcessor {
    pub fn new(
        id: &str,
        cfg: &K8sAttributesConfig,
        telemetry: &Telemetry,
        next: Arc<dyn Consumer>,
    ) -> Self {
        K8sAttributesProcessor {
            metrics: Metrics::new(telemetry),
            rules: Arc::new(Rules::new(cfg)),
            key: format!("{id}\n{cfg:?}"),
            cfg: cfg.clone(),
            watches: RwLock::new(None),
            next,
        }
    }

    async fn shared_watches(&self) -> Result<Arc<Watches>, BuildError> {
        let mut shared = SHARED.lock().await;
        shared.retain(|_, w| w.strong_count() > 0);
        if let Some(w) = shared.get(&self.key).and_then(Weak::upgrade) {
            return Ok(w);
        }
        let client = watch::client(&self.cfg).await.map_err(BuildError)?;
        let node = self.cfg.filter_node(|k| std::env::var(k).ok());
        let w = Arc::new(watch::start(
            client,
            &self.cfg,
            self.rules.clone(),
            &node,
            self.metrics.clone(),
        ));
        shared.insert(self.key.clone(), Arc::downgrade(&w));
        Ok(w)
    }
}

#[async_trait]
impl Consumer for K8sAttributesProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        // The client's IP, as Go prints it (an IPv4-mapped IPv6 address as IPv4).
        let conn = batch
            .metadata
            .addr
            .map(|a| a.ip().to_canonical().to_string());
        let watches = self
            .watches
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        {
            let store = watches
                .as_ref()
                .map(|w| w.store.read().unwrap_or_else(|p| p.into_inner()));
            batch.payload_mut().for_each_resource(|r| {
                let lookup = processor::annotate(
                    &mut r.attributes,
                    conn.as_deref(),
                    &self.rules,
                    store.as_deref(),
                );
                if lookup == Lookup::NotFound {
                    self.metrics.ip_lookup_miss.inc();
                }
            });
        }
        self.next.consume(batch).await
    }

    /// A few attributes more per resource: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

#[async_trait]
impl Processor for K8sAttributesProcessor {
    /// Creates the client and starts the watches (not in passthrough mode). Bad credentials
    /// stop the start; an API server that does not answer does not (data passes without the
    /// attributes until the watches catch up), unless `wait_for_metadata` asks to wait.
    async fn start(&self) -> Result<(), BuildError> {
        if self.cfg.passthrough {
            return Ok(());
        }
        let watches = self.shared_watches().await?;
        if self.cfg.wait_for_metadata {
            let limit = self.cfg.wait_for_metadata_timeout.get();
            tokio::time::timeout(limit, watches.wait_synced())
                .await
                .map_err(|_| {
                    BuildError(format!(
                        "failed to wait for caches to sync: the Kubernetes API did not list the pods within {limit:?}"
                    ))
                })?;
        }
        *self.watches.write().unwrap_or_else(|p| p.into_inner()) = Some(watches);
        Ok(())
    }

    async fn shutdown(&self) {
        self.watches
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

pub struct K8sAttributesProcessorFactory;

impl FactoryInfo for K8sAttributesProcessorFactory {
    fn type_name(&self) -> &'static str {
        "k8s_attributes"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["k8sattributes"]
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        kakehashi_component::decode_config::<K8sAttributesConfig>(node, path)
    }
}

impl ProcessorFactory for K8sAttributesProcessorFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = kakehashi_component::config_as::<K8sAttributesConfig>(cfg);
        Ok(Arc::new(K8sAttributesProcessor::new(
            &ctx.id.to_string(),
            cfg,
            &ctx.telemetry,
            next,
        )))
    }
}
