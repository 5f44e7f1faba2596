//! The `datadog` exporter in a metrics pipeline: it sends the APM stats the Datadog connector
//! emits (`dd.internal.stats.payload` metrics, [`crate::stats_metric`]) to `/api/v0.2/stats`,
//! prepared as the Go exporter's embedded trace-agent prepares them ([`crate::connector_stats`]). Sending other metrics as Datadog series is not
//! supported yet: the config check keeps other sources out of such a pipeline, and anything
//! else that still arrives is refused, counted and logged, never dropped silently.

use crate::client::{IntakeClient, Request};
use crate::config::DatadogConfig;
use crate::connector_stats::ConnectorStats;
use crate::exporter::{describe_failure, ignore_resources, intake_client};
use crate::payload::{gzip, DEFAULT_GZIP_LEVEL};
use crate::retry::Stop;
use crate::self_metrics::DatadogMetrics;
use crate::source;
use crate::stats::encode_msgpack;
use crate::stats_metric;
use kakehashi_component::exporterhelper::RetrySettings;
use kakehashi_component::{Batch, BuildContext, BuildError, ExportError, Exporter};
use kakehashi_pdata::Payload;
use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub struct DatadogStatsExporter {
    client: IntakeClient,
    retry: RetrySettings,
    /// Set by `start`, once the host is known.
    processing: OnceLock<ConnectorStats>,
    /// `processing` without the host, from the config; taken by `start`.
    pending: Mutex<Option<ConnectorStats>>,
    configured_hostname: String,
    detection_timeout: Duration,
    metrics: DatadogMetrics,
    stop: Stop,
}

impl DatadogStatsExporter {
    pub fn new(ctx: &BuildContext, cfg: &DatadogConfig) -> Result<Self, BuildError> {
        let version = env!("CARGO_PKG_VERSION");
        let agent_version = format!("datadogexporter-kakehashi-{version}");
        Ok(DatadogStatsExporter {
            client: intake_client(cfg, &agent_version)?,
            retry: cfg.retry_on_failure.clone(),
            processing: OnceLock::new(),
            pending: Mutex::new(Some(ConnectorStats {
                hostname: String::new(),
                agent_version,
                // Go: the collector's command and version.
                tracer_version: format!("kakehashi{version}"),
                ignore_resources: ignore_resources(&cfg.traces)?,
            })),
            configured_hostname: cfg.hostname.clone(),
            detection_timeout: cfg.hostname_detection_timeout.get(),
            metrics: DatadogMetrics::new(&ctx.telemetry, &ctx.id.to_string()),
            stop: Stop::default(),
        })
    }
}

#[async_trait::async_trait]
impl Exporter for DatadogStatsExporter {
    async fn start(&self) -> Result<(), BuildError> {
        let Some(mut processing) = self.pending.lock().unwrap().take() else {
            return Ok(());
        };
        processing.hostname = source::resolve(&self.configured_hostname, self.detection_timeout)
            .await
            .hostname()
            .to_string();
        let _ = self.processing.set(processing);
        Ok(())
    }

    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        let Some(processing) = self.processing.get() else {
            return Err(ExportError::retryable(
                "the datadog exporter has not started",
            ));
        };
        let Payload::Metrics(req) = batch.payload.as_ref() else {
            return Err(ExportError::permanent(format!(
                "the datadog exporter's metrics side got {}",
                batch.signal()
            )));
        };
        let split = stats_metric::from_metrics(req);
        let mut lost = split.other_points + split.unreadable;
        let mut failure = None;
        let mut interrupted = false;
        for mut p in split.payloads {
            let points = 1;
            let ignored = processing.process(&mut p);
            if ignored > 0 {
                tracing::debug!(
                    groups = ignored,
                    "APM stats groups dropped by traces::ignore_resources"
                );
            }
            let languages: Vec<String> = p
                .stats
                .iter()
                .filter(|c| !c.lang.is_empty())
                .map(|c| c.lang.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let buckets: usize = p.stats.iter().map(|c| c.stats.len()).sum();
            let body = gzip(&encode_msgpack(&p), DEFAULT_GZIP_LEVEL);
            let bytes = body.len();
            let request = Request::stats(body, &languages);
            match self
                .client
                .send_with_retry(&request, &self.retry, &self.stop)
                .await
            {
                Ok(d) => {
                    self.metrics.payload_sent("stats", bytes, 0, d.attempts);
                    self.metrics.stats_buckets.inc_by(buckets as u64);
                }
                Err(f) => {
                    self.metrics
                        .payload_failed("stats", 0, f.attempts, f.permanent);
                    lost += points;
                    interrupted |= f.interrupted;
                    failure = Some(describe_failure(&f));
                }
            }
        }
        if failure.is_none() && lost > 0 {
            failure = Some(format!(
                "{} data points that are not the Datadog connector's APM stats: the datadog exporter does not send metrics as series yet ({} unreadable stats payloads)",
                split.other_points, split.unreadable
            ));
        }
        match failure {
            None => Ok(()),
            // As the traces exporter: retryable only when shutdown cut the retries short.
            Some(m) if interrupted => Err(ExportError::retryable(m).with_failed_items(lost)),
            Some(m) => Err(ExportError::permanent(m).with_failed_items(lost)),
        }
    }

    fn begin_shutdown(&self) {
        self.stop.retrying.cancel();
    }

    async fn shutdown(&self) {
        self.stop.now.cancel();
    }
}

#[cfg(test)]
#[path = "stats_exporter_tests.rs"]
mod tests;
