//! APM stats (§1.5): aggregates translated spans into 10 s buckets with libdatadog's
//! `SpanConcentrator` and wraps the flushed buckets in the `StatsPayload` the
//! `/api/v0.2/stats` intake expects.
//!
//! Like the trace agent, stats are grouped per (TracerPayload hostname, env, app version,
//! container ID): one concentrator per group. Memory is bounded twice: the number of groups is
//! capped (spans of further groups are counted and dropped), and each concentrator keeps its own
//! cardinality limits. Groups that stop receiving spans are flushed and forgotten, so the cap is
//! on *concurrently active* groups.

use kakehashi_datadog_translate::model;
use kakehashi_datadog_translate::{KeyFilter, SharedMeta, TranslatedPayload, SAMPLE_RATE_KEY};
use libdd_trace_protobuf::pb;
use libdd_trace_stats::span_concentrator::{
    default_stats_eligible_span_kinds, SpanConcentrator, StatSpan,
};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The agent's stats bucket width.
pub const BUCKET_DURATION: Duration = Duration::from_secs(10);
/// The agent's stats writer cuts payloads at this many grouped-stats entries.
pub const MAX_ENTRIES_PER_PAYLOAD: usize = 4000;
/// Default cap on concurrently tracked (hostname, env, version, container, language) groups:
/// a gateway sees one per host it serves. An idle group holds a small concentrator; the stats
/// entries themselves are bounded by each concentrator.
pub const DEFAULT_MAX_GROUPS: usize = 4096;
/// A group that received no span for this long (and at least three buckets) is flushed
/// completely and dropped. Long enough that normal traffic keeps its concentrator (and its
/// 2-bucket delay) alive.
const IDLE_GROUP_AFTER: Duration = Duration::from_secs(60);
/// `AgentPayload.env` / `StatsPayload.agentEnv` of the embedded agent.
const AGENT_ENV: &str = "none";

/// The agent's base peer tags (`basePeerTags`, formerly `peer_tags.ini`), used when
/// `peer_tags_aggregation` is on; `traces.peer_tags` adds to them.
pub const BASE_PEER_TAGS: &[&str] = &[
    "_dd.base_service",
    "active_record.db.vendor",
    "amqp.destination",
    "amqp.exchange",
    "amqp.queue",
    "aws.queue.name",
    "aws.s3.bucket",
    "bucketname",
    "cassandra.keyspace",
    "db.cassandra.contact.points",
    "db.couchbase.seed.nodes",
    "db.hostname",
    "db.instance",
    "db.name",
    "db.namespace",
    "db.system",
    "db.type",
    "dns.hostname",
    "grpc.host",
    "hostname",
    "http.host",
    "http.server_name",
    "messaging.destination",
    "messaging.destination.name",
    "messaging.kafka.bootstrap.servers",
    "messaging.rabbitmq.exchange",
    "messaging.system",
    "mongodb.db",
    "msmq.queue.path",
    "net.peer.name",
    "network.destination.ip",
    "network.destination.name",
    "out.host",
    "peer.hostname",
    "peer.service",
    "queuename",
    "rpc.service",
    "rpc.system",
    "sequel.db.vendor",
    "server.address",
    "streamname",
    "tablename",
    "topicname",
];

/// The meta keys libdatadog's concentrator reads besides the peer tags (libdd-trace-stats
/// `span_concentrator`: eligibility, the aggregation key, the gRPC and HTTP status, the HTTP
/// method and endpoint, the stats obfuscation's DBMS hint).
pub const CONCENTRATOR_META_KEYS: &[&str] = &[
    "span.kind",
    "_dd.base_service",
    "_dd.origin",
    "_dd.svc_src",
    "http.method",
    "http.request.method",
    "http.status_code",
    "http.response.status_code",
    "http.endpoint",
    "http.route",
    "rpc.grpc.status_code",
    "grpc.code",
    "rpc.grpc.status.code",
    "grpc.status.code",
    "db.type",
];

impl StatsSettings {
    /// Every meta key a span's stats can depend on with these settings (the concentrator's
    /// fixed keys and the peer tags it aggregates by), for a stats-only translation.
    pub fn meta_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = CONCENTRATOR_META_KEYS.to_vec();
        if self.peer_tags_aggregation {
            keys.extend(BASE_PEER_TAGS);
            keys.extend(self.peer_tags.iter().map(String::as_str));
        }
        keys
    }
}

/// What the aggregator needs from the exporter config.
#[derive(Debug, Clone)]
pub struct StatsSettings {
    /// The collector host: `StatsPayload.agentHostname`, and the group hostname of
    /// TracerPayloads without one (as the agent does).
    pub hostname: String,
    /// `"datadogexporter-kakehashi-<version>"`.
    pub agent_version: String,
    /// `traces.compute_stats_by_span_kind`: client/server/producer/consumer spans are eligible
    /// even when neither top-level nor measured.
    pub compute_stats_by_span_kind: bool,
    /// `traces.peer_tags_aggregation`.
    pub peer_tags_aggregation: bool,
    /// `traces.peer_tags`, added to [`BASE_PEER_TAGS`].
    pub peer_tags: Vec<String>,
    /// Cap on concurrently tracked groups ([`DEFAULT_MAX_GROUPS`]).
    pub max_groups: usize,
    /// The width of a stats bucket ([`BUCKET_DURATION`]; the connector's `bucket_interval`).
    pub bucket_duration: Duration,
    /// Whether payloads of different tracer languages are aggregated apart (the agent's
    /// `PayloadAggregationKey.Lang`; Go's connector leaves the language out).
    pub group_by_language: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    hostname: String,
    env: String,
    version: String,
    container_id: String,
    /// The tracer payload's language (the agent's `PayloadAggregationKey.Lang`).
    lang: String,
    /// The bits of the weight of the group's spans (1 but for traces sampled by the client).
    weight: u64,
}

#[derive(Debug)]
struct Group {
    concentrator: SpanConcentrator,
    last_span: SystemTime,
}

/// Span stats, grouped like the agent's concentrator.
#[derive(Debug)]
pub struct StatsAggregator {
    settings: StatsSettings,
    span_kinds: Vec<String>,
    peer_tag_keys: Vec<String>,
    groups: HashMap<GroupKey, Group>,
    /// Spans dropped because their group would exceed the cap.
    dropped_spans: u64,
    warned_cap: bool,
}

impl StatsAggregator {
    pub fn new(settings: StatsSettings) -> StatsAggregator {
        let span_kinds = if settings.compute_stats_by_span_kind {
            default_stats_eligible_span_kinds()
        } else {
            Vec::new()
        };
        let peer_tag_keys = if settings.peer_tags_aggregation {
            let mut keys: Vec<String> = BASE_PEER_TAGS
                .iter()
                .map(|s| s.to_string())
                .chain(settings.peer_tags.iter().cloned())
                .collect();
            keys.sort();
            keys.dedup();
            keys
        } else {
            Vec::new()
        };
        StatsAggregator {
            settings,
            span_kinds,
            peer_tag_keys,
            groups: HashMap::new(),
            dropped_spans: 0,
            warned_cap: false,
        }
    }

    /// Feeds the eligible spans of `tp` (top-level, measured, or by span kind) into the
    /// concentrator of its group. Spans must already carry `_top_level` / `_dd.measured`.
    ///
    /// Like the agent's concentrator, a trace whose root has a client sampling rate r < 1
    /// (`_sample_rate`) counts 1/r for each span: its spans go to a group of that weight,
    /// whose counts are scaled when flushed ([`scale`]).
    pub fn add(&mut self, translated: &TranslatedPayload, now: SystemTime) {
        let tp = &translated.payload;
        let span_count: usize = tp.chunks.iter().map(|c| c.spans.len()).sum();
        if span_count == 0 {
            return;
        }
        let key = GroupKey {
            hostname: if tp.hostname.is_empty() {
                self.settings.hostname.clone()
            } else {
                tp.hostname.clone()
            },
            env: if tp.env.is_empty() {
                AGENT_ENV.to_string()
            } else {
                tp.env.clone()
            },
            version: tp.app_version.clone(),
            container_id: tp.container_id.clone(),
            lang: if self.settings.group_by_language {
                tp.language_name.clone()
            } else {
                String::new()
            },
            weight: 1f64.to_bits(),
        };
        let client_sampled = tp
            .chunks
            .iter()
            .flat_map(|c| &c.spans)
            .any(|s| s.metrics.contains_key(SAMPLE_RATE_KEY));
        if !client_sampled {
            self.add_chunks(key, translated, tp.chunks.iter(), span_count, now);
            return;
        }
        let mut by_weight: Vec<(u64, Vec<&model::TraceChunk>)> = Vec::new();
        for chunk in &tp.chunks {
            let w = weight(chunk).to_bits();
            match by_weight.iter_mut().find(|(bits, _)| *bits == w) {
                Some((_, chunks)) => chunks.push(chunk),
                None => by_weight.push((w, vec![chunk])),
            }
        }
        for (weight, chunks) in by_weight {
            let spans = chunks.iter().map(|c| c.spans.len()).sum();
            let key = GroupKey {
                weight,
                ..key.clone()
            };
            self.add_chunks(key, translated, chunks.into_iter(), spans, now);
        }
    }

    fn add_chunks<'t>(
        &mut self,
        key: GroupKey,
        translated: &TranslatedPayload,
        chunks: impl Iterator<Item = &'t model::TraceChunk>,
        span_count: usize,
        now: SystemTime,
    ) {
        if !self.groups.contains_key(&key) && self.groups.len() >= self.settings.max_groups {
            self.dropped_spans += span_count as u64;
            if !self.warned_cap {
                self.warned_cap = true;
                tracing::warn!(
                    max_groups = self.settings.max_groups,
                    "APM stats: too many distinct (hostname, env, version, container) groups; \
                     spans of further groups are left out of the stats (logged once)"
                );
            }
            return;
        }
        let (span_kinds, peer_tags) = (&self.span_kinds, &self.peer_tag_keys);
        let bucket_duration = self.settings.bucket_duration;
        let group = self.groups.entry(key).or_insert_with(|| Group {
            // Started one bucket back, as a concentrator that has been flushing: the previous
            // bucket still takes late spans (an SDK's batch delay puts many there), where a
            // fresh one would move them into the current bucket.
            concentrator: SpanConcentrator::new(
                bucket_duration,
                now.checked_sub(bucket_duration).unwrap_or(now),
                span_kinds.clone(),
                peer_tags.clone(),
                None,
                Vec::new(),
            ),
            last_span: now,
        });
        group.last_span = now;
        let shared = &*translated.shared;
        for span in chunks.flat_map(|c| &c.spans) {
            group.concentrator.add_span(&WithShared {
                span,
                keys: translated.key_filters.get(span),
                shared,
            });
        }
    }

    /// Spans left out because of the group cap, since creation.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// Number of groups currently tracked.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Flushes the buckets that are due (all of them with `force`, e.g. on shutdown), as
    /// payloads of at most [`MAX_ENTRIES_PER_PAYLOAD`] grouped-stats entries each
    /// (`splitPayload` set when cut). Groups idle for a while are flushed entirely and dropped.
    pub fn flush(&mut self, now: SystemTime, force: bool) -> Vec<pb::StatsPayload> {
        let mut clients = Vec::new();
        let mut idle = Vec::new();
        // Never before the concentrator's 2-bucket delay has passed for the last span.
        let idle_after = IDLE_GROUP_AFTER.max(self.settings.bucket_duration * 3);
        for (key, group) in &mut self.groups {
            let is_idle = now
                .duration_since(group.last_span)
                .is_ok_and(|d| d >= idle_after);
            let weight = f64::from_bits(key.weight);
            let buckets: Vec<pb::ClientStatsBucket> = group
                .concentrator
                .flush(now, force || is_idle)
                .all_buckets()
                .into_iter()
                .filter(|b| !b.stats.is_empty())
                .map(|b| scale(b, weight))
                .collect();
            if is_idle || force {
                idle.push(key.clone());
            }
            if !buckets.is_empty() {
                // A weighted group is a payload of its own, next to its key's unweighted one
                // (as stats of several tracers on one host are).
                let payload = pb::ClientStatsPayload {
                    hostname: key.hostname.clone(),
                    env: key.env.clone(),
                    version: key.version.clone(),
                    container_id: key.container_id.clone(),
                    lang: key.lang.clone(),
                    stats: buckets,
                    ..Default::default()
                };
                clients.push((key.weight, payload));
            }
        }
        for key in idle {
            self.groups.remove(&key);
        }
        // Stable output order (HashMap iteration is not).
        clients.sort_by(|(wa, a), (wb, b)| {
            (
                &a.hostname,
                &a.env,
                &a.version,
                &a.container_id,
                &a.lang,
                wa,
            )
                .cmp(&(
                    &b.hostname,
                    &b.env,
                    &b.version,
                    &b.container_id,
                    &b.lang,
                    wb,
                ))
        });
        let clients = clients.into_iter().map(|(_, c)| c).collect();
        split_payloads(clients, MAX_ENTRIES_PER_PAYLOAD)
            .into_iter()
            .map(|(stats, split)| pb::StatsPayload {
                agent_hostname: self.settings.hostname.clone(),
                agent_env: AGENT_ENV.to_string(),
                stats,
                agent_version: self.settings.agent_version.clone(),
                client_computed: false,
                split_payload: split,
            })
            .collect()
    }
}

/// The agent's weight of a chunk: 1/r for its root's client sampling rate r in (0, 1), else 1
/// (`stats.weight`).
fn weight(chunk: &model::TraceChunk) -> f64 {
    let rate = chunk
        .root()
        .and_then(|root| root.metrics.get(SAMPLE_RATE_KEY).copied());
    match rate {
        Some(r) if r > 0.0 && r <= 1.0 => 1.0 / r,
        _ => 1.0,
    }
}

/// A bucket whose spans each weigh `weight`: hits, errors, top-level hits and duration scaled,
/// and rounded as the agent exports its weighted sums (down or up at random, up with the
/// probability of the fraction, so that the counts are right on average); the latency
/// sketches are not weighted, in the agent either.
fn scale(mut bucket: pb::ClientStatsBucket, weight: f64) -> pb::ClientStatsBucket {
    if weight != 1.0 {
        let w = |n: u64| {
            let x = n as f64 * weight;
            // A rate of 2^-62 over a few spans exceeds any count: saturate, never wrap.
            if x.is_nan() || x >= u64::MAX as f64 {
                return u64::MAX;
            }
            let floor = x as u64;
            floor.saturating_add(u64::from(rand::random::<f64>() < x - floor as f64))
        };
        for g in &mut bucket.stats {
            g.hits = w(g.hits);
            g.errors = w(g.errors);
            g.top_level_hits = w(g.top_level_hits);
            g.duration = w(g.duration);
        }
    }
    bucket
}

/// A translated span as the concentrator sees it: its meta is its own entries, then those its
/// payload shares (a span never holds a shared key itself). `keys`, when the translation built
/// one, spares the hash lookup of most keys the span lacks.
struct WithShared<'a> {
    span: &'a model::Span,
    keys: Option<&'a KeyFilter>,
    shared: &'a SharedMeta,
}

impl<'a> StatSpan<'a> for WithShared<'a> {
    fn service(&'a self) -> &'a str {
        &self.span.service
    }
    fn resource(&'a self) -> &'a str {
        &self.span.resource
    }
    fn name(&'a self) -> &'a str {
        &self.span.name
    }
    fn r#type(&'a self) -> &'a str {
        &self.span.r#type
    }
    fn start(&'a self) -> i64 {
        self.span.start
    }
    fn duration(&'a self) -> i64 {
        self.span.duration
    }
    fn is_error(&'a self) -> bool {
        self.span.error != 0
    }
    fn is_trace_root(&'a self) -> bool {
        self.span.parent_id == 0
    }
    fn is_measured(&'a self) -> bool {
        self.span.is_measured()
    }
    fn is_partial_snapshot(&'a self) -> bool {
        self.span.is_partial_snapshot()
    }
    fn has_top_level(&'a self) -> bool {
        self.span.has_top_level()
    }
    fn get_meta(&'a self, key: &str) -> Option<&'a str> {
        let own = match self.keys {
            Some(keys) if !keys.may_contain(key) => None,
            _ => self.span.meta.get(key),
        };
        match own {
            Some(v) => Some(v),
            None => self.shared.get(key),
        }
    }
    fn get_metrics(&'a self, key: &str) -> Option<f64> {
        self.span.metrics.get(key).copied()
    }
}

/// Cuts client payloads into groups of at most `max` grouped-stats entries; a client payload
/// (or bucket) that straddles a cut is repeated with its share of entries. The flag says whether
/// a cut happened (then every group is marked split, as the agent does).
fn split_payloads(
    clients: Vec<pb::ClientStatsPayload>,
    max: usize,
) -> Vec<(Vec<pb::ClientStatsPayload>, bool)> {
    let max = max.max(1);
    let mut out: Vec<Vec<pb::ClientStatsPayload>> = Vec::new();
    let mut current: Vec<pb::ClientStatsPayload> = Vec::new();
    let mut used = 0usize;
    for mut client in clients {
        let buckets = std::mem::take(&mut client.stats);
        let mut part = pb::ClientStatsPayload {
            stats: Vec::new(),
            ..client.clone()
        };
        for mut bucket in buckets {
            while !bucket.stats.is_empty() {
                if used == max {
                    if !part.stats.is_empty() {
                        current.push(std::mem::replace(
                            &mut part,
                            pb::ClientStatsPayload {
                                stats: Vec::new(),
                                ..client.clone()
                            },
                        ));
                    }
                    out.push(std::mem::take(&mut current));
                    used = 0;
                }
                let take = (max - used).min(bucket.stats.len());
                let rest = bucket.stats.split_off(take);
                part.stats.push(pb::ClientStatsBucket {
                    start: bucket.start,
                    duration: bucket.duration,
                    agent_time_shift: bucket.agent_time_shift,
                    stats: std::mem::replace(&mut bucket.stats, rest),
                });
                used += take;
            }
        }
        if !part.stats.is_empty() {
            current.push(part);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    let split = out.len() > 1;
    out.into_iter().map(|g| (g, split)).collect()
}

/// msgpack with the PascalCase field names of the Go struct (libdatadog's serde derives, map
/// encoding), as `/api/v0.2/stats` expects.
pub fn encode_msgpack(payload: &pb::StatsPayload) -> Vec<u8> {
    match rmp_serde::to_vec_named(payload) {
        Ok(v) => v,
        // Plain structs of strings, numbers and bytes into a Vec: cannot fail in practice.
        Err(e) => {
            tracing::error!(error = %e, "APM stats: cannot encode the stats payload");
            Vec::new()
        }
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
