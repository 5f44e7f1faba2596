//! Resource attributes shared by every span of a payload instead of copied into each span's meta.
//!
//! Go copies a ResourceSpans' attributes into the meta map of each of its spans (§2.7 step 10):
//! ~20 keys and values per span, which were a third of the translation's allocations. Here the
//! entries that nothing downstream reads or rewrites by name ("inert" ones) are kept once per
//! payload in a [`SharedMeta`], and each span's meta holds only the rest. What goes on the wire
//! does not change: the encoder appends the shared entries to every span, [`TranslatedPayload::to_full`]
//! builds the meta maps Go would have, and the APM stats read a span's meta through
//! [`SharedMeta::get`] after its own.
//!
//! The invariant that makes this exact: no span of the payload holds a shared key. A resource
//! key that some span sets itself (a span or scope attribute of the same name) is taken out of
//! the shared part and copied into the spans, as Go does, once all the payload's spans are
//! known ([`Sharing::finish`]). Keys that the trace-agent steps after the copy read, write or
//! remove by name ([`is_inert`]) are never shared, nor entries the agent would truncate.

use crate::attributes::dd_key;
use crate::key_filter::{KeyFilter, SpanKeyFilters};
use crate::model::{self, put_string, string_len, Str};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use prost::encoding::{encode_key, encode_varint, WireType};
use std::sync::Arc;

/// `Span.meta`'s field number (libdd-trace-protobuf's `model::Span`); a test decodes our encoding
/// with prost to hold us to it.
const SPAN_META_TAG: u32 = 10;

/// Meta keys read, written or removed by name after the resource attributes are copied: by the
/// rest of `convert`, the agent's normalisation, chunk and payload back-fill and truncation, and
/// libdatadog's obfuscation. A resource attribute with one of these keys is copied into each
/// span, so that those steps see it where Go's do.
const NOT_INERT: &[&str] = &[
    // convert (span.rs) and Status2Error (status.rs)
    "span.kind",
    "w3c.tracestate",
    "otel.trace_id",
    "version",
    "events",
    "_dd.span_events.has_exception",
    "_dd.span_links",
    "otel.library.name",
    "otel.library.version",
    "otel.scope.name",
    "otel.scope.version",
    "rpc.grpc.status_code",
    "otel.status_code",
    "otel.status_description",
    "error.msg",
    "error.type",
    "error.stack",
    "env",
    "db.name",
    "http.status_code",
    "http.response.status_code",
    // attributes.rs: written to metrics, not meta
    "analytics.event",
    // payload.rs and agent.rs
    "_dd.p.dm",
    "peer.service",
    "_dd.base_service",
    "_dd.origin",
    "_dd.hostname",
    // libdd-trace-obfuscation's `obfuscate_pb_span`
    "http.url",
    "memcached.command",
    "redis.raw_command",
    "valkey.raw_command",
    "db.type",
    "sql.query",
    // obfuscation.rs, after libdatadog: a SQL span's query attributes
    "db.statement",
    "db.query.text",
    "elasticsearch.body",
    "opensearch.body",
    "mongodb.query",
];

/// Longest shared key: the agent truncates keys over 200 bytes to ≥ 197 bytes plus `...`, so a
/// renamed key can never equal a shared one.
const MAX_SHARED_KEY_LEN: usize = 196;
/// The agent truncates longer values (agent.rs `MAX_META_VAL_LEN`).
const MAX_SHARED_VALUE_LEN: usize = 25_000;
/// Shared entries per payload (one bit each in the shadow mask).
const MAX_SHARED: usize = 64;

/// Whether a resource meta entry may be shared rather than copied into each span.
fn is_inert(key: &str, value: &str) -> bool {
    key.len() <= MAX_SHARED_KEY_LEN
        && value.len() <= MAX_SHARED_VALUE_LEN
        && !NOT_INERT.contains(&key)
}

/// The meta entries every span of a payload has in common, and their protobuf encoding as
/// entries of `Span.meta`.
#[derive(Debug, Default, PartialEq)]
pub struct SharedMeta {
    entries: Vec<(Str, Str)>,
    /// The keys, for [`Self::get`]: the stats ask for ~60 keys per span, nearly all absent.
    keys: KeyFilter,
    encoded: Vec<u8>,
}

impl SharedMeta {
    fn new(entries: Vec<(Str, Str)>) -> Self {
        let mut keys = KeyFilter::default();
        entries.iter().for_each(|(k, _)| keys.add(k));
        // Each entry as a map field of `Span.meta`: the field key, the entry's length, then its
        // key (field 1) and value (field 2), left out when empty as prost does.
        let mut encoded = Vec::new();
        for (k, v) in &entries {
            encode_key(SPAN_META_TAG, WireType::LengthDelimited, &mut encoded);
            encode_varint((string_len(1, k) + string_len(2, v)) as u64, &mut encoded);
            put_string(1, k, &mut encoded);
            put_string(2, v, &mut encoded);
        }
        SharedMeta {
            entries,
            keys,
            encoded,
        }
    }

    /// The value of a shared key.
    pub fn get(&self, key: &str) -> Option<&str> {
        if !self.keys.may_contain(key) {
            return None;
        }
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entries, in resource attribute order.
    pub fn entries(&self) -> &[(Str, Str)] {
        &self.entries
    }

    /// The entries as protobuf fields of a `Span` (meta map entries).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the shared entries to a span's own meta (what Go's span carries).
    pub fn copy_into(&self, span: &mut model::Span) {
        for (k, v) in &self.entries {
            span.meta.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// A translated `TracerPayload`: its spans' meta maps lack the entries of `shared`, which every
/// span has too; `key_filters` tell which keys each span's map may hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranslatedPayload {
    pub payload: model::TracerPayload,
    pub shared: Arc<SharedMeta>,
    pub key_filters: Arc<SpanKeyFilters>,
    /// The request's ResourceSpans it came from (by position).
    pub resource_index: usize,
}

impl From<model::TracerPayload> for TranslatedPayload {
    /// A payload whose spans carry all their meta.
    fn from(payload: model::TracerPayload) -> Self {
        TranslatedPayload {
            payload,
            shared: Arc::default(),
            key_filters: Arc::default(),
            resource_index: 0,
        }
    }
}

impl From<libdd_trace_protobuf::pb::TracerPayload> for TranslatedPayload {
    /// A payload whose spans carry all their meta (the `pb` fields translated spans never have
    /// are dropped: see [`model`]).
    fn from(payload: libdd_trace_protobuf::pb::TracerPayload) -> Self {
        model::TracerPayload::from(payload).into()
    }
}

impl TranslatedPayload {
    /// The payload with every span's meta complete, as Go builds it.
    pub fn to_full(&self) -> model::TracerPayload {
        let mut full = self.payload.clone();
        for span in full.chunks.iter_mut().flat_map(|c| &mut c.spans) {
            self.shared.copy_into(span);
        }
        full
    }
}

/// The resource meta entries of one ResourceSpans, split into those copied into each span and
/// those shared, while its spans are converted.
pub(crate) struct Sharing {
    copied: Vec<(Str, Str)>,
    shared: Vec<(Str, Str)>,
    /// The shared keys.
    keys: KeyFilter,
    /// Bit i: some span holds `shared[i]`'s key itself.
    shadowed: u64,
}

impl Sharing {
    /// `entries` are the resource attributes mapped to (Datadog key, value), in order; with
    /// `share` false every entry is copied (Go's way, kept as the reference).
    pub(crate) fn new(entries: Vec<(Str, Str)>, share: bool) -> Self {
        let mut copied = Vec::new();
        let mut shared: Vec<(Str, Str)> = Vec::new();
        // A key is shared only if all its entries are inert; among repeated keys the first
        // non-empty value is the one "fill if empty" copying ends with.
        let not_inert: Vec<&str> = entries
            .iter()
            .filter(|(k, v)| !is_inert(k, v))
            .map(|(k, _)| k.as_str())
            .collect();
        for (k, v) in entries.iter() {
            if !share || not_inert.contains(&k.as_str()) {
                copied.push((k.clone(), v.clone()));
            } else if let Some(existing) = shared.iter_mut().find(|(k2, _)| k2 == k) {
                if existing.1.is_empty() {
                    existing.1 = v.clone();
                }
            } else if shared.len() < MAX_SHARED {
                shared.push((k.clone(), v.clone()));
            } else {
                copied.push((k.clone(), v.clone()));
            }
        }
        let mut keys = KeyFilter::default();
        for (k, _) in &shared {
            keys.add(k);
        }
        Sharing {
            copied,
            shared,
            keys,
            shadowed: 0,
        }
    }

    /// The copied entries, in order, for "first writer wins" copying into a span.
    pub(crate) fn copied(&self) -> &[(Str, Str)] {
        &self.copied
    }

    /// Step 10 for the shared entries: a span that already holds a shared key keeps its value,
    /// or takes the resource's when its own is empty (as copying would); the key is then marked
    /// as shadowed. Only the span's attributes can have put a shared key in its meta by now
    /// (every key `convert` writes itself is never shared), so only their keys are checked.
    pub(crate) fn apply_to(&mut self, span: &mut model::Span, attrs: &[KeyValue]) {
        for kv in attrs {
            if matches!(
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(Value::IntValue(_) | Value::DoubleValue(_))
            ) {
                continue; // a metric
            }
            let Some(key) = dd_key(&kv.key) else { continue };
            if !self.keys.may_contain(&key) {
                continue;
            }
            let Some(i) = self.shared.iter().position(|(k, _)| *k == *key) else {
                continue;
            };
            if let Some(own) = span.meta.get_mut(key.as_ref()) {
                if own.is_empty() {
                    own.clone_from(&self.shared[i].1);
                }
                self.shadowed |= 1 << i;
            }
        }
    }

    /// A key written into a span's meta after step 10 (scope attributes overwrite).
    pub(crate) fn written(&mut self, key: &str) {
        if let Some(i) = self.shared.iter().position(|(k, _)| k == key) {
            self.shadowed |= 1 << i;
        }
    }

    /// Once every span of the payload is converted: shadowed keys are copied into the spans
    /// that lack them, and the rest is what the spans share.
    pub(crate) fn finish<'a>(self, spans: impl Iterator<Item = &'a mut model::Span>) -> SharedMeta {
        let (demoted, shared): (Vec<_>, Vec<_>) = self
            .shared
            .into_iter()
            .enumerate()
            .partition(|(i, _)| self.shadowed & (1 << i) != 0);
        if !demoted.is_empty() {
            for span in spans {
                for (_, (k, v)) in &demoted {
                    if !span.meta.contains_key(k) {
                        span.meta.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        SharedMeta::new(shared.into_iter().map(|(_, e)| e).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(kv: &[(&str, &str)]) -> Vec<(Str, Str)> {
        kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn named_keys_long_entries_are_copied_and_repeats_keep_the_first_non_empty() {
        let long = "v".repeat(MAX_SHARED_VALUE_LEN + 1);
        let s = Sharing::new(
            entries(&[
                ("host.name", "h"),
                ("env", "prod"),
                ("a", ""),
                ("a", "second"),
                ("a", "third"),
                ("big", &long),
                ("big", "small"),
                (&"k".repeat(197), "v"),
            ]),
            true,
        );
        assert_eq!(s.shared, entries(&[("host.name", "h"), ("a", "second")]));
        let copied: Vec<&str> = s.copied.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(copied, ["env", "big", "big", &"k".repeat(197)]);
        assert!(Sharing::new(entries(&[("host.name", "h")]), false)
            .shared
            .is_empty());
    }

    #[test]
    fn shadowed_keys_are_copied_into_the_spans_that_lack_them() {
        let mut s = Sharing::new(entries(&[("a", "ra"), ("b", "rb"), ("c", "rc")]), true);
        let mut spans: [model::Span; 3] = Default::default();
        let attr = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(kakehashi_pdata::proto::common::v1::AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        spans[0].meta.insert("a".into(), "own".into());
        spans[1].meta.insert("b".into(), Str::default());
        s.apply_to(&mut spans[0], &[attr("a", "own")]);
        s.apply_to(&mut spans[1], &[attr("b", "")]);
        s.apply_to(&mut spans[2], &[]);
        let shared = s.finish(spans.iter_mut());
        assert_eq!(shared.entries(), entries(&[("c", "rc")]));
        assert_eq!(spans[0].meta["a"], "own");
        assert_eq!(spans[0].meta["b"], "rb");
        assert_eq!(spans[1].meta["a"], "ra");
        assert_eq!(spans[1].meta["b"], "rb");
        assert_eq!(spans[2].meta["a"], "ra");
        assert!(!spans[2].meta.contains_key("c"));
        assert_eq!(shared.get("c"), Some("rc"));
        assert_eq!(shared.get("a"), None);
    }

    #[test]
    fn the_encoding_is_the_meta_fields_of_a_span() {
        use prost::Message;
        let shared = SharedMeta::new(entries(&[("k", "v"), ("x", ""), ("", "empty key")]));
        let mut span = model::Span {
            name: "n".into(),
            meta: [("own".into(), "1".into())].into_iter().collect(),
            ..Default::default()
        };
        let mut bytes = Vec::new();
        span.encode_raw(&mut bytes);
        bytes.extend_from_slice(shared.encoded());
        shared.copy_into(&mut span);
        assert_eq!(
            libdd_trace_protobuf::pb::Span::decode(&bytes[..]).unwrap(),
            span.into()
        );
    }
}
