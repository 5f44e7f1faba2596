//! The `datadog` connector, as otelcol-contrib's: APM stats computed from every span that
//! reaches it (so a sampler behind it cannot skew them), emitted into a metrics pipeline whose
//! `datadog` exporter sends them to `/api/v0.2/stats`.
//!
//! * traces → metrics: the spans are translated as the exporter translates them (names,
//!   resources, top-level and measured marks, obfuscated SQL resources) and aggregated into
//!   `bucket_interval` buckets by the same concentrator the exporter uses; each flush is one
//!   `dd.internal.stats.payload` metric per `StatsPayload` ([`crate::stats_metric`]). The spans
//!   go no further on this path.
//! * traces → traces: the spans pass on unchanged.
//!
//! Where the connector computes the stats, the exporter must not count the same spans again:
//! using it turns on `exporter.datadogexporter.DisableAPMStats` (the Go exporter's default).

pub mod config;
mod stats_input;

use crate::config::TracesConfig;
use crate::exporter::{stats_settings, translate_config, DISABLE_APM_STATS_GATE};
use crate::stats::{StatsAggregator, StatsSettings};
use crate::stats_metric;
use async_trait::async_trait;
use config::DatadogConnectorConfig;
use kakehashi_component::{
    config_as, decode_config, AnyConfig, Batch, BuildContext, BuildError, Connector,
    ConnectorFactory, ConsumeError, Consumer, FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_connectors::forward::ForwardConnector;
use kakehashi_datadog_translate::{stats_only_keys, translate, TranslateConfig};
use kakehashi_pdata::{Payload, Signal};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct DatadogConnectorFactory;

impl FactoryInfo for DatadogConnectorFactory {
    fn type_name(&self) -> &'static str {
        "datadog"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<DatadogConnectorConfig>(node, path)
    }
}

impl ConnectorFactory for DatadogConnectorFactory {
    fn pairs(&self) -> &'static [(Signal, Signal)] {
        &[
            (Signal::Traces, Signal::Metrics),
            (Signal::Traces, Signal::Traces),
        ]
    }
    fn implied_gates(&self, from: Signal, to: Signal) -> &'static [&'static str] {
        if (from, to) == (Signal::Traces, Signal::Metrics) {
            &[DISABLE_APM_STATS_GATE]
        } else {
            &[]
        }
    }
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _from: Signal,
        to: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Connector>, BuildError> {
        let cfg = config_as::<DatadogConnectorConfig>(cfg);
        if to == Signal::Traces {
            return Ok(Arc::new(ForwardConnector::new(next)));
        }
        let traces = cfg.traces.span_settings();
        let interval = cfg.traces.bucket_duration();
        // As the Go connector: no fallback hostname (a payload without a host attribute has an
        // empty one, as a tracer's), and no agent version (the exporter fills it in).
        let settings = StatsSettings {
            // Go's connector leaves the language out of its payloads' grouping.
            group_by_language: false,
            ..stats_settings(&traces, String::new(), String::new(), interval)
        };
        // `ignore_resources` is applied per span by exact name (stats_input), not by the
        // translation's root-resource rule; the spans only feed the stats, so only what the
        // stats read is built (tests/connector_stats.rs: the same stats as whole spans give).
        let translate = TranslateConfig {
            stats_only: Some(Arc::new(stats_only_keys(settings.meta_keys()))),
            ..translate_config(
                ctx,
                &TracesConfig {
                    ignore_resources: Vec::new(),
                    ..traces.clone()
                },
                String::new(),
            )?
        };
        let stats = StatsAggregator::new(settings);
        Ok(Arc::new(StatsConnector {
            inner: Arc::new(Inner {
                id: ctx.id.to_string(),
                translate,
                ignore_resources: traces.ignore_resources.clone(),
                top_level_by_kind: traces.compute_top_level_by_span_kind,
                stats: Mutex::new(stats),
                next,
            }),
            interval,
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
        }))
    }
}

/// traces → metrics: spans in, stats metrics out every `interval`.
struct StatsConnector {
    inner: Arc<Inner>,
    interval: Duration,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    id: String,
    translate: TranslateConfig,
    /// Resources whose spans the stats leave out (exact names).
    ignore_resources: Vec<String>,
    top_level_by_kind: bool,
    stats: Mutex<StatsAggregator>,
    next: Arc<dyn Consumer>,
}

impl Inner {
    /// Flushes the due buckets (all with `force`) and sends each payload down the metrics
    /// pipelines. A refused payload is logged: the spans it counts are already gone.
    async fn flush(&self, force: bool) {
        let payloads = self.stats.lock().unwrap().flush(SystemTime::now(), force);
        for p in payloads {
            let buckets: usize = p.stats.iter().map(|c| c.stats.len()).sum();
            let batch = Batch::new(stats_metric::to_metrics(&p));
            if let Err(e) = self.next.consume(batch).await {
                tracing::error!(connector = %self.id, error = %e, buckets, "Failed to send APM stats to the metrics pipeline");
            }
        }
    }
}

#[async_trait]
impl Consumer for StatsConnector {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let Payload::Traces(req) = batch.payload.as_ref() else {
            return Err(ConsumeError::permanent(format!(
                "the datadog connector consumes traces, got {}",
                batch.signal()
            )));
        };
        let inner = &self.inner;
        let mut t = translate(req, &inner.translate);
        stats_input::prepare(&mut t, &inner.ignore_resources, inner.top_level_by_kind);
        let now = SystemTime::now();
        let mut agg = self.inner.stats.lock().unwrap();
        // Every span counts, sampled out or not: stats are computed before sampling; but not
        // the spans of a resource whose tracer computed its own stats.
        for tp in t.tracer_payloads.iter().chain(&t.sampled_out) {
            let rs = &req.resource_spans[tp.resource_index];
            if !crate::client_stats::by_resource_or_span(rs) {
                agg.add(tp, now);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for StatsConnector {
    async fn start(&self) -> Result<(), BuildError> {
        let (inner, cancel, interval) = (self.inner.clone(), self.cancel.clone(), self.interval);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => inner.flush(false).await,
                }
            }
        });
        *self.task.lock().unwrap() = Some(task);
        Ok(())
    }

    /// Every pipeline feeding it has stopped: the partial buckets go out now, while the metrics
    /// pipelines behind it still run.
    async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.inner.flush(true).await;
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
