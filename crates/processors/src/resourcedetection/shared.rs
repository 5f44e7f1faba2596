//! One detection per `resourcedetection` component, shared by every pipeline that names it: a
//! config listing the processor in its traces, metrics and logs pipelines asks the metadata
//! services once at start (and once per `refresh_interval`), not three times. otelcol's factory
//! also keeps one provider per component id, but current otelcol refreshes it in every
//! pipeline's start and stops its refresher with the first pipeline; here the first start
//! detects, the others use its result, and the refresher runs until the last pipeline stops.

use super::{detect, ResourceDetectionConfig, Sources};
use kakehashi_component::BuildError;
use kakehashi_pdata::proto::common::v1::KeyValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

/// The detections of one collector build, by component id.
#[derive(Default)]
pub(crate) struct ByComponent(Mutex<HashMap<String, Arc<Detection>>>);

impl ByComponent {
    /// Component `id`'s detection, made with `sources` on its first pipeline.
    pub fn get(
        &self,
        id: &str,
        sources: impl FnOnce() -> Sources,
        cfg: &ResourceDetectionConfig,
    ) -> Arc<Detection> {
        let mut by_id = self.0.lock().unwrap_or_else(|p| p.into_inner());
        by_id
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Detection::new(cfg, sources())))
            .clone()
    }
}

pub(crate) struct Detection {
    cfg: ResourceDetectionConfig,
    sources: Sources,
    detected: Arc<RwLock<Vec<KeyValue>>>,
    /// Set once the first detection succeeded.
    first: OnceCell<()>,
    /// Started pipelines, and the refresher while any runs.
    running: Mutex<(usize, Option<JoinHandle<()>>)>,
}

impl Detection {
    pub fn new(cfg: &ResourceDetectionConfig, sources: Sources) -> Detection {
        Detection {
            cfg: cfg.clone(),
            sources,
            detected: Arc::default(),
            first: OnceCell::new(),
            running: Mutex::new((0, None)),
        }
    }

    /// What was detected last.
    pub fn snapshot(&self) -> Vec<KeyValue> {
        self.detected
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Detects once for all pipelines: the first to start does it, the others wait for it (a
    /// failed detection is not kept: the collector's start has failed).
    pub async fn start(&self) -> Result<(), BuildError> {
        if self.cfg.ec2.fail_on_missing_metadata && !self.cfg.fail_on_missing_metadata {
            tracing::warn!("per-detector fail_on_missing_metadata fields are deprecated; use the top-level fail_on_missing_metadata instead");
        }
        self.first
            .get_or_try_init(|| async {
                let first = detect(&self.cfg, &self.sources)
                    .await
                    .map_err(|e| BuildError(format!("failed to detect resource: {e}")))?;
                *self.detected.write().unwrap_or_else(|p| p.into_inner()) = first;
                Ok::<(), BuildError>(())
            })
            .await?;
        Ok(())
    }

    /// One more pipeline runs: the refresher runs while any does.
    pub fn pipeline_started(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.0 += 1;
        let period = self.cfg.refresh_interval.get();
        if running.1.is_none() && !period.is_zero() {
            let (cfg, sources, detected) = (
                self.cfg.clone(),
                self.sources.clone(),
                self.detected.clone(),
            );
            running.1 = Some(tokio::spawn(async move {
                let mut ticker =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    ticker.tick().await;
                    // A refresh that fails keeps the last good resource.
                    match detect(&cfg, &sources).await {
                        Ok(fresh) => *detected.write().unwrap_or_else(|p| p.into_inner()) = fresh,
                        Err(e) => tracing::warn!(
                            error = %e,
                            "resource refresh failed; keeping previous snapshot"
                        ),
                    }
                }
            }));
        }
    }

    /// Whether the refresher runs.
    #[cfg(test)]
    pub fn refreshing(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .is_some()
    }

    /// One pipeline stopped; the refresher stops with the last.
    pub fn pipeline_stopped(&self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.0 = running.0.saturating_sub(1);
        if running.0 == 0 {
            if let Some(task) = running.1.take() {
                task.abort();
            }
        }
    }
}

impl Drop for Detection {
    fn drop(&mut self) {
        if let Some(task) = self.running.get_mut().ok().and_then(|r| r.1.take()) {
            task.abort();
        }
    }
}
