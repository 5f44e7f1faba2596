//! The `resourcedetection` processor with the `env`, `system` and cloud (`ec2`, `ecs`, `gcp`,
//! `azure`) detectors: detects the resource once at start (and every `refresh_interval` if set)
//! and merges it into the resource of every batch — replacing attributes the resource already
//! has unless `override: false`. A detector that fails stops the collector's start, as
//! otelcol's; a cloud detector that finds no metadata service finds nothing (unless
//! `fail_on_missing_metadata`); a refresh that fails keeps the last resource detected.

mod azure;
mod config;
mod detected;
mod ec2;
mod ecs;
mod env;
mod gcp;
mod shared;
mod system;

pub use config::{AttributeToggle, ResourceDetectionConfig, SystemConfig};

use async_trait::async_trait;
use kakehashi_component::{Batch, BuildError, ConsumeError, Consumer, Processor};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use system::AttrValue;
use tokio::time::Instant;

/// Reads one environment variable.
pub(crate) type EnvLookup = kakehashi_cloud_metadata::SharedEnv;

/// What the detectors read: the process environment, the root of the file system, and the
/// Azure and GCP metadata services' addresses (the others come from the environment, as their
/// SDKs take them; `GCE_METADATA_HOST` overrides the GCP one).
#[derive(Clone)]
pub(crate) struct Sources {
    pub env: EnvLookup,
    pub root: PathBuf,
    pub azure_endpoint: String,
    /// `host[:port]` of the GCE metadata server.
    pub gcp_metadata_host: String,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            env: Arc::new(|k| std::env::var(k).ok()),
            root: PathBuf::from("/"),
            azure_endpoint: kakehashi_cloud_metadata::azure::endpoint(&|k| std::env::var(k).ok()),
            gcp_metadata_host: kakehashi_cloud_metadata::gce::DEFAULT_HOST.into(),
        }
    }
}

pub struct ResourceDetectionProcessor {
    detection: Arc<shared::Detection>,
    /// Whether this pipeline's instance counts among the detection's running ones.
    started: std::sync::atomic::AtomicBool,
    override_: bool,
    next: Arc<dyn Consumer>,
}

/// One detector's attributes; a detector that fails is tried again (backoff from 1 s,
/// doubling, at most 30 s apart) until the detection's deadline, as otelcol retries it.
async fn run_with_retry(
    cfg: &ResourceDetectionConfig,
    sources: &Sources,
    name: &str,
    deadline: Option<Instant>,
) -> Result<detected::Attributes, String> {
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = run_one(cfg, sources, name, deadline).await;
        let Err(e) = &result else {
            return result;
        };
        let Some(deadline) = deadline else {
            return result;
        };
        if Instant::now() + backoff >= deadline {
            return result;
        }
        tracing::debug!(detector = name, error = %e, retry_in = ?backoff, "resource detection failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One detector's attributes, one attempt.
async fn run_one(
    cfg: &ResourceDetectionConfig,
    sources: &Sources,
    name: &str,
    deadline: Option<Instant>,
) -> Result<detected::Attributes, String> {
    let fail = cfg.fail_on_missing();
    match name {
        "env" => env::detect(|k| (sources.env)(k)).map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k, any_value::Value::StringValue(v)))
                .collect::<Vec<_>>()
        }),
        "system" => system::detect(
            &cfg.system,
            &system::Host {
                root: &sources.root,
            },
        )
        .map(|attrs| {
            attrs
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        AttrValue::Str(s) => any_value::Value::StringValue(s),
                        AttrValue::Int(i) => any_value::Value::IntValue(i),
                    };
                    (k, v)
                })
                .collect()
        }),
        "ec2" => ec2::detect(&cfg.ec2, fail, deadline, sources).await,
        "ecs" => ecs::detect(&cfg.ecs, fail, deadline, sources).await,
        "gcp" => gcp::detect(&cfg.gcp, fail, deadline, sources).await,
        "azure" => azure::detect(&cfg.azure, fail, deadline, sources).await,
        // Refused by validation.
        _ => Ok(Vec::new()),
    }
}

/// Runs the configured detectors in order; a later detector does not replace what an earlier
/// one found (otelcol merges detector results without override).
async fn detect(cfg: &ResourceDetectionConfig, sources: &Sources) -> Result<Vec<KeyValue>, String> {
    let mut failures = Vec::new();
    let mut out: Vec<KeyValue> = Vec::new();
    let mut add = |key: String, value: any_value::Value| {
        if !out.iter().any(|kv| kv.key == key) {
            out.push(KeyValue {
                key,
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            });
        }
    };
    tracing::info!("began detecting resource information");
    // `timeout` bounds the whole detection, retries included (0: no bound, one attempt).
    let timeout = cfg.timeout.get();
    let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
    // All at once (off its cloud, a detector can wait until the deadline), merged in order.
    let results = futures::future::join_all(
        cfg.detectors
            .iter()
            .map(|name| run_with_retry(cfg, sources, name, deadline)),
    )
    .await;
    for (name, found) in cfg.detectors.iter().zip(results) {
        match found {
            Ok(attrs) => attrs.into_iter().for_each(|(k, v)| add(k, v)),
            Err(e) => {
                tracing::warn!(detector = %name, error = %e, "failed to detect resource");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    // An empty list filters nothing, as otelcol.
    if let Some(keep) = cfg.attributes.as_ref().filter(|k| !k.is_empty()) {
        out.retain(|kv| keep.contains(&kv.key));
    }
    let shown: Vec<String> = out
        .iter()
        .map(|kv| {
            format!(
                "{}={}",
                kv.key,
                kakehashi_pdata::go_text::as_string(kv.value.as_ref())
            )
        })
        .collect();
    tracing::info!(resource = %shown.join(", "), "detected resource information");
    Ok(out)
}

/// otelcol's `MergeResource`: with `override`, detected values replace existing ones;
/// without, only absent keys are added.
fn merge(into: &mut Vec<KeyValue>, detected: &[KeyValue], override_: bool) {
    for kv in detected {
        match into.iter_mut().find(|e| e.key == kv.key) {
            Some(existing) if override_ => existing.value = kv.value.clone(),
            Some(_) => {}
            None => into.push(kv.clone()),
        }
    }
}

impl ResourceDetectionProcessor {
    /// A processor with a detection of its own (tests: the factory shares one per component).
    #[cfg(test)]
    pub(crate) fn new(
        cfg: &ResourceDetectionConfig,
        sources: Sources,
        next: Arc<dyn Consumer>,
    ) -> Self {
        Self::with(Arc::new(shared::Detection::new(cfg, sources)), cfg, next)
    }

    fn with(
        detection: Arc<shared::Detection>,
        cfg: &ResourceDetectionConfig,
        next: Arc<dyn Consumer>,
    ) -> Self {
        ResourceDetectionProcessor {
            detection,
            started: Default::default(),
            override_: cfg.override_,
            next,
        }
    }
}

#[async_trait]
impl Consumer for ResourceDetectionProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let detected = self.detection.snapshot();
        if !detected.is_empty() {
            batch
                .payload_mut()
                .for_each_resource(|r| merge(&mut r.attributes, &detected, self.override_));
        }
        self.next.consume(batch).await
    }

    /// Adding a few attributes keeps a batch's size close enough: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

#[async_trait]
impl Processor for ResourceDetectionProcessor {
    /// A detector that fails stops the start, as otelcol's `Start` does once its retries run out
    /// (each detector is retried until `timeout`).
    async fn start(&self) -> Result<(), BuildError> {
        self.detection.start().await?;
        if !self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.detection.pipeline_started();
        }
        Ok(())
    }

    /// Also called for a processor that never started (another stage failed): it then leaves
    /// the shared refresher alone.
    async fn shutdown(&self) {
        if self
            .started
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.detection.pipeline_stopped();
        }
    }
}

/// The factory holds each component's detection, shared by the pipelines listing it; a config
/// reload builds a new factory, so a reloaded collector detects afresh.
#[derive(Default)]
pub struct ResourceDetectionProcessorFactory {
    detections: shared::ByComponent,
}

crate::processor_factory_info!(
    ResourceDetectionProcessorFactory,
    "resourcedetection",
    ResourceDetectionConfig
);

impl kakehashi_component::ProcessorFactory for ResourceDetectionProcessorFactory {
    fn build(
        &self,
        ctx: &kakehashi_component::BuildContext,
        cfg: &kakehashi_component::AnyConfig,
        _signal: kakehashi_pdata::Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = kakehashi_component::config_as::<ResourceDetectionConfig>(cfg);
        let detection = self
            .detections
            .get(&ctx.id.to_string(), Sources::default, cfg);
        Ok(Arc::new(ResourceDetectionProcessor::with(
            detection, cfg, next,
        )))
    }
}

#[cfg(test)]
mod cloud_tests;
#[cfg(test)]
mod tests;
