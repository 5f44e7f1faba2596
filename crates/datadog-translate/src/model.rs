//! The Datadog trace payload as the translation builds it: `pb`'s `Span`, `TraceChunk`,
//! `TracerPayload` and `AgentPayload` with the same fields and wire encoding, but with span
//! meta and metrics in maps hashed by foldhash instead of std's SipHash, and a span's strings
//! inline when short ([`Str`]).
//!
//! Why our own types: a translated span's meta is written once per attribute and read by the
//! agent's processing, the samplers and the APM stats (~60 lookups per client span), and in
//! `pb::Span` every one of those hashes its key with SipHash-1-3: 15 % of the instructions of
//! the whole Datadog path (docs/performance.md). foldhash is randomly seeded per map, so keys
//! chosen by a client still cannot be made to collide on purpose.
//!
//! Spans never carry `meta_struct`, span links or span events here (the OTLP mapping writes
//! links and events into meta, as Go's exporter does), so those fields are left out; the
//! conversions to `pb` give them their defaults.

use libdd_trace_protobuf::pb;
use prost::encoding::{self, encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use std::collections::HashMap;

/// The strings of meta and metrics: up to 24 bytes are stored inline, so the short keys and
/// values that most entries have (`http.method`, `GET`, `span.kind`, `client`) cost no heap
/// allocation and no free — a translated span has ~25 entries, and allocating both strings of
/// each was the larger part of translation's allocations (docs/performance.md). A `String`
/// converted into it keeps its buffer when it is too long to inline.
pub type Str = compact_str::CompactString;
/// A span's string tags.
pub type Meta = HashMap<Str, Str, foldhash::fast::RandomState>;
/// A span's numeric tags.
pub type Metrics = HashMap<Str, f64, foldhash::fast::RandomState>;

/// Maps and sets keyed by span or trace id, built per chunk or payload: foldhash for the same
/// reason as [`Meta`] (SipHash was the only hasher left on the per-span path).
pub type IdMap<V> = HashMap<u64, V, foldhash::fast::RandomState>;
/// See [`IdMap`].
pub type IdSet = std::collections::HashSet<u64, foldhash::fast::RandomState>;

/// An empty [`Meta`] or [`Metrics`] with room for `n` entries.
pub fn map_with_capacity<V>(n: usize) -> HashMap<Str, V, foldhash::fast::RandomState> {
    HashMap::with_capacity_and_hasher(n, Default::default())
}

/// `pb::Span` without `meta_struct`, `span_links` and `span_events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    pub service: Str,
    pub name: Str,
    pub resource: Str,
    pub trace_id: u64,
    pub span_id: u64,
    pub parent_id: u64,
    pub start: i64,
    pub duration: i64,
    pub error: i32,
    pub meta: Meta,
    pub metrics: Metrics,
    pub r#type: Str,
}

/// `pb::TraceChunk` of [`Span`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceChunk {
    pub priority: i32,
    pub origin: String,
    pub spans: Vec<Span>,
    pub tags: HashMap<String, String>,
    pub dropped_trace: bool,
}

/// `pb::TracerPayload` of [`TraceChunk`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracerPayload {
    pub container_id: String,
    pub language_name: String,
    pub language_version: String,
    pub tracer_version: String,
    pub runtime_id: String,
    pub chunks: Vec<TraceChunk>,
    pub tags: HashMap<String, String>,
    pub env: String,
    pub hostname: String,
    pub app_version: String,
}

/// `pb::AgentPayload` of [`TracerPayload`]s (without the `idx_tracer_payloads` of the V1
/// format, which the exporter does not send).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentPayload {
    pub host_name: String,
    pub env: String,
    pub tracer_payloads: Vec<TracerPayload>,
    pub tags: HashMap<String, String>,
    pub agent_version: String,
    pub target_tps: f64,
    pub error_tps: f64,
    pub rare_sampler_enabled: bool,
}

const META: u32 = 10;
const METRICS: u32 = 11;

impl Span {
    /// True when `_top_level` or `_dd.top_level` is 1 (libdatadog's `has_top_level`).
    pub fn has_top_level(&self) -> bool {
        self.metrics.get("_top_level") == Some(&1.0)
            || self.metrics.get("_dd.top_level") == Some(&1.0)
    }

    /// True when `_dd.measured` is 1 (libdatadog's `is_measured`).
    pub fn is_measured(&self) -> bool {
        self.metrics.get("_dd.measured") == Some(&1.0)
    }

    /// True when `_dd.partial_version` is ≥ 0 (libdatadog's `is_partial_snapshot`).
    pub fn is_partial_snapshot(&self) -> bool {
        self.metrics
            .get("_dd.partial_version")
            .is_some_and(|v| *v >= 0.0)
    }

    /// The size of [`Self::encode_raw`]'s output: what prost gives for the same `pb::Span`.
    pub fn encoded_len(&self) -> usize {
        let mut len = self.header_len();
        for (k, v) in &self.meta {
            let entry = string_len(1, k) + string_len(2, v);
            len += key_len(META) + encoded_len_varint(entry as u64) + entry;
        }
        for (k, v) in &self.metrics {
            let entry = string_len(1, k) + double_len(2, *v);
            len += key_len(METRICS) + encoded_len_varint(entry as u64) + entry;
        }
        len
    }

    /// Writes the span's fields in protobuf wire format, as prost writes the same `pb::Span`
    /// (fields in tag order, defaults omitted, map entries in the map's order).
    pub fn encode_raw(&self, buf: &mut Vec<u8>) {
        put_string(1, &self.service, buf);
        put_string(2, &self.name, buf);
        put_string(3, &self.resource, buf);
        if self.trace_id != 0 {
            encoding::uint64::encode(4, &self.trace_id, buf);
        }
        if self.span_id != 0 {
            encoding::uint64::encode(5, &self.span_id, buf);
        }
        if self.parent_id != 0 {
            encoding::uint64::encode(6, &self.parent_id, buf);
        }
        if self.start != 0 {
            encoding::int64::encode(7, &self.start, buf);
        }
        if self.duration != 0 {
            encoding::int64::encode(8, &self.duration, buf);
        }
        if self.error != 0 {
            encoding::int32::encode(9, &self.error, buf);
        }
        for (k, v) in &self.meta {
            encode_key(META, WireType::LengthDelimited, buf);
            encode_varint((string_len(1, k) + string_len(2, v)) as u64, buf);
            put_string(1, k, buf);
            put_string(2, v, buf);
        }
        for (k, v) in &self.metrics {
            encode_key(METRICS, WireType::LengthDelimited, buf);
            encode_varint((string_len(1, k) + double_len(2, *v)) as u64, buf);
            put_string(1, k, buf);
            if *v != 0.0 {
                encoding::double::encode(2, v, buf);
            }
        }
        put_string(12, &self.r#type, buf);
    }

    /// Everything but meta and metrics.
    fn header_len(&self) -> usize {
        let varint = |tag: u32, v: u64| {
            if v == 0 {
                0
            } else {
                key_len(tag) + encoded_len_varint(v)
            }
        };
        string_len(1, &self.service)
            + string_len(2, &self.name)
            + string_len(3, &self.resource)
            + varint(4, self.trace_id)
            + varint(5, self.span_id)
            + varint(6, self.parent_id)
            + varint(7, self.start as u64)
            + varint(8, self.duration as u64)
            // prost encodes a negative int32 sign-extended to 64 bits.
            + varint(9, self.error as i64 as u64)
            + string_len(12, &self.r#type)
    }
}

/// A string field as prost writes it: nothing when empty.
pub(crate) fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        key_len(tag) + encoded_len_varint(s.len() as u64) + s.len()
    }
}

pub(crate) fn put_string(tag: u32, s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// A double map value as prost writes it: nothing when it equals the default 0.0.
fn double_len(tag: u32, v: f64) -> usize {
    if v == 0.0 {
        0
    } else {
        key_len(tag) + 8
    }
}

impl TraceChunk {
    /// The chunk's root as the agent finds it (`GetRoot`); `None` for an empty chunk.
    pub fn root(&self) -> Option<&Span> {
        (!self.spans.is_empty()).then(|| &self.spans[crate::agent::root_index(&self.spans)])
    }

    /// The chunk's fields other than its spans, as a `pb::TraceChunk` (for encoding).
    pub fn header(&self) -> pb::TraceChunk {
        pb::TraceChunk {
            priority: self.priority,
            origin: self.origin.clone(),
            spans: Vec::new(),
            tags: self.tags.clone(),
            dropped_trace: self.dropped_trace,
        }
    }
}

impl TracerPayload {
    /// The payload's fields other than its chunks, as a `pb::TracerPayload` (for encoding).
    pub fn header(&self) -> pb::TracerPayload {
        pb::TracerPayload {
            container_id: self.container_id.clone(),
            language_name: self.language_name.clone(),
            language_version: self.language_version.clone(),
            tracer_version: self.tracer_version.clone(),
            runtime_id: self.runtime_id.clone(),
            chunks: Vec::new(),
            tags: self.tags.clone(),
            env: self.env.clone(),
            hostname: self.hostname.clone(),
            app_version: self.app_version.clone(),
            container_debug: None,
        }
    }
}

impl AgentPayload {
    /// The envelope's fields other than its tracer payloads, as a `pb::AgentPayload`.
    pub fn header(&self) -> pb::AgentPayload {
        pb::AgentPayload {
            host_name: self.host_name.clone(),
            env: self.env.clone(),
            tracer_payloads: Vec::new(),
            tags: self.tags.clone(),
            agent_version: self.agent_version.clone(),
            target_tps: self.target_tps,
            error_tps: self.error_tps,
            rare_sampler_enabled: self.rare_sampler_enabled,
            idx_tracer_payloads: Vec::new(),
        }
    }
}

impl From<Span> for pb::Span {
    fn from(s: Span) -> Self {
        pb::Span {
            service: s.service.into_string(),
            name: s.name.into_string(),
            resource: s.resource.into_string(),
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_id: s.parent_id,
            start: s.start,
            duration: s.duration,
            error: s.error,
            meta: s
                .meta
                .into_iter()
                .map(|(k, v)| (k.into_string(), v.into_string()))
                .collect(),
            metrics: s
                .metrics
                .into_iter()
                .map(|(k, v)| (k.into_string(), v))
                .collect(),
            r#type: s.r#type.into_string(),
            ..Default::default()
        }
    }
}

/// Drops `meta_struct`, span links and span events, which translated spans never have.
impl From<pb::Span> for Span {
    fn from(s: pb::Span) -> Self {
        Span {
            service: s.service.into(),
            name: s.name.into(),
            resource: s.resource.into(),
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_id: s.parent_id,
            start: s.start,
            duration: s.duration,
            error: s.error,
            meta: s
                .meta
                .into_iter()
                .map(|(k, v)| (Str::from(k), Str::from(v)))
                .collect(),
            metrics: s
                .metrics
                .into_iter()
                .map(|(k, v)| (Str::from(k), v))
                .collect(),
            r#type: s.r#type.into(),
        }
    }
}

impl From<TraceChunk> for pb::TraceChunk {
    fn from(c: TraceChunk) -> Self {
        let header = c.header();
        pb::TraceChunk {
            spans: c.spans.into_iter().map(Into::into).collect(),
            ..header
        }
    }
}

impl From<pb::TraceChunk> for TraceChunk {
    fn from(c: pb::TraceChunk) -> Self {
        TraceChunk {
            priority: c.priority,
            origin: c.origin,
            spans: c.spans.into_iter().map(Into::into).collect(),
            tags: c.tags,
            dropped_trace: c.dropped_trace,
        }
    }
}

impl From<TracerPayload> for pb::TracerPayload {
    fn from(tp: TracerPayload) -> Self {
        let header = tp.header();
        pb::TracerPayload {
            chunks: tp.chunks.into_iter().map(Into::into).collect(),
            ..header
        }
    }
}

impl From<pb::TracerPayload> for TracerPayload {
    fn from(tp: pb::TracerPayload) -> Self {
        TracerPayload {
            container_id: tp.container_id,
            language_name: tp.language_name,
            language_version: tp.language_version,
            tracer_version: tp.tracer_version,
            runtime_id: tp.runtime_id,
            chunks: tp.chunks.into_iter().map(Into::into).collect(),
            tags: tp.tags,
            env: tp.env,
            hostname: tp.hostname,
            app_version: tp.app_version,
        }
    }
}

impl From<AgentPayload> for pb::AgentPayload {
    fn from(p: AgentPayload) -> Self {
        let header = p.header();
        pb::AgentPayload {
            tracer_payloads: p.tracer_payloads.into_iter().map(Into::into).collect(),
            ..header
        }
    }
}

impl From<pb::AgentPayload> for AgentPayload {
    fn from(p: pb::AgentPayload) -> Self {
        AgentPayload {
            host_name: p.host_name,
            env: p.env,
            tracer_payloads: p.tracer_payloads.into_iter().map(Into::into).collect(),
            tags: p.tags,
            agent_version: p.agent_version,
            target_tps: p.target_tps,
            error_tps: p.error_tps,
            rare_sampler_enabled: p.rare_sampler_enabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn span(meta: usize) -> Span {
        Span {
            service: "svc".into(),
            name: "op".into(),
            resource: "GET /x".into(),
            trace_id: u64::MAX,
            span_id: 7,
            parent_id: 0,
            start: 1_700_000_000_000_000_000,
            duration: -3,
            error: -1,
            meta: (0..meta)
                .map(|i| (format!("k{i}").into(), "v".repeat(i * 40).into()))
                .chain([
                    (Str::default(), "empty key".into()),
                    ("empty".into(), Str::default()),
                ])
                .collect(),
            metrics: [
                ("_top_level", 1.0),
                ("zero", 0.0),
                ("negative zero", -0.0),
                ("nan", f64::NAN),
                ("", 2.5),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect(),
            r#type: "web".into(),
        }
    }

    /// `ours` encodes to `theirs` (NaN metrics compared by key: NaN is not equal to itself).
    fn assert_same(ours: &Span, theirs: &pb::Span) {
        let mut buf = Vec::new();
        ours.encode_raw(&mut buf);
        assert_eq!(buf.len(), ours.encoded_len());
        assert_eq!(buf.len(), theirs.encoded_len());
        let decoded = pb::Span::decode(&buf[..]).unwrap();
        let nan_keys = |s: &pb::Span| {
            let mut keys: Vec<_> = s
                .metrics
                .iter()
                .filter(|(_, v)| v.is_nan())
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(nan_keys(&decoded), nan_keys(theirs));
        let finite = |s: &pb::Span| {
            let mut s = s.clone();
            s.metrics.retain(|_, v| !v.is_nan());
            s
        };
        assert_eq!(finite(&decoded), finite(theirs));
    }

    #[test]
    fn encodes_as_prost_encodes_the_same_pb_span() {
        for meta in [0, 1, 8, 200] {
            let ours = span(meta);
            assert_same(&ours, &pb::Span::from(ours.clone()));
        }
        assert_same(&Span::default(), &pb::Span::default());
    }

    #[test]
    fn conversions_round_trip() {
        let p = AgentPayload {
            host_name: "h".into(),
            env: "none".into(),
            tracer_payloads: vec![TracerPayload {
                container_id: "c".into(),
                chunks: vec![TraceChunk {
                    priority: 2,
                    origin: "o".into(),
                    spans: vec![Span {
                        metrics: [("m".into(), 1.5)].into_iter().collect(),
                        ..span(3)
                    }],
                    tags: HashMap::from([("t".into(), "v".into())]),
                    dropped_trace: true,
                }],
                env: "prod".into(),
                ..Default::default()
            }],
            agent_version: "v".into(),
            target_tps: 10.0,
            error_tps: 10.0,
            rare_sampler_enabled: true,
            ..Default::default()
        };
        let mut no_nan = p.clone();
        for span in no_nan.tracer_payloads[0].chunks[0].spans.iter_mut() {
            span.metrics.retain(|_, v| !v.is_nan());
        }
        assert_eq!(
            AgentPayload::from(pb::AgentPayload::from(no_nan.clone())),
            no_nan
        );
    }

    #[test]
    fn top_level_measured_and_partial_flags_read_metrics_as_libdatadog_does() {
        let with = |k: &str, v: f64| Span {
            metrics: [(k.into(), v)].into_iter().collect(),
            ..Default::default()
        };
        assert!(with("_top_level", 1.0).has_top_level());
        assert!(with("_dd.top_level", 1.0).has_top_level());
        assert!(!with("_top_level", 2.0).has_top_level());
        assert!(with("_dd.measured", 1.0).is_measured());
        assert!(!with("_dd.measured", 0.0).is_measured());
        assert!(with("_dd.partial_version", 0.0).is_partial_snapshot());
        assert!(!with("_dd.partial_version", -1.0).is_partial_snapshot());
        assert!(!Span::default().has_top_level());
    }
}
