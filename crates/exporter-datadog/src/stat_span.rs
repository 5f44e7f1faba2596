//! The span view the APM stats concentrator reads: a `pb::Span` plus a signature of its meta keys.
//!
//! With peer-tag aggregation on (the default), libdatadog's concentrator asks every client,
//! producer and consumer span for each of the ~45 peer-tag keys, nearly all of them absent, and
//! each ask SipHashes the key into the span's meta map. The signature (one bit per key, from its
//! length and first and last bytes: a one-hash Bloom filter over 128 bits) answers most of those
//! "absent" without hashing, and is never wrong about a key that is present.

use libdd_trace_protobuf::pb;
use libdd_trace_stats::span_concentrator::StatSpan;

/// The signature bit of a meta key.
fn key_bit(key: &str) -> u128 {
    let b = key.as_bytes();
    let (first, last) = match (b.first(), b.last()) {
        (Some(f), Some(l)) => (usize::from(*f), usize::from(*l)),
        _ => (0, 0),
    };
    let h = b.len().wrapping_mul(31) ^ first.wrapping_mul(7) ^ last;
    1 << (h & 127)
}

/// A span with the signature of its meta keys, computed once per span.
pub(crate) struct SignedSpan<'s> {
    span: &'s pb::Span,
    meta_keys: u128,
}

impl<'s> SignedSpan<'s> {
    pub(crate) fn new(span: &'s pb::Span) -> Self {
        let meta_keys = span.meta.keys().fold(0, |sig, k| sig | key_bit(k));
        SignedSpan { span, meta_keys }
    }
}

/// Everything but `get_meta` is the span's own answer.
impl<'a, 's: 'a> StatSpan<'a> for SignedSpan<'s> {
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
        self.span.is_error()
    }
    fn is_trace_root(&'a self) -> bool {
        self.span.is_trace_root()
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
        if self.meta_keys & key_bit(key) == 0 {
            return None;
        }
        self.span.get_meta(key)
    }
    fn get_metrics(&'a self, key: &str) -> Option<f64> {
        self.span.get_metrics(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For every key asked (present, absent, empty, sharing a signature bit with a present key),
    /// the signed view answers exactly as the span does.
    #[test]
    fn answers_as_the_span() {
        let mut span = pb::Span::default();
        for (k, v) in [
            ("span.kind", "client"),
            ("db.system", "postgresql"),
            ("peer.service", "users-db"),
            ("", "empty key"),
            ("out.host", ""),
        ] {
            span.meta.insert(k.into(), v.into());
        }
        let signed = SignedSpan::new(&span);
        let mut asked: Vec<String> = crate::stats::BASE_PEER_TAGS
            .iter()
            .map(|s| s.to_string())
            .collect();
        asked.extend(span.meta.keys().cloned());
        asked.extend(["missing", "span.kinc", "db.systen", "x"].map(String::from));
        // Keys that collide with a present key's bit but are absent must still answer None.
        let colliding = (0..2000)
            .map(|i| format!("k{i}"))
            .filter(|k| signed.meta_keys & key_bit(k) != 0)
            .take(5);
        asked.extend(colliding);
        for key in &asked {
            assert_eq!(signed.get_meta(key), span.get_meta(key), "{key:?}");
        }
        assert_eq!(signed.get_meta("db.system"), Some("postgresql"));
        assert_eq!(signed.get_meta("out.host"), Some(""));
    }
}
