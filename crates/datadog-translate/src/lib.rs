//! OTLP spans → Datadog `TracerPayload`s, exactly as otelcol-contrib's datadog exporter (with its
//! embedded trace-agent) produces them. Pure functions: no I/O, no clock except where the agent
//! itself reads one (normalization of pre-2000 start times).
//!
//! Flow: [`translate`] builds one payload per ResourceSpans (`payload`, using `span` for each
//! span), then runs the agent's processing on it (`agent`). The resource attributes its spans
//! have in common stay with the payload rather than in each span (`shared_meta`). Encoding and
//! sending are the exporter's job.

mod agent;
mod attributes;
mod container_tags;
mod events_links;
mod hostname;
mod key_filter;
pub mod model;
mod naming;
mod normalize;
mod obfuscation;
mod payload;
mod registry;
mod sampling;
mod shared_meta;
mod span;
mod sql_cache;
mod status;
#[cfg(test)]
mod test_util;
mod tracestate;

pub use container_tags::CONTAINER_TAGS_KEY;
pub use hostname::{source_from_attributes, Source};
/// pdata's text rendering of values, shared with the rest of the collector.
use kakehashi_pdata::go_text as value;
pub use kakehashi_pdata::go_text::{as_string as any_value_as_string, go_float};
pub use key_filter::{KeyFilter, SpanKeyFilters};
pub use libdd_trace_obfuscation::obfuscation_config::ObfuscationConfig;
pub use libdd_trace_protobuf::pb;
pub use naming::DEFAULT_OTLP_SERVICE_NAME;
pub use normalize::{
    normalize_name, normalize_service, normalize_tag, normalize_tag_value, truncate_utf8,
    MAX_RESOURCE_LEN,
};
pub use obfuscation::exporter_obfuscation;
pub use sampling::PRIORITY_RATE_KEY;
pub use shared_meta::{SharedMeta, TranslatedPayload};
pub use span::{span_id_to_u64, trace_id_to_u64, SAMPLE_RATE as SAMPLE_RATE_KEY};
pub use sql_cache::SqlCache;
pub use status::status_text;

use kakehashi_pdata::ExportTraceServiceRequest;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What the mapping depends on in the exporter's configuration.
#[derive(Debug, Clone)]
pub struct TranslateConfig {
    /// `traces.span_name_as_resource_name` (true ⇒ legacy V1 naming).
    pub span_name_as_resource_name: bool,
    /// `traces.span_name_remappings` (non-empty ⇒ legacy V1 naming).
    pub span_name_remappings: HashMap<String, String>,
    /// Feature gate `datadog.EnableOperationAndResourceNameV2` (default on).
    pub operation_and_resource_name_v2: bool,
    /// `traces.compute_top_level_by_span_kind`.
    pub compute_top_level_by_span_kind: bool,
    /// `traces.ignore_resources`: unanchored regexps matched against the root span's resource.
    pub ignore_resources: Vec<regex::Regex>,
    /// The exporter's `hostname`, or the detected host; used when the resource names no host.
    pub fallback_hostname: String,
    /// The agent's obfuscation settings ([`exporter_obfuscation`] for the exporter's).
    pub obfuscation: ObfuscationConfig,
    /// Keep the resource attributes that no later step reads once per payload instead of in
    /// each span's meta (`shared_meta`); the output is the same. Off: Go's per-span copies,
    /// the reference the differential tests compare against.
    pub share_resource_meta: bool,
    /// SQL obfuscation results kept across requests (`sql_cache`); clones share it.
    pub sql_cache: Arc<SqlCache>,
    /// For spans that only feed APM stats (the Datadog connector): a span's own string
    /// attributes go into its meta only under these Datadog keys ([`stats_only_keys`]), and
    /// the entries nothing reads for stats (events, links, the hex trace id, tracestate, the
    /// library and status texts) are not built; a span with an empty trace or span id is left
    /// out on its own (Go's connector), not with its whole chunk (the agent). `None`: the
    /// whole span, as the exporter sends it.
    pub stats_only: Option<Arc<StatsKeys>>,
}

/// Meta keys kept by [`TranslateConfig::stats_only`].
pub type StatsKeys = std::collections::HashSet<String, foldhash::fast::RandomState>;

/// The span meta keys this crate's own later steps read (naming, normalisation, the payload's
/// env / version / hostname, sampling, errors), plus `stats_keys`: what a stats-only
/// translation must keep for the stats to equal those of the whole translation.
pub fn stats_only_keys<'a>(stats_keys: impl IntoIterator<Item = &'a str>) -> StatsKeys {
    const READ_HERE: &[&str] = &[
        "env",
        "version",
        "_dd.hostname",
        "_dd.p.dm",
        "_dd.base_service",
        "_dd.origin",
        "service.name",
        "peer.service",
        "db.type",
        "db.name",
        "error.msg",
        "error.type",
        "error.stack",
        "analytics.event",
        "http.status_code",
        "http.method",
        "http.url",
        "span.kind",
    ];
    READ_HERE
        .iter()
        .copied()
        .chain(stats_keys)
        .map(str::to_owned)
        .collect()
}

impl Default for TranslateConfig {
    fn default() -> Self {
        Self {
            span_name_as_resource_name: false,
            span_name_remappings: HashMap::new(),
            operation_and_resource_name_v2: true,
            compute_top_level_by_span_kind: false,
            ignore_resources: Vec::new(),
            fallback_hostname: String::new(),
            obfuscation: exporter_obfuscation(),
            share_resource_meta: true,
            sql_cache: Arc::default(),
            stats_only: None,
        }
    }
}

impl TranslateConfig {
    /// V2 naming needs the gate on and neither V1 option set (agent
    /// `OperationAndResourceNameV2Enabled`).
    pub fn uses_v2_naming(&self) -> bool {
        self.operation_and_resource_name_v2
            && !self.span_name_as_resource_name
            && self.span_name_remappings.is_empty()
    }

    /// Sharing needs obfuscation that reads no meta entry it is not told about by name: no
    /// credit-card scan of every value, no tag replace rules.
    pub(crate) fn shares_resource_meta(&self) -> bool {
        self.share_resource_meta
            && !self.obfuscation.credit_cards.enabled
            && self.obfuscation.tag_replace_rules.is_empty()
    }
}

/// Spans that did not make it into a payload, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Chunks with a zero trace or span id (or a foreign trace id).
    pub invalid_id: u64,
    /// Chunks whose root resource matched `traces.ignore_resources`.
    pub ignored_resource: u64,
    /// Chunks with a user-drop priority (< 0), or priority 0 not rescued by the error sampler.
    pub sampled_out: u64,
}

impl Dropped {
    /// All dropped spans.
    pub fn total(&self) -> u64 {
        self.invalid_id + self.ignored_resource + self.sampled_out
    }
}

/// The result of translating one request.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// One per ResourceSpans that still has chunks after processing.
    pub tracer_payloads: Vec<TranslatedPayload>,
    /// The chunks the samplers dropped, under their payload's fields (one per ResourceSpans
    /// that lost any): not sent, but counted in APM stats, as the agent computes stats before
    /// sampling.
    pub sampled_out: Vec<TranslatedPayload>,
    /// Dropped spans by reason.
    pub dropped: Dropped,
    /// `telemetry.sdk.language` values seen (for `X-Datadog-Reported-Languages`).
    pub languages: BTreeSet<String>,
    /// Hostnames the receiver identified, one per ResourceSpans with a non-empty hostname (the
    /// hosts of the usage series, as Go reports them: before the root-span back-fill).
    pub hosts: BTreeSet<String>,
    /// The hostnames that came from resource attributes, not from the fallback, in resource
    /// order (what Go's gateway-usage detector is told about, one call per ResourceSpans:
    /// an empty one too, as `datadog.host.name: ""` gives).
    pub attribute_hosts: Vec<String>,
    /// ECS Fargate task ARNs of ResourceSpans without a host (their usage series are tagged
    /// `task_arn:<arn>` instead).
    pub fargate_tasks: BTreeSet<String>,
}

/// Translates a request using the current time for pre-2000 start times.
pub fn translate(req: &ExportTraceServiceRequest, cfg: &TranslateConfig) -> Translation {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    translate_at(req, cfg, now)
}

/// Translates a request; `now_unix_nanos` replaces span starts before the year 2000.
pub fn translate_at(
    req: &ExportTraceServiceRequest,
    cfg: &TranslateConfig,
    now_unix_nanos: i64,
) -> Translation {
    let mut out = Translation::default();
    for (resource_index, rs) in req.resource_spans.iter().enumerate() {
        let received = payload::receive(rs, cfg);
        let mut tp = received.payload;
        let shared = Arc::new(received.shared);
        if !tp.language_name.is_empty() {
            out.languages.insert(tp.language_name.clone());
        }
        match received.source {
            Some(Source::Hostname(host)) => out.attribute_hosts.push(host),
            Some(Source::Fargate(arn)) => {
                out.fargate_tasks.insert(arn);
            }
            _ => {}
        }
        if !received.hostname.is_empty() {
            out.hosts.insert(received.hostname);
        }
        let mut filters = SpanKeyFilters::default();
        let sampled_out =
            agent::process(&mut tp, cfg, now_unix_nanos, &mut out.dropped, &mut filters);
        let key_filters = Arc::new(filters);
        if let Some(sampled_out) = sampled_out {
            out.sampled_out.push(TranslatedPayload {
                payload: sampled_out,
                shared: shared.clone(),
                key_filters: key_filters.clone(),
                resource_index,
            });
        }
        if !tp.chunks.is_empty() {
            out.tracer_payloads.push(TranslatedPayload {
                payload: tp,
                shared,
                key_filters,
                resource_index,
            });
        }
    }
    out
}
