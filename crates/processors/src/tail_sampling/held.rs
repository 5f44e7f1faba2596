//! A waiting trace's spans, kept as protobuf until its decision: decoded OTLP takes about six
//! times the memory of its encoding (a `String` per key and value, a `Vec` per list), and the
//! processor holds every span for `decision_wait`.

use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::ExportTraceServiceRequest;
use prost::Message;

/// `ExportTraceServiceRequest.resource_spans` (field 1).
const RESOURCE_SPANS_FIELD: u32 = 1;

/// The bytes of an `ExportTraceServiceRequest` holding the trace's parts in arrival order:
/// each part is one length-delimited field 1, so appending is concatenating.
#[derive(Default)]
pub(super) struct HeldSpans(Vec<u8>);

impl HeldSpans {
    /// Appends `parts`; returns their protobuf size (each `ResourceSpans`, as Go counts a
    /// trace's bytes for `maximum_trace_size_bytes`).
    pub(super) fn push(&mut self, parts: &[ResourceSpans]) -> u64 {
        let sizes: Vec<usize> = parts.iter().map(Message::encoded_len).collect();
        let framed: usize = sizes
            .iter()
            .map(|&n| {
                prost::encoding::key_len(RESOURCE_SPANS_FIELD)
                    + prost::encoding::encoded_len_varint(n as u64)
                    + n
            })
            .sum();
        // Exactly what is needed: held bytes are the processor's memory, and a doubling
        // buffer would waste up to half of it.
        self.0.reserve_exact(framed);
        for rs in parts {
            prost::encoding::message::encode(RESOURCE_SPANS_FIELD, rs, &mut self.0);
        }
        sizes.iter().map(|&n| n as u64).sum()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The held parts, decoded; the buffer is freed. Decoding can fail where encoding did not:
    /// prost refuses messages nested deeper than 100 levels, and a processor before this one
    /// can build such values (OTTL `ParseJSON` into an attribute).
    pub(super) fn take(&mut self) -> Result<Vec<ResourceSpans>, prost::DecodeError> {
        let bytes = std::mem::take(&mut self.0);
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(ExportTraceServiceRequest::decode(bytes.as_slice())?.resource_spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
    use kakehashi_pdata::proto::resource::v1::Resource;
    use kakehashi_pdata::proto::trace::v1::{ScopeSpans, Span};

    fn part(service: &str, spans: &[&str]) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans
                    .iter()
                    .map(|n| Span {
                        name: (*n).into(),
                        trace_id: vec![7; 16],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            schema_url: String::new(),
        }
    }

    #[test]
    fn parts_come_back_in_arrival_order_with_their_sizes() {
        let mut held = HeldSpans::default();
        assert!(held.is_empty());
        let first = [part("a", &["one", "two"])];
        let later = [part("b", &["three"]), part("a", &["four"])];
        assert_eq!(held.push(&first), first[0].encoded_len() as u64);
        assert_eq!(
            held.push(&later),
            (later[0].encoded_len() + later[1].encoded_len()) as u64
        );
        assert_eq!(held.0.capacity(), held.0.len(), "no slack held");
        let all = held.take().unwrap();
        assert_eq!(all, [first.to_vec(), later.to_vec()].concat());
        assert!(held.is_empty(), "taken");
        assert!(held.take().unwrap().is_empty());
    }

    /// An attribute value nested deeper than prost decodes (a kvlist in a kvlist …, as OTTL's
    /// `ParseJSON` can build) encodes, then fails to decode: an error, not a panic.
    #[test]
    fn a_value_too_deep_to_decode_is_an_error() {
        let mut value = AnyValue {
            value: Some(any_value::Value::StringValue("leaf".into())),
        };
        for _ in 0..60 {
            value = AnyValue {
                value: Some(any_value::Value::KvlistValue(
                    kakehashi_pdata::proto::common::v1::KeyValueList {
                        values: vec![KeyValue {
                            key: "k".into(),
                            value: Some(value),
                            ..Default::default()
                        }],
                    },
                )),
            };
        }
        let mut deep = part("a", &["deep"]);
        deep.scope_spans[0].spans[0].attributes.push(KeyValue {
            key: "json".into(),
            value: Some(value),
            ..Default::default()
        });
        let mut held = HeldSpans::default();
        held.push(&[deep]);
        assert!(held.take().is_err());
        assert!(held.is_empty(), "the bytes are freed either way");
    }
}
