//! Paths (`name`, `attributes["k"]`, `resource.attributes["k"]`, `span.status.code`, ...):
//! which fields each context has, and reading them from the telemetry.
//!
//! A path may name its context (`span.name`, `log.body`) or leave it implicit (`name`), as
//! OTTL's context inference allows; `resource.` and `instrumentation_scope.` (or `scope.`) reach
//! the enclosing resource and scope, and a span event's conditions reach its span with `span.`.

use super::value::Val;
use super::{ContextKind, DataPoint, EvalCtx, MetricShape};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    SpanName,
    SpanKind,
    SpanStatusCode,
    SpanStatusMessage,
    SpanTraceId,
    SpanId,
    SpanParentSpanId,
    /// The ids as bytes (`trace_id == TraceID(0x...)`).
    SpanTraceIdBytes,
    SpanIdBytes,
    SpanParentSpanIdBytes,
    SpanTraceState,
    SpanStartTime,
    SpanEndTime,
    SpanAttributes,
    SpanFlags,
    SpanDroppedAttributesCount,
    SpanDroppedEventsCount,
    SpanDroppedLinksCount,
    EventName,
    EventTime,
    EventAttributes,
    EventDroppedAttributesCount,
    LogBody,
    LogSeverityNumber,
    LogSeverityText,
    LogAttributes,
    LogTime,
    LogObservedTime,
    LogFlags,
    LogTraceId,
    LogSpanId,
    LogEventName,
    LogDroppedAttributesCount,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricAggregationTemporality,
    MetricIsMonotonic,
    DataPointAttributes,
    DataPointStartTime,
    DataPointTime,
    DataPointValueDouble,
    DataPointValueInt,
    DataPointCount,
    DataPointSum,
    DataPointFlags,
}

impl Field {
    /// Fields whose value may be a map or a list, and so may be followed by `[key]`s.
    fn indexable(self) -> bool {
        matches!(
            self,
            Field::ResourceAttributes
                | Field::ScopeAttributes
                | Field::SpanAttributes
                | Field::EventAttributes
                | Field::LogAttributes
                | Field::LogBody
                | Field::DataPointAttributes
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub field: Field,
    pub keys: Vec<Key>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Resource,
    Scope,
    Span,
    Event,
    Log,
    Metric,
    DataPoint,
}

pub(crate) fn resolve(
    kind: ContextKind,
    segments: &[String],
    keys: Vec<Key>,
) -> Result<Path, String> {
    let own = match kind {
        ContextKind::Resource => Object::Resource,
        ContextKind::Scope => Object::Scope,
        ContextKind::Span => Object::Span,
        ContextKind::SpanEvent => Object::Event,
        ContextKind::Log => Object::Log,
        ContextKind::Metric => Object::Metric,
        ContextKind::DataPoint => Object::DataPoint,
    };
    let (object, rest) = match segments[0].as_str() {
        "resource" => (Object::Resource, &segments[1..]),
        "instrumentation_scope" | "scope" if kind != ContextKind::Resource => {
            (Object::Scope, &segments[1..])
        }
        "span" if matches!(kind, ContextKind::Span | ContextKind::SpanEvent) => {
            (Object::Span, &segments[1..])
        }
        "spanevent" if kind == ContextKind::SpanEvent => (Object::Event, &segments[1..]),
        "log" if kind == ContextKind::Log => (Object::Log, &segments[1..]),
        "metric" if matches!(kind, ContextKind::Metric | ContextKind::DataPoint) => {
            (Object::Metric, &segments[1..])
        }
        "datapoint" if kind == ContextKind::DataPoint => (Object::DataPoint, &segments[1..]),
        _ => (own, segments),
    };
    let name = rest.join(".");
    let field = match (object, name.as_str()) {
        (Object::Resource, "attributes") => Field::ResourceAttributes,
        (Object::Resource, "dropped_attributes_count") => Field::ResourceDroppedAttributesCount,
        (Object::Scope, "name") => Field::ScopeName,
        (Object::Scope, "version") => Field::ScopeVersion,
        (Object::Scope, "attributes") => Field::ScopeAttributes,
        (Object::Scope, "dropped_attributes_count") => Field::ScopeDroppedAttributesCount,
        (Object::Span, "name") => Field::SpanName,
        (Object::Span, "kind") => Field::SpanKind,
        (Object::Span, "status.code") => Field::SpanStatusCode,
        (Object::Span, "status.message") => Field::SpanStatusMessage,
        (Object::Span, "trace_id.string") => Field::SpanTraceId,
        (Object::Span, "span_id.string") => Field::SpanId,
        (Object::Span, "parent_span_id.string") => Field::SpanParentSpanId,
        (Object::Span, "trace_id") => Field::SpanTraceIdBytes,
        (Object::Span, "span_id") => Field::SpanIdBytes,
        (Object::Span, "parent_span_id") => Field::SpanParentSpanIdBytes,
        (Object::Span, "trace_state") => Field::SpanTraceState,
        (Object::Span, "start_time_unix_nano") => Field::SpanStartTime,
        (Object::Span, "end_time_unix_nano") => Field::SpanEndTime,
        (Object::Span, "attributes") => Field::SpanAttributes,
        (Object::Span, "flags") => Field::SpanFlags,
        (Object::Span, "dropped_attributes_count") => Field::SpanDroppedAttributesCount,
        (Object::Span, "dropped_events_count") => Field::SpanDroppedEventsCount,
        (Object::Span, "dropped_links_count") => Field::SpanDroppedLinksCount,
        (Object::Event, "name") => Field::EventName,
        (Object::Event, "time_unix_nano") => Field::EventTime,
        (Object::Event, "attributes") => Field::EventAttributes,
        (Object::Event, "dropped_attributes_count") => Field::EventDroppedAttributesCount,
        (Object::Log, "body") => Field::LogBody,
        (Object::Log, "severity_number") => Field::LogSeverityNumber,
        (Object::Log, "severity_text") => Field::LogSeverityText,
        (Object::Log, "attributes") => Field::LogAttributes,
        (Object::Log, "time_unix_nano") => Field::LogTime,
        (Object::Log, "observed_time_unix_nano") => Field::LogObservedTime,
        (Object::Log, "flags") => Field::LogFlags,
        (Object::Log, "trace_id.string") => Field::LogTraceId,
        (Object::Log, "span_id.string") => Field::LogSpanId,
        (Object::Log, "event_name") => Field::LogEventName,
        (Object::Log, "dropped_attributes_count") => Field::LogDroppedAttributesCount,
        (Object::Metric, "name") => Field::MetricName,
        (Object::Metric, "description") => Field::MetricDescription,
        (Object::Metric, "unit") => Field::MetricUnit,
        (Object::Metric, "type") => Field::MetricType,
        (Object::Metric, "aggregation_temporality") => Field::MetricAggregationTemporality,
        (Object::Metric, "is_monotonic") => Field::MetricIsMonotonic,
        (Object::DataPoint, "attributes") => Field::DataPointAttributes,
        (Object::DataPoint, "start_time_unix_nano") => Field::DataPointStartTime,
        (Object::DataPoint, "time_unix_nano") => Field::DataPointTime,
        (Object::DataPoint, "value_double") => Field::DataPointValueDouble,
        (Object::DataPoint, "value_int") => Field::DataPointValueInt,
        (Object::DataPoint, "count") => Field::DataPointCount,
        (Object::DataPoint, "sum") => Field::DataPointSum,
        (Object::DataPoint, "flags") => Field::DataPointFlags,
        _ => {
            return Err(format!(
                "path {:?} is not supported in the {} context",
                segments.join("."),
                kind.name()
            ))
        }
    };
    if !keys.is_empty() && !field.indexable() {
        return Err(format!(
            "path {:?} does not take keys (only attributes and a log body do)",
            segments.join(".")
        ));
    }
    Ok(Path { field, keys })
}

/// Span kinds and status codes (span and span event contexts); severity numbers (logs).
pub(crate) fn enum_value(kind: ContextKind, name: &str) -> Result<i64, String> {
    const SPAN: [(&str, i64); 9] = [
        ("SPAN_KIND_UNSPECIFIED", 0),
        ("SPAN_KIND_INTERNAL", 1),
        ("SPAN_KIND_SERVER", 2),
        ("SPAN_KIND_CLIENT", 3),
        ("SPAN_KIND_PRODUCER", 4),
        ("SPAN_KIND_CONSUMER", 5),
        ("STATUS_CODE_UNSET", 0),
        ("STATUS_CODE_OK", 1),
        ("STATUS_CODE_ERROR", 2),
    ];
    let found = match kind {
        ContextKind::Span | ContextKind::SpanEvent => {
            SPAN.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        ContextKind::Log => severity_number(name),
        ContextKind::Metric | ContextKind::DataPoint => {
            METRIC.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        ContextKind::Resource | ContextKind::Scope => None,
    };
    found.ok_or_else(|| {
        format!(
            "enum symbol {name} not found in the {} context",
            kind.name()
        )
    })
}

/// pdata's metric types and the proto's temporalities (metric and data point contexts).
const METRIC: [(&str, i64); 9] = [
    ("METRIC_DATA_TYPE_NONE", 0),
    ("METRIC_DATA_TYPE_GAUGE", 1),
    ("METRIC_DATA_TYPE_SUM", 2),
    ("METRIC_DATA_TYPE_HISTOGRAM", 3),
    ("METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM", 4),
    ("METRIC_DATA_TYPE_SUMMARY", 5),
    ("AGGREGATION_TEMPORALITY_UNSPECIFIED", 0),
    ("AGGREGATION_TEMPORALITY_DELTA", 1),
    ("AGGREGATION_TEMPORALITY_CUMULATIVE", 2),
];

fn severity_number(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let bases = [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
        ("FATAL", 21),
    ];
    bases.iter().find_map(|(b, n)| {
        let suffix = rest.strip_prefix(b)?;
        match suffix {
            "" => Some(*n),
            "2" => Some(n + 1),
            "3" => Some(n + 2),
            "4" => Some(n + 3),
            _ => None,
        }
    })
}

/// An id's `.string`: the hex of its bytes as pdata holds them (an absent id is all zeros, as
/// OTTL shows it: `parent_span_id.string == "0000000000000000"` for a root span).
fn ids(bytes: &[u8], len: usize) -> Val<'static> {
    let hex = if bytes.len() == len {
        hex::encode(bytes)
    } else {
        "0".repeat(2 * len)
    };
    Val::Str(Cow::Owned(hex))
}

/// An id as pdata holds it: fixed length, all zeros when absent.
fn id_bytes(id: &[u8], len: usize) -> Val<'_> {
    if id.len() == len {
        Val::Bytes(Cow::Borrowed(id))
    } else {
        Val::Bytes(Cow::Owned(vec![0; len]))
    }
}

fn attrs<'a>(kvs: Option<&'a Vec<KeyValue>>) -> Val<'a> {
    Val::Map(Cow::Borrowed(kvs.map_or(&[], Vec::as_slice)))
}

/// The value of a path, `Nil` for an absent key.
pub(crate) fn get<'a>(path: &Path, ctx: &EvalCtx<'a>) -> Result<Val<'a>, String> {
    let v = field(path.field, ctx)?;
    index(v, &path.keys, Missing::Nil)
}

fn int(n: impl Into<i64>) -> Val<'static> {
    Val::Int(n.into())
}

fn field<'a>(f: Field, ctx: &EvalCtx<'a>) -> Result<Val<'a>, String> {
    let missing = |what: &str| format!("no {what} in this context");
    let span = || ctx.span.ok_or_else(|| missing("span"));
    let event = || ctx.event.ok_or_else(|| missing("span event"));
    let log = || ctx.log.ok_or_else(|| missing("log record"));
    let str_ = |s: &'a str| Val::Str(Cow::Borrowed(s));
    Ok(match f {
        Field::ResourceAttributes => attrs(ctx.resource.map(|r| &r.attributes)),
        Field::ResourceDroppedAttributesCount => {
            int(ctx.resource.map_or(0, |r| r.dropped_attributes_count))
        }
        Field::ScopeName => str_(ctx.scope.map_or("", |s| s.name.as_str())),
        Field::ScopeVersion => str_(ctx.scope.map_or("", |s| s.version.as_str())),
        Field::ScopeAttributes => attrs(ctx.scope.map(|s| &s.attributes)),
        Field::ScopeDroppedAttributesCount => {
            int(ctx.scope.map_or(0, |s| s.dropped_attributes_count))
        }
        Field::SpanName => str_(&span()?.name),
        Field::SpanKind => int(span()?.kind),
        Field::SpanStatusCode => int(span()?.status.as_ref().map_or(0, |s| s.code)),
        Field::SpanStatusMessage => {
            str_(span()?.status.as_ref().map_or("", |s| s.message.as_str()))
        }
        Field::SpanTraceId => ids(&span()?.trace_id, 16),
        Field::SpanId => ids(&span()?.span_id, 8),
        Field::SpanParentSpanId => ids(&span()?.parent_span_id, 8),
        Field::SpanTraceIdBytes => id_bytes(&span()?.trace_id, 16),
        Field::SpanIdBytes => id_bytes(&span()?.span_id, 8),
        Field::SpanParentSpanIdBytes => id_bytes(&span()?.parent_span_id, 8),
        Field::SpanTraceState => str_(&span()?.trace_state),
        Field::SpanStartTime => Val::Int(span()?.start_time_unix_nano as i64),
        Field::SpanEndTime => Val::Int(span()?.end_time_unix_nano as i64),
        Field::SpanAttributes => attrs(Some(&span()?.attributes)),
        Field::SpanFlags => int(span()?.flags),
        Field::SpanDroppedAttributesCount => int(span()?.dropped_attributes_count),
        Field::SpanDroppedEventsCount => int(span()?.dropped_events_count),
        Field::SpanDroppedLinksCount => int(span()?.dropped_links_count),
        Field::EventName => str_(&event()?.name),
        Field::EventTime => Val::Int(event()?.time_unix_nano as i64),
        Field::EventAttributes => attrs(Some(&event()?.attributes)),
        Field::EventDroppedAttributesCount => int(event()?.dropped_attributes_count),
        Field::LogBody => log()?.body.as_ref().map_or(Val::Nil, Val::from_any),
        Field::LogSeverityNumber => int(log()?.severity_number),
        Field::LogSeverityText => str_(&log()?.severity_text),
        Field::LogAttributes => attrs(Some(&log()?.attributes)),
        Field::LogTime => Val::Int(log()?.time_unix_nano as i64),
        Field::LogObservedTime => Val::Int(log()?.observed_time_unix_nano as i64),
        Field::LogFlags => int(log()?.flags),
        Field::LogTraceId => ids(&log()?.trace_id, 16),
        Field::LogSpanId => ids(&log()?.span_id, 8),
        Field::LogEventName => str_(&log()?.event_name),
        Field::LogDroppedAttributesCount => int(log()?.dropped_attributes_count),
        Field::MetricName => str_(&ctx.metric.ok_or_else(|| missing("metric"))?.name),
        Field::MetricDescription => str_(&ctx.metric.ok_or_else(|| missing("metric"))?.description),
        Field::MetricUnit => str_(&ctx.metric.ok_or_else(|| missing("metric"))?.unit),
        Field::MetricType | Field::MetricAggregationTemporality | Field::MetricIsMonotonic => {
            let shape = match ctx.metric_shape {
                Some(shape) => shape,
                None => MetricShape::of(ctx.metric.ok_or_else(|| missing("metric"))?),
            };
            match f {
                Field::MetricType => Val::Int(shape.type_),
                Field::MetricAggregationTemporality => {
                    shape.temporality.map_or(Val::Nil, |t| Val::Int(t.into()))
                }
                _ => shape.monotonic.map_or(Val::Nil, Val::Bool),
            }
        }
        Field::DataPointAttributes
        | Field::DataPointStartTime
        | Field::DataPointTime
        | Field::DataPointValueDouble
        | Field::DataPointValueInt
        | Field::DataPointCount
        | Field::DataPointSum
        | Field::DataPointFlags => {
            datapoint_field(f, ctx.datapoint.ok_or_else(|| missing("data point"))?)
        }
    })
}

/// A data point's field; `nil` where the point's type has no such field (as OTTL).
fn datapoint_field(f: Field, dp: DataPoint<'_>) -> Val<'_> {
    use kakehashi_pdata::proto::metrics::v1::number_data_point::Value as N;
    let (attrs, start, time, flags) = match dp {
        DataPoint::Number(p) => (
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
            p.flags,
        ),
        DataPoint::Histogram(p) => (
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
            p.flags,
        ),
        DataPoint::ExponentialHistogram(p) => (
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
            p.flags,
        ),
        DataPoint::Summary(p) => (
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
            p.flags,
        ),
    };
    match f {
        Field::DataPointAttributes => Val::Map(Cow::Borrowed(attrs)),
        Field::DataPointStartTime => Val::Int(start as i64),
        Field::DataPointTime => Val::Int(time as i64),
        Field::DataPointFlags => Val::Int(flags.into()),
        Field::DataPointValueDouble | Field::DataPointValueInt => match dp {
            DataPoint::Number(p) => match (f, p.value) {
                (Field::DataPointValueDouble, Some(N::AsDouble(d))) => Val::Float(d),
                (Field::DataPointValueDouble, _) => Val::Float(0.0),
                (_, Some(N::AsInt(i))) => Val::Int(i),
                _ => Val::Int(0),
            },
            _ => Val::Nil,
        },
        Field::DataPointCount => match dp {
            DataPoint::Histogram(p) => Val::Int(p.count as i64),
            DataPoint::ExponentialHistogram(p) => Val::Int(p.count as i64),
            DataPoint::Summary(p) => Val::Int(p.count as i64),
            DataPoint::Number(_) => Val::Nil,
        },
        _ => match dp {
            DataPoint::Histogram(p) => Val::Float(p.sum.unwrap_or(0.0)),
            DataPoint::ExponentialHistogram(p) => Val::Float(p.sum.unwrap_or(0.0)),
            DataPoint::Summary(p) => Val::Float(p.sum),
            DataPoint::Number(_) => Val::Nil,
        },
    }
}

/// How `[key]` treats what is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// A path's keys: an absent map key is `nil`, and `nil` indexed stays `nil`.
    Nil,
    /// A converter's result indexed (OTTL's `exprGetter`): both are errors.
    Error,
}

/// `[key]` steps into maps (by string) and lists (by index).
pub(crate) fn index<'a>(mut v: Val<'a>, keys: &[Key], missing: Missing) -> Result<Val<'a>, String> {
    fn position(len: usize, i: i64) -> Result<usize, String> {
        usize::try_from(i)
            .ok()
            .filter(|i| *i < len)
            .ok_or_else(|| format!("index {i} out of bounds"))
    }
    for key in keys {
        let absent = || match missing {
            Missing::Nil => Ok(Val::Nil),
            Missing::Error => Err("key not found in map".to_string()),
        };
        v = match (v, key) {
            (Val::Nil, _) if missing == Missing::Nil => return Ok(Val::Nil),
            (Val::Map(Cow::Borrowed(kvs)), Key::Str(k)) => match kvs.iter().find(|kv| &kv.key == k)
            {
                Some(kv) => kv.value.as_ref().map_or(Val::Nil, Val::from_any),
                None => absent()?,
            },
            (Val::Map(Cow::Owned(kvs)), Key::Str(k)) => {
                match kvs.into_iter().find(|kv| &kv.key == k) {
                    Some(kv) => kv.value.map_or(Val::Nil, Val::from_owned_any),
                    None => absent()?,
                }
            }
            (Val::List(Cow::Borrowed(items)), Key::Int(i)) => {
                Val::from_any(&items[position(items.len(), *i)?])
            }
            (Val::List(Cow::Owned(mut items)), Key::Int(i)) => {
                let at = position(items.len(), *i)?;
                Val::from_owned_any(items.swap_remove(at))
            }
            (other, Key::Str(_)) => {
                return Err(format!(
                    "type {} does not support string indexing",
                    other.type_name()
                ))
            }
            (other, Key::Int(_)) => {
                return Err(format!(
                    "type {} does not support integer indexing",
                    other.type_name()
                ))
            }
        };
    }
    Ok(v)
}

impl<'a> Val<'a> {
    pub(crate) fn from_any(v: &'a AnyValue) -> Val<'a> {
        use any_value::Value as V;
        match &v.value {
            // A profile's string-table index: nothing a condition can read.
            None | Some(V::StringValueStrindex(_)) => Val::Nil,
            Some(V::StringValue(s)) => Val::Str(Cow::Borrowed(s)),
            Some(V::BoolValue(b)) => Val::Bool(*b),
            Some(V::IntValue(i)) => Val::Int(*i),
            Some(V::DoubleValue(d)) => Val::Float(*d),
            Some(V::BytesValue(b)) => Val::Bytes(Cow::Borrowed(b)),
            Some(V::ArrayValue(a)) => Val::List(Cow::Borrowed(&a.values)),
            Some(V::KvlistValue(m)) => Val::Map(Cow::Borrowed(&m.values)),
        }
    }

    /// The same for a value a converter built.
    pub(crate) fn from_owned_any(v: AnyValue) -> Val<'static> {
        use any_value::Value as V;
        match v.value {
            None | Some(V::StringValueStrindex(_)) => Val::Nil,
            Some(V::StringValue(s)) => Val::Str(Cow::Owned(s)),
            Some(V::BoolValue(b)) => Val::Bool(b),
            Some(V::IntValue(i)) => Val::Int(i),
            Some(V::DoubleValue(d)) => Val::Float(d),
            Some(V::BytesValue(b)) => Val::Bytes(Cow::Owned(b)),
            Some(V::ArrayValue(a)) => Val::List(Cow::Owned(a.values)),
            Some(V::KvlistValue(m)) => Val::Map(Cow::Owned(m.values)),
        }
    }
}
