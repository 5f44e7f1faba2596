//! Which keys each span's meta map may hold: a small Bloom filter per span, built at the end of
//! the agent's processing, for the APM stats. The same filter type answers the translation's
//! lookups of attribute keys (`registry::KeySet`) and of shared resource keys.
//!
//! The stats concentrator (libdd-trace-stats) asks each span for ~15 meta keys, and each client
//! span for ~45 peer tags more, nearly all absent. Each question is a hash lookup in the span's
//! meta map: with SipHash (when spans were `pb::Span`s) that was 60 % of the stats stage's
//! instructions, and with foldhash it is still several times the filter's cost. A filter
//! answers most of them first. It is built where the
//! agent's truncation has just read every key (building it from the stats stage instead, with
//! the keys no longer in cache, cost what it saved: docs/performance.md).
//!
//! A filter may say "maybe" for an absent key, never "no" for a present one: the spans' maps
//! are not written after it is built, two spans with the same id share the union of their keys,
//! and a span without a filter is looked up as before.

use crate::model;

/// A 256-bit Bloom filter of keys, two bits per key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyFilter([u64; 4]);

/// The two bit positions of a key, from its length and its first, middle and last bytes: meta
/// keys nearly always differ there, and reading three bytes is cheaper than hashing a whole key
/// (the stats ask each span for ~60 keys).
fn positions(key: &str) -> [usize; 2] {
    let b = key.as_bytes();
    let (first, mid, last) = match b {
        [] => (0, 0, 0),
        _ => (b[0], b[b.len() / 2], b[b.len() - 1]),
    };
    let x =
        (b.len() as u64) | u64::from(first) << 16 | u64::from(mid) << 24 | u64::from(last) << 32;
    let h = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48;
    [(h & 255) as usize, ((h >> 8) & 255) as usize]
}

impl KeyFilter {
    pub fn add(&mut self, key: &str) {
        for p in positions(key) {
            self.0[p / 64] |= 1 << (p % 64);
        }
    }

    /// False only if the key was never added.
    pub fn may_contain(&self, key: &str) -> bool {
        positions(key)
            .iter()
            .all(|&p| self.0[p / 64] & (1 << (p % 64)) != 0)
    }
}

/// The key filters of a payload's spans, by span id.
#[derive(Debug, Default, PartialEq)]
pub struct SpanKeyFilters {
    by_span: model::IdMap<KeyFilter>,
}

impl SpanKeyFilters {
    /// Room for `spans` more spans.
    pub(crate) fn reserve(&mut self, spans: usize) {
        self.by_span.reserve(spans);
    }

    /// Adds a span's meta keys: call once its map will not change any more.
    pub(crate) fn add(&mut self, span: &model::Span) {
        let filter = self.by_span.entry(span.span_id).or_default();
        for key in span.meta.keys() {
            filter.add(key);
        }
    }

    /// The filter of the span (of every span with its id), if one was built.
    pub fn get(&self, span: &model::Span) -> Option<&KeyFilter> {
        self.by_span.get(&span.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_denies_an_added_key() {
        let keys: Vec<String> = (0..200)
            .map(|i| format!("k{i}.{}", "x".repeat(i % 13)))
            .collect();
        for chunk in keys.chunks(30) {
            let mut filter = KeyFilter::default();
            chunk.iter().for_each(|k| filter.add(k));
            assert!(chunk.iter().all(|k| filter.may_contain(k)));
        }
        let mut empty_key = KeyFilter::default();
        empty_key.add("");
        assert!(empty_key.may_contain(""));
        assert!(!KeyFilter::default().may_contain(""));
    }

    #[test]
    fn spans_with_one_id_share_their_keys() {
        let span = |key: &str| model::Span {
            span_id: 9,
            meta: [(key.into(), "v".into())].into_iter().collect(),
            ..Default::default()
        };
        let mut filters = SpanKeyFilters::default();
        filters.add(&span("db.system"));
        filters.add(&span("peer.service"));
        let f = filters.get(&span("x")).expect("a filter");
        assert!(f.may_contain("db.system") && f.may_contain("peer.service"));
        assert!(filters
            .get(&model::Span {
                span_id: 10,
                ..Default::default()
            })
            .is_none());
    }
}
