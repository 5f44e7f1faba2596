//! Invalid UTF-8 in OTLP protobuf strings, accepted as otelcol accepts it.
//!
//! prost refuses a whole request when any `string` field is not valid UTF-8. otelcol's pdata
//! does not check (its `receiver.otlp.rejectInvalidUTF8` gate is off by default), so an SDK that
//! sends one bad attribute value loses nothing there. A Rust `String` cannot hold those bytes,
//! so [`repair_invalid_utf8`] re-encodes the request with each invalid sequence replaced by
//! U+FFFD, the same replacement Go makes when it writes such a string as JSON; the caller then
//! decodes the repaired bytes. It runs only after a decode failed, and walks the wire format
//! with the OTLP schema: which length-delimited fields are strings and which are messages.

use crate::Signal;
use crate::{ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest};
use prost::encoding::{decode_varint, encode_varint};
use prost::{DecodeError, Message};
use std::borrow::Cow;

/// An OTLP export request, decoded as otelcol decodes it.
pub trait OtlpRequest: Message + Default {
    const SIGNAL: Signal;

    /// prost's decoding, except that invalid UTF-8 in a string field becomes U+FFFD instead of
    /// failing the request. Other errors are prost's.
    fn decode_lenient(body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(body).or_else(|e| match repair_invalid_utf8(Self::SIGNAL, body) {
            Some(repaired) => Self::decode(&repaired[..]).map_err(|_| e),
            None => Err(e),
        })
    }
}

impl OtlpRequest for ExportTraceServiceRequest {
    const SIGNAL: Signal = Signal::Traces;
}
impl OtlpRequest for ExportMetricsServiceRequest {
    const SIGNAL: Signal = Signal::Metrics;
}
impl OtlpRequest for ExportLogsServiceRequest {
    const SIGNAL: Signal = Signal::Logs;
}

/// The OTLP messages that contain strings, directly or below them.
#[derive(Debug, Clone, Copy)]
enum Msg {
    TraceRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    MetricsRequest,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    /// Gauge, Sum, Histogram, ExponentialHistogram and Summary: their points are field 1.
    NumberPoints,
    HistogramPoints,
    ExponentialHistogramPoints,
    SummaryPoints,
    NumberPoint,
    HistogramPoint,
    ExponentialHistogramPoint,
    SummaryPoint,
    Exemplar,
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    Resource,
    EntityRef,
    Scope,
    KeyValue,
    AnyValue,
    /// ArrayValue (of AnyValue) and KeyValueList (of KeyValue) differ only in their element.
    ArrayValue,
    KeyValueList,
}

/// What a length-delimited field holds.
enum Field {
    Str,
    Message(Msg),
    /// Bytes, packed numbers, or a message without strings: copied as they are.
    Opaque,
}

/// The field numbers of `opentelemetry-proto`'s generated types (checked by the tests, which
/// put an invalid string in each of them).
fn field(m: Msg, n: u64) -> Field {
    use Field::{Message as M, Opaque, Str};
    use Msg::*;
    match (m, n) {
        (TraceRequest, 1) => M(ResourceSpans),
        (ResourceSpans, 1) | (ResourceMetrics, 1) | (ResourceLogs, 1) => M(Resource),
        (ResourceSpans, 2) => M(ScopeSpans),
        (ResourceMetrics, 2) => M(ScopeMetrics),
        (ResourceLogs, 2) => M(ScopeLogs),
        (ScopeSpans, 1) | (ScopeMetrics, 1) | (ScopeLogs, 1) => M(Scope),
        (ScopeSpans, 2) => M(Span),
        (ScopeMetrics, 2) => M(Metric),
        (ScopeLogs, 2) => M(LogRecord),
        (
            ResourceSpans | ResourceMetrics | ResourceLogs | ScopeSpans | ScopeMetrics | ScopeLogs,
            3,
        ) => Str,
        (Span, 3 | 5) => Str,
        (Span, 9) | (Event, 3) | (Link, 4) => M(KeyValue),
        (Span, 11) => M(Event),
        (Span, 13) => M(Link),
        (Span, 15) => M(Status),
        (Event, 2) | (Link, 3) | (Status, 2) => Str,
        (MetricsRequest, 1) => M(ResourceMetrics),
        (Metric, 1..=3) => Str,
        (Metric, 5 | 7) => M(NumberPoints),
        (Metric, 9) => M(HistogramPoints),
        (Metric, 10) => M(ExponentialHistogramPoints),
        (Metric, 11) => M(SummaryPoints),
        (Metric, 12) => M(KeyValue),
        (NumberPoints, 1) => M(NumberPoint),
        (HistogramPoints, 1) => M(HistogramPoint),
        (ExponentialHistogramPoints, 1) => M(ExponentialHistogramPoint),
        (SummaryPoints, 1) => M(SummaryPoint),
        (NumberPoint, 7) | (HistogramPoint, 9) | (ExponentialHistogramPoint, 1) => M(KeyValue),
        (SummaryPoint, 7) | (Exemplar, 7) => M(KeyValue),
        (NumberPoint, 5) | (HistogramPoint, 8) | (ExponentialHistogramPoint, 11) => M(Exemplar),
        (LogsRequest, 1) => M(ResourceLogs),
        (LogRecord, 3 | 12) => Str,
        (LogRecord, 5) => M(AnyValue),
        (LogRecord, 6) => M(KeyValue),
        (Resource, 1) | (Scope, 3) | (KeyValueList, 1) => M(KeyValue),
        (Resource, 3) => M(EntityRef),
        (EntityRef, 1..=4) | (Scope, 1 | 2) | (KeyValue, 1) | (AnyValue, 1) => Str,
        (KeyValue, 2) | (ArrayValue, 1) => M(AnyValue),
        (AnyValue, 5) => M(ArrayValue),
        (AnyValue, 6) => M(KeyValueList),
        _ => Opaque,
    }
}

/// prost's own recursion limit: anything deeper fails to decode anyway.
const MAX_DEPTH: u32 = 100;

/// The request re-encoded with every invalid UTF-8 sequence in a string field replaced by
/// U+FFFD. `None` when nothing needed replacing or the bytes are not a well-formed message (the
/// caller keeps its original decode error).
pub fn repair_invalid_utf8(signal: Signal, body: &[u8]) -> Option<Vec<u8>> {
    let root = match signal {
        Signal::Traces => Msg::TraceRequest,
        Signal::Metrics => Msg::MetricsRequest,
        Signal::Logs => Msg::LogsRequest,
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut replaced = false;
    walk(root, body, &mut out, 0, &mut replaced)?;
    replaced.then_some(out)
}

fn walk(m: Msg, mut buf: &[u8], out: &mut Vec<u8>, depth: u32, replaced: &mut bool) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    while !buf.is_empty() {
        let field_start = buf;
        let key = decode_varint(&mut buf).ok()?;
        let (number, wire_type) = (key >> 3, key & 7);
        let fixed = |n: usize, buf: &mut &[u8]| -> Option<()> {
            *buf = buf.get(n..)?;
            Some(())
        };
        match wire_type {
            0 => {
                decode_varint(&mut buf).ok()?;
            }
            1 => fixed(8, &mut buf)?,
            5 => fixed(4, &mut buf)?,
            2 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let data = buf.get(..len)?;
                buf = &buf[len..];
                match field(m, number) {
                    Field::Opaque => {}
                    Field::Str => {
                        if let Cow::Owned(fixed) = String::from_utf8_lossy(data) {
                            *replaced = true;
                            encode_varint(key, out);
                            encode_varint(fixed.len() as u64, out);
                            out.extend_from_slice(fixed.as_bytes());
                            continue;
                        }
                    }
                    Field::Message(sub) => {
                        let mut inner = Vec::with_capacity(data.len());
                        walk(sub, data, &mut inner, depth + 1, replaced)?;
                        encode_varint(key, out);
                        encode_varint(inner.len() as u64, out);
                        out.extend_from_slice(&inner);
                        continue;
                    }
                }
            }
            // Groups (3, 4) are not in OTLP; prost refuses them too.
            _ => return None,
        }
        // Unchanged: the field's bytes as they came.
        out.extend_from_slice(&field_start[..field_start.len() - buf.len()]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::{
        any_value::Value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue,
        KeyValueList,
    };
    use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use crate::proto::metrics::v1::{
        metric::Data, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
        Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
        Summary, SummaryDataPoint,
    };
    use crate::proto::resource::v1::Resource;
    use crate::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

    /// What every string field holds before encoding; swapped for invalid UTF-8 of the same
    /// length afterwards, so the encoding stays well-formed.
    const MARK: &str = "\u{1}MARK\u{1}";
    const BAD: &[u8] = b"\x01M\xffRK\x01";

    fn kv(s: &str) -> Vec<KeyValue> {
        let string = |s: &str| AnyValue {
            value: Some(Value::StringValue(s.into())),
        };
        let nested = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![KeyValue {
                            key: s.into(),
                            value: Some(string(s)),
                            ..Default::default()
                        }],
                    })),
                }],
            })),
        };
        vec![KeyValue {
            key: s.into(),
            value: Some(nested),
            ..Default::default()
        }]
    }

    fn resource(s: &str) -> Option<Resource> {
        Some(Resource {
            attributes: kv(s),
            entity_refs: vec![EntityRef {
                schema_url: s.into(),
                r#type: s.into(),
                id_keys: vec![s.into()],
                description_keys: vec![s.into()],
            }],
            ..Default::default()
        })
    }

    fn scope(s: &str) -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: s.into(),
            version: s.into(),
            attributes: kv(s),
            ..Default::default()
        })
    }

    /// The strings of `kv` (3), so of `resource` (3 + 4) and `scope` (2 + 3).
    const KV: usize = 3;
    const COMMON: usize = (KV + 4) + (2 + KV);

    fn traces(s: &str) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(s),
                scope_spans: vec![ScopeSpans {
                    scope: scope(s),
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        trace_state: s.into(),
                        name: s.into(),
                        attributes: kv(s),
                        events: vec![span::Event {
                            name: s.into(),
                            attributes: kv(s),
                            ..Default::default()
                        }],
                        links: vec![span::Link {
                            trace_state: s.into(),
                            attributes: kv(s),
                            ..Default::default()
                        }],
                        status: Some(Status {
                            message: s.into(),
                            code: 2,
                        }),
                        ..Default::default()
                    }],
                    schema_url: s.into(),
                }],
                schema_url: s.into(),
            }],
        }
    }

    fn metrics(s: &str) -> ExportMetricsServiceRequest {
        let exemplar = || Exemplar {
            filtered_attributes: kv(s),
            ..Default::default()
        };
        let number = || NumberDataPoint {
            attributes: kv(s),
            exemplars: vec![exemplar()],
            ..Default::default()
        };
        let metric = |data: Data| Metric {
            name: s.into(),
            description: s.into(),
            unit: s.into(),
            metadata: kv(s),
            data: Some(data),
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(s),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(s),
                    metrics: vec![
                        metric(Data::Gauge(Gauge {
                            data_points: vec![number()],
                        })),
                        metric(Data::Sum(Sum {
                            data_points: vec![number()],
                            ..Default::default()
                        })),
                        metric(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: kv(s),
                                exemplars: vec![exemplar()],
                                bucket_counts: vec![1, 2],
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        metric(Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes: kv(s),
                                exemplars: vec![exemplar()],
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        metric(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: kv(s),
                                ..Default::default()
                            }],
                        })),
                    ],
                    schema_url: s.into(),
                }],
                schema_url: s.into(),
            }],
        }
    }

    fn logs(s: &str) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(s),
                scope_logs: vec![ScopeLogs {
                    scope: scope(s),
                    log_records: vec![LogRecord {
                        severity_text: s.into(),
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(s.into())),
                        }),
                        attributes: kv(s),
                        event_name: s.into(),
                        ..Default::default()
                    }],
                    schema_url: s.into(),
                }],
                schema_url: s.into(),
            }],
        }
    }

    /// Every occurrence of the placeholder turned into invalid UTF-8, and how many there were.
    fn corrupt(mut bytes: Vec<u8>) -> (Vec<u8>, usize) {
        let (mut n, mut from) = (0, 0);
        while let Some(p) = bytes[from..]
            .windows(MARK.len())
            .position(|w| w == MARK.as_bytes())
        {
            let at = from + p;
            bytes[at..at + MARK.len()].copy_from_slice(BAD);
            from = at + MARK.len();
            n += 1;
        }
        (bytes, n)
    }

    /// prost refuses the corrupted request; the repaired one decodes to the request built with
    /// the replacement text in every string field, so no string field was missed.
    fn check<M: Message + Default + PartialEq + std::fmt::Debug>(
        signal: Signal,
        build: fn(&str) -> M,
        strings: usize,
    ) {
        let (bad, n) = corrupt(build(MARK).encode_to_vec());
        assert_eq!(n, strings);
        assert!(M::decode(&bad[..]).is_err(), "prost refuses invalid UTF-8");
        let repaired = repair_invalid_utf8(signal, &bad).expect("repaired");
        let lossy = String::from_utf8_lossy(BAD).into_owned();
        assert_eq!(lossy, "\u{1}M\u{FFFD}RK\u{1}");
        assert_eq!(M::decode(&repaired[..]).expect("decodes"), build(&lossy));
    }

    #[test]
    fn lenient_decoding_repairs_only_strings() {
        let (bad, _) = corrupt(traces(MARK).encode_to_vec());
        let lossy = String::from_utf8_lossy(BAD).into_owned();
        assert_eq!(
            ExportTraceServiceRequest::decode_lenient(&bad).expect("lenient"),
            traces(&lossy)
        );
        // Malformed protobuf keeps prost's error.
        let e = ExportTraceServiceRequest::decode_lenient(b"\x0a\x05ab").unwrap_err();
        assert_eq!(
            e,
            ExportTraceServiceRequest::decode(&b"\x0a\x05ab"[..]).unwrap_err()
        );
    }

    #[test]
    fn every_string_field_of_every_signal_is_repaired() {
        // resource + scope, span (trace_state, name, attributes), event (name, attributes),
        // link (trace_state, attributes), status, two schema URLs.
        check(
            Signal::Traces,
            traces,
            COMMON + (2 + KV) + (1 + KV) + (1 + KV) + 1 + 2,
        );
        // Five metrics: name, description, unit, metadata, and their points' attributes and
        // exemplars (summaries have none), two schema URLs.
        check(
            Signal::Metrics,
            metrics,
            COMMON + 5 * (3 + KV) + 4 * (2 * KV) + KV + 2,
        );
        // severity_text, body, attributes, event_name, two schema URLs.
        check(Signal::Logs, logs, COMMON + 1 + 1 + KV + 1 + 2);
    }

    #[test]
    fn valid_or_malformed_requests_are_left_to_the_decoder() {
        let valid = traces("ok").encode_to_vec();
        assert_eq!(repair_invalid_utf8(Signal::Traces, &valid), None);
        assert_eq!(repair_invalid_utf8(Signal::Traces, b"\xff\xff\xff"), None);
        // A length past the end.
        assert_eq!(repair_invalid_utf8(Signal::Traces, b"\x0a\x05ab"), None);
    }
}
