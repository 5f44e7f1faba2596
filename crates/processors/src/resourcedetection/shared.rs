//! One detection per `resourcedetection` component, shared by every pipeline that names it, as
//! otelcol's factory keeps one resource provider per component id: a config listing the
//! processor in its traces, metrics and logs pipelines asks the metadata services once at start
//! (and once per `refresh_interval`), not three times.

use super::{detect, ResourceDetectionConfig, Sources};
use kakehashi_component::BuildError;
use kakehashi_pdata::proto::common::v1::KeyValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

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

    /// The detection of component `id`: the one its other pipelines already share when their
    /// settings are the same (a reload that changes them gets a new one).
    pub fn for_component(
        id: &str,
        cfg: &ResourceDetectionConfig,
        sources: Sources,
    ) -> Arc<Detection> {
        static BY_ID: Mutex<Option<HashMap<String, Weak<Detection>>>> = Mutex::new(None);
        let mut by_id = BY_ID.lock().unwrap_or_else(|p| p.into_inner());
        let by_id = by_id.get_or_insert_with(HashMap::new);
        by_id.retain(|_, d| d.strong_count() > 0);
        if let Some(d) = by_id.get(id).and_then(Weak::upgrade) {
            if d.cfg == *cfg {
                return d;
            }
        }
        let d = Arc::new(Detection::new(cfg, sources));
        by_id.insert(id.to_string(), Arc::downgrade(&d));
        d
    }

    /// What was detected last.
    pub fn snapshot(&self) -> Vec<KeyValue> {
        self.detected
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Detects once for all pipelines (the first to start does it, the others wait for it) and
    /// keeps refreshing while any pipeline runs.
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
        Ok(())
    }

    /// One pipeline stopped; the refresher stops with the last.
    pub fn stop(&self) {
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
