//! The running exporter: translate a batch, feed the stats concentrator, cut the result into
//! AgentPayloads under 3.2 MB, and deliver each one with its own retries.
//!
//! Retrying per payload (not per batch, which the exporter runner would do) means a payload the
//! intake accepted is never sent again when a later one of the same batch fails: every span
//! arrives once per successful payload. Background tasks send APM stats every 10 s, the host
//! metadata every `host_metadata::reporter_period`, and the `otel.datadog_exporter.traces.running`
//! usage series.

use crate::client::{IntakeClient, IntakeSettings, KeyValidity, Request};
use crate::config::{DatadogConfig, TracesConfig};
use crate::host_info;
use crate::metadata;
use crate::payload::{
    build_measured_payloads, gzip, AgentInfo, DEFAULT_GZIP_LEVEL, MAX_PAYLOAD_BYTES,
};
use crate::retry::{Failed, Stop};
use crate::self_metrics::DatadogMetrics;
use crate::source::{self, Source, Sources};
use crate::stats::{
    encode_msgpack, StatsAggregator, StatsSettings, BUCKET_DURATION, DEFAULT_MAX_GROUPS,
};
use kakehashi_component::exporterhelper::RetrySettings;
use kakehashi_component::{Batch, BuildContext, BuildError, ExportError, Exporter};
use kakehashi_datadog_translate::{exporter_obfuscation, translate, TranslateConfig};
use kakehashi_pdata::Payload;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// The feature gate that turns off the exporter's own APM stats (otelcol's name).
pub const DISABLE_APM_STATS_GATE: &str = "exporter.datadogexporter.DisableAPMStats";
/// Beta in otelcol (on by default); `-datadog.EnableOperationAndResourceNameV2` selects V1 names.
pub const OPERATION_AND_RESOURCE_NAME_V2_GATE: &str = "datadog.EnableOperationAndResourceNameV2";
/// How often the usage series is sent at most (otelcol sends it after every batch).
const USAGE_SERIES_PERIOD: Duration = Duration::from_secs(10);
/// Bound on the final stats flush at shutdown, so a dead intake cannot hold the exit.
const SHUTDOWN_FLUSH_BUDGET: Duration = Duration::from_secs(5);

pub struct DatadogExporter {
    /// Set by `start`, once the host is known.
    shared: OnceLock<Arc<Shared>>,
    /// Everything but the host, from the config; taken by `start`.
    pending: Mutex<Option<Pending>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The exporter before its host is known: what depends on the host is completed by
/// [`Pending::with_source`].
struct Pending {
    shared: Shared,
    stats: Option<StatsSettings>,
    configured_hostname: String,
    detection_timeout: Duration,
}

impl Pending {
    fn with_source(mut self, source: &Source) -> Shared {
        let hostname = source.hostname().to_string();
        self.shared.translate.fallback_hostname = hostname.clone();
        self.shared.agent.host_name = hostname.clone();
        self.shared.stats = self.stats.map(|mut settings| {
            settings.hostname = hostname.clone();
            Mutex::new(StatsAggregator::new(settings))
        });
        self.shared.hostname = hostname;
        self.shared
    }
}

struct Shared {
    id: String,
    client: IntakeClient,
    translate: TranslateConfig,
    agent: AgentInfo,
    retry: RetrySettings,
    fail_on_invalid_key: bool,
    host_metadata: Option<HostMetadataSettings>,
    /// The first batch's first resource (`hostname_source: first_resource`), once seen.
    first_resource: std::sync::OnceLock<metadata::ResourceHost>,
    first_resource_seen: tokio::sync::Notify,
    /// The fallback host ([`crate::source`]); empty on ECS Fargate.
    hostname: String,
    version: String,
    stats: Option<Mutex<StatsAggregator>>,
    /// Languages seen so far (`X-Datadog-Reported-Languages`, as the agent reports them).
    languages: Mutex<BTreeSet<String>>,
    /// Hosts and Fargate tasks seen since the last usage series.
    usage: Mutex<UsageSeen>,
    /// Whether several hosts were seen in resource attributes (`datadog.otel.gateway`).
    gateway: Mutex<metadata::GatewayUsage>,
    metrics: DatadogMetrics,
    /// Shutdown: `retrying` from `begin_shutdown`, `now` from `shutdown`.
    stop: Stop,
}

#[derive(Debug, Clone)]
struct HostMetadataSettings {
    period: Duration,
    tags: Vec<String>,
    /// `hostname_source: first_resource`: the host comes from the first batch's first resource.
    first_resource: bool,
}

#[derive(Debug, Default)]
struct UsageSeen {
    hosts: BTreeSet<String>,
    fargate_tasks: BTreeSet<String>,
}

impl DatadogExporter {
    pub fn new(ctx: &BuildContext, cfg: &DatadogConfig) -> Result<Self, BuildError> {
        let version = env!("CARGO_PKG_VERSION").to_string();
        let agent_version = format!("datadogexporter-kakehashi-{version}");
        let client = intake_client(cfg, &agent_version)?;
        // The host is filled in by `start` (`Pending::with_source`).
        let translate = translate_config(ctx, &cfg.traces, String::new())?;
        let stats = (!ctx.gate_enabled(DISABLE_APM_STATS_GATE)).then(|| {
            stats_settings(
                &cfg.traces,
                String::new(),
                agent_version.clone(),
                BUCKET_DURATION,
            )
        });
        let id = ctx.id.to_string();
        let shared = Shared {
            metrics: DatadogMetrics::new(&ctx.telemetry, &id),
            id,
            client,
            translate,
            agent: AgentInfo {
                host_name: String::new(),
                agent_version,
            },
            retry: cfg.retry_on_failure.clone(),
            fail_on_invalid_key: cfg.api.fail_on_invalid_key,
            host_metadata: cfg.host_metadata.enabled.then(|| HostMetadataSettings {
                period: cfg.host_metadata.reporter_period.get(),
                tags: cfg.host_metadata.tags.clone(),
                first_resource: cfg.host_metadata.hostname_source == "first_resource",
            }),
            first_resource: std::sync::OnceLock::new(),
            first_resource_seen: tokio::sync::Notify::new(),
            hostname: String::new(),
            version,
            stats: None,
            languages: Mutex::default(),
            usage: Mutex::default(),
            gateway: Mutex::default(),
            stop: Stop::default(),
        };
        Ok(DatadogExporter {
            shared: OnceLock::new(),
            pending: Mutex::new(Some(Pending {
                shared,
                stats,
                configured_hostname: cfg.hostname.clone(),
                detection_timeout: cfg.hostname_detection_timeout.get(),
            })),
            tasks: Mutex::default(),
        })
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.lock().unwrap().push(tokio::spawn(fut));
    }
}

#[async_trait::async_trait]
impl Exporter for DatadogExporter {
    async fn start(&self) -> Result<(), BuildError> {
        let Some(pending) = self.pending.lock().unwrap().take() else {
            return Ok(());
        };
        let source = source::resolve(&pending.configured_hostname, pending.detection_timeout).await;
        let s = Arc::new(pending.with_source(&source));
        let _ = self.shared.set(s.clone());
        if s.fail_on_invalid_key {
            // otelcol fails the exporter's creation on an invalid key; network errors only warn.
            if let KeyValidity::Invalid = check_api_key(&s).await {
                return Err(BuildError(
                    "API Key validation failed (api::fail_on_invalid_key is true): the Datadog intake answered 403 for api::key on api::site".into(),
                ));
            }
        } else {
            // Not awaited: an unreachable intake must not delay the collector's start.
            let s = s.clone();
            self.spawn(async move {
                check_api_key(&s).await;
            });
        }
        if s.stats.is_some() {
            let s = s.clone();
            self.spawn(async move { stats_loop(s).await });
        }
        if let Some(settings) = s.host_metadata.clone() {
            let s = s.clone();
            self.spawn(async move { host_metadata_loop(s, settings).await });
        }
        let s2 = s.clone();
        self.spawn(async move { usage_loop(s2).await });
        Ok(())
    }

    async fn export(&self, batch: &Batch) -> Result<(), ExportError> {
        let Some(s) = self.shared.get() else {
            return Err(ExportError::retryable(
                "the datadog exporter has not started",
            ));
        };
        let Payload::Traces(req) = batch.payload.as_ref() else {
            return Err(ExportError::permanent(format!(
                "the datadog exporter only exports traces, got {}",
                batch.signal()
            )));
        };
        if s.host_metadata.as_ref().is_some_and(|h| h.first_resource)
            && s.first_resource.get().is_none()
        {
            let attrs = req
                .resource_spans
                .first()
                .and_then(|rs| rs.resource.as_ref())
                .map_or(&[][..], |r| r.attributes.as_slice());
            if s.first_resource.set(metadata::resource_host(attrs)).is_ok() {
                s.first_resource_seen.notify_one();
            }
        }
        let t = translate(req, &s.translate);
        s.metrics.count_translation_drops(&t.dropped);
        crate::client::note_reported_languages(&mut s.languages.lock().unwrap(), &t.languages);
        {
            let mut usage = s.usage.lock().unwrap();
            usage.hosts.extend(t.hosts.iter().cloned());
            usage.fargate_tasks.extend(t.fargate_tasks.iter().cloned());
        }
        {
            let mut gateway = s.gateway.lock().unwrap();
            for host in &t.attribute_hosts {
                gateway.on_host(host);
            }
        }
        if let Some(stats) = &s.stats {
            let now = SystemTime::now();
            let mut agg = stats.lock().unwrap();
            // Sampled-out chunks count too: the agent computes stats before sampling. A tracer
            // that computed its own stats is left out.
            for tp in t.tracer_payloads.iter().chain(&t.sampled_out) {
                if !crate::client_stats::by_resource(&req.resource_spans[tp.resource_index]) {
                    agg.add(tp, now);
                }
            }
        }
        let languages: Vec<String> = s.languages.lock().unwrap().iter().cloned().collect();
        // Every body is encoded before the first send: the translated spans are freed here, on
        // the thread that allocated them, rather than after an await on whichever worker resumes
        // the task (cross-thread frees cost), and only the compressed bodies wait out retries.
        let bodies: Vec<(usize, Vec<u8>)> =
            build_measured_payloads(&s.agent, t.tracer_payloads, MAX_PAYLOAD_BYTES)
                .into_iter()
                .map(|m| (m.span_count(), gzip(&m.encode(), DEFAULT_GZIP_LEVEL)))
                .collect();
        let mut lost = 0usize;
        let mut last_failure: Option<Failed> = None;
        let mut interrupted = false;
        for (spans, body) in bodies {
            let bytes = body.len();
            let request = Request::traces(body, &languages);
            match s.client.send_with_retry(&request, &s.retry, &s.stop).await {
                Ok(d) => s.metrics.payload_sent("traces", bytes, spans, d.attempts),
                Err(f) => {
                    s.metrics
                        .payload_failed("traces", spans, f.attempts, f.permanent);
                    lost += spans;
                    interrupted |= f.interrupted;
                    last_failure = Some(f);
                }
            }
        }
        match last_failure {
            None => Ok(()),
            // Retryable only when shutdown cut the retries short: a persistent queue then
            // keeps the batch for the next start. Otherwise our own retries are spent.
            Some(f) if interrupted => {
                Err(ExportError::retryable(describe_failure(&f)).with_failed_items(lost))
            }
            Some(f) => Err(ExportError::permanent(describe_failure(&f)).with_failed_items(lost)),
        }
    }

    fn begin_shutdown(&self) {
        if let Some(s) = self.shared.get() {
            s.stop.retrying.cancel();
        }
    }

    async fn shutdown(&self) {
        let Some(s) = self.shared.get().cloned() else {
            return;
        };
        // Stats of the last, partial buckets: flushed once, within a bound.
        if s.stats.is_some() {
            let flush = flush_stats(&s, true);
            if tokio::time::timeout(SHUTDOWN_FLUSH_BUDGET, flush)
                .await
                .is_err()
            {
                tracing::warn!(exporter = %s.id, "APM stats not flushed within {SHUTDOWN_FLUSH_BUDGET:?} at shutdown; dropping them");
            }
        }
        s.stop.now.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        for t in tasks {
            t.abort();
        }
    }
}

/// The HTTP client for the intake `cfg` names.
pub(crate) fn intake_client(
    cfg: &DatadogConfig,
    agent_version: &str,
) -> Result<IntakeClient, BuildError> {
    let endpoints = cfg.endpoints();
    IntakeClient::new(&IntakeSettings {
        traces_endpoint: endpoints.traces,
        api_endpoint: endpoints.api,
        api_key: cfg.api_key(),
        timeout: cfg.timeout.get(),
        tls: cfg.tls.clone(),
        proxy_url: (!cfg.proxy_url.is_empty()).then(|| cfg.proxy_url.clone()),
        agent_version: agent_version.to_owned(),
        user_agent: format!("kakehashi/{}", env!("CARGO_PKG_VERSION")),
    })
}

/// The translation `traces` asks for (shared with the Datadog connector); spans whose resource
/// names no host get `fallback_hostname`.
pub(crate) fn translate_config(
    ctx: &BuildContext,
    traces: &TracesConfig,
    fallback_hostname: String,
) -> Result<TranslateConfig, BuildError> {
    let ignore_resources = ignore_resources(traces)?;
    Ok(TranslateConfig {
        span_name_as_resource_name: traces.span_name_as_resource_name,
        span_name_remappings: traces.span_name_remappings.clone().into_iter().collect(),
        operation_and_resource_name_v2: ctx.gate_enabled(OPERATION_AND_RESOURCE_NAME_V2_GATE),
        compute_top_level_by_span_kind: traces.compute_top_level_by_span_kind,
        ignore_resources,
        fallback_hostname,
        obfuscation: exporter_obfuscation(),
        share_resource_meta: true,
        sql_cache: Default::default(),
        stats_only: None,
    })
}

/// `traces::ignore_resources`, compiled (unanchored, as Go's).
pub(crate) fn ignore_resources(traces: &TracesConfig) -> Result<Vec<regex::Regex>, BuildError> {
    traces
        .ignore_resources
        .iter()
        .map(|r| regex::Regex::new(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError(format!("traces::ignore_resources: {e}")))
}

/// The APM stats settings `traces` asks for (shared with the Datadog connector).
pub(crate) fn stats_settings(
    traces: &TracesConfig,
    hostname: String,
    agent_version: String,
    bucket_duration: Duration,
) -> StatsSettings {
    StatsSettings {
        hostname,
        agent_version,
        compute_stats_by_span_kind: traces.compute_stats_by_span_kind,
        peer_tags_aggregation: traces.peer_tags_enabled(),
        peer_tags: traces.peer_tags.clone(),
        max_groups: DEFAULT_MAX_GROUPS,
        bucket_duration,
        group_by_language: true,
    }
}

/// One message per lost payload, saying what to do about it where there is something to do.
pub(crate) fn describe_failure(f: &Failed) -> String {
    let hint = match f.status {
        Some(403) => {
            "the intake refused the API key (403 Forbidden): check api::key and api::site; "
        }
        Some(413) => "the intake refused the payload as too large (413): ",
        Some(400) => "the intake refused the payload as malformed (400): ",
        _ if !f.permanent => "the intake stayed unreachable or overloaded until retries ran out: ",
        _ => "the intake refused the payload: ",
    };
    format!("{hint}{f}")
}

async fn check_api_key(s: &Shared) -> KeyValidity {
    let v = s.client.validate_api_key().await;
    match &v {
        KeyValidity::Valid => tracing::debug!(exporter = %s.id, "API key is valid"),
        KeyValidity::Invalid => tracing::warn!(
            exporter = %s.id,
            "Detected API key is invalid: the Datadog intake answered 403 on /api/v1/validate; data will be refused (check api::key and api::site)"
        ),
        KeyValidity::Unknown(e) => {
            tracing::warn!(exporter = %s.id, error = %e, "Could not check the API key")
        }
    }
    v
}

async fn stats_loop(s: Arc<Shared>) {
    let mut tick = tokio::time::interval(BUCKET_DURATION);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = s.stop.now.cancelled() => return,
            _ = tick.tick() => flush_stats(&s, false).await,
        }
    }
}

/// Flushes the stats buckets that are due (all of them when `force`) and sends them.
async fn flush_stats(s: &Shared, force: bool) {
    let payloads = match &s.stats {
        Some(stats) => stats.lock().unwrap().flush(SystemTime::now(), force),
        None => return,
    };
    let languages: Vec<String> = s.languages.lock().unwrap().iter().cloned().collect();
    for p in payloads {
        let buckets: usize = p.stats.iter().map(|c| c.stats.len()).sum();
        let body = gzip(&encode_msgpack(&p), DEFAULT_GZIP_LEVEL);
        let bytes = body.len();
        let request = Request::stats(body, &languages);
        match s.client.send_with_retry(&request, &s.retry, &s.stop).await {
            Ok(d) => {
                s.metrics.payload_sent("stats", bytes, 0, d.attempts);
                s.metrics.stats_buckets.inc_by(buckets as u64);
            }
            Err(f) => {
                s.metrics
                    .payload_failed("stats", 0, f.attempts, f.permanent);
                tracing::error!(exporter = %s.id, error = %describe_failure(&f), buckets, "Dropping an APM stats payload");
            }
        }
    }
}

async fn host_metadata_loop(s: Arc<Shared>, settings: HostMetadataSettings) {
    let resource = if settings.first_resource {
        // As Go's pusher, which starts with the first batch of traces in this mode.
        tokio::select! {
            _ = s.stop.now.cancelled() => return,
            _ = s.first_resource_seen.notified() => {}
        }
        s.first_resource.get()
    } else {
        None
    };
    if s.hostname.is_empty() && resource.is_none_or(|r| r.hostname.is_empty()) {
        // As on ECS Fargate, where no host is the expected answer (Go logs it at debug too).
        tracing::debug!(exporter = %s.id, "Skipping host metadata since the hostname is empty");
        return;
    }
    // Once, before the first send, as Go builds its payload once.
    let ask_ec2 = resource.is_none_or(|r| r.ec2_hostname.is_empty());
    let sources = Sources::default();
    let machine = tokio::select! {
        _ = s.stop.now.cancelled() => return,
        machine = host_info::collect(&sources, ask_ec2) => machine,
    };
    let Some(body) =
        metadata::host_metadata(&s.hostname, &s.version, &settings.tags, resource, &machine)
    else {
        return;
    };
    let mut tick = tokio::time::interval(settings.period);
    loop {
        tokio::select! {
            _ = s.stop.now.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Retried like the traces (Go's pusher goes through the exporter's retrier): a start
        // before the network is up must not leave the host out until the next period.
        if let Err(f) = s
            .client
            .send_with_retry(&Request::host_metadata(&body), &s.retry, &s.stop)
            .await
        {
            tracing::warn!(exporter = %s.id, error = %f, "Sending host metadata failed");
        }
    }
}

async fn usage_loop(s: Arc<Shared>) {
    let mut tick = tokio::time::interval(USAGE_SERIES_PERIOD);
    loop {
        tokio::select! {
            _ = s.stop.now.cancelled() => return,
            _ = tick.tick() => {}
        }
        let seen = std::mem::take(&mut *s.usage.lock().unwrap());
        if seen.hosts.is_empty() && seen.fargate_tasks.is_empty() {
            continue;
        }
        let usage = metadata::Usage {
            hosts: seen.hosts.iter().map(String::as_str).collect(),
            fargate_tasks: seen.fargate_tasks.iter().map(String::as_str).collect(),
            gateway: s.gateway.lock().unwrap().gauge(),
        };
        let body = metadata::traces_running_series(&usage, &s.version, SystemTime::now());
        if let Err(f) = s
            .client
            .send_with_retry(&Request::series(&body), &no_retry(), &s.stop)
            .await
        {
            tracing::debug!(exporter = %s.id, error = %f, "Sending the usage series failed");
        }
    }
}

/// The usage series is best effort (resent on the next tick anyway).
fn no_retry() -> RetrySettings {
    RetrySettings {
        enabled: false,
        ..RetrySettings::default()
    }
}
