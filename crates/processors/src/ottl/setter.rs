//! Where OTTL statements write: the mutable context (`MutCtx`), which paths can be assigned
//! and with which types, and the maps the map editors change.

use super::path::{Field, Key, Path};
use super::value::Val;
use super::{DataPoint, EvalCtx, MetricShape};
use kakehashi_pdata::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span::Event, Span, Status};

/// The telemetry a statement may change: the item and what encloses it. `scope` is absent in
/// the resource context; `span` is the event's span in the span event context.
pub struct MutCtx<'a> {
    pub resource: &'a mut Option<Resource>,
    pub scope: Option<&'a mut Option<InstrumentationScope>>,
    pub span: Option<&'a mut Span>,
    pub event: Option<&'a mut Event>,
    pub log: Option<&'a mut LogRecord>,
    /// In the data point context, the metric without its data (taken out so its points can
    /// change) and, in `metric_shape`, what that data said.
    pub metric: Option<&'a mut Metric>,
    pub datapoint: Option<DataPointMut<'a>>,
    pub metric_shape: Option<MetricShape>,
}

/// One data point of any metric type, to change.
pub enum DataPointMut<'a> {
    Number(&'a mut NumberDataPoint),
    Histogram(&'a mut HistogramDataPoint),
    ExponentialHistogram(&'a mut ExponentialHistogramDataPoint),
    Summary(&'a mut SummaryDataPoint),
}

impl DataPointMut<'_> {
    fn view(&self) -> DataPoint<'_> {
        match self {
            DataPointMut::Number(p) => DataPoint::Number(p),
            DataPointMut::Histogram(p) => DataPoint::Histogram(p),
            DataPointMut::ExponentialHistogram(p) => DataPoint::ExponentialHistogram(p),
            DataPointMut::Summary(p) => DataPoint::Summary(p),
        }
    }

    fn attributes(&mut self) -> &mut Vec<KeyValue> {
        match self {
            DataPointMut::Number(p) => &mut p.attributes,
            DataPointMut::Histogram(p) => &mut p.attributes,
            DataPointMut::ExponentialHistogram(p) => &mut p.attributes,
            DataPointMut::Summary(p) => &mut p.attributes,
        }
    }

    fn times(&mut self) -> (&mut u64, &mut u64) {
        match self {
            DataPointMut::Number(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
            DataPointMut::Histogram(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
            DataPointMut::ExponentialHistogram(p) => {
                (&mut p.start_time_unix_nano, &mut p.time_unix_nano)
            }
            DataPointMut::Summary(p) => (&mut p.start_time_unix_nano, &mut p.time_unix_nano),
        }
    }
}

impl MutCtx<'_> {
    pub fn view(&self) -> EvalCtx<'_> {
        EvalCtx {
            resource: self.resource.as_ref(),
            scope: self.scope.as_ref().and_then(|s| s.as_ref()),
            span: self.span.as_deref(),
            event: self.event.as_deref(),
            log: self.log.as_deref(),
            metric: self.metric.as_deref(),
            datapoint: self.datapoint.as_ref().map(DataPointMut::view),
            metric_shape: self.metric_shape,
        }
    }
}

pub(super) fn str_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// A value to store; `None` for nil (setting nil does nothing, as OTTL).
pub(super) fn owned(v: &Val) -> Option<AnyValue> {
    use any_value::Value as V;
    let value = match v {
        Val::Nil => return None,
        Val::Bool(b) => V::BoolValue(*b),
        Val::Int(i) => V::IntValue(*i),
        Val::Float(f) => V::DoubleValue(*f),
        Val::Str(s) => V::StringValue(s.to_string()),
        Val::Bytes(b) => V::BytesValue(b.to_vec()),
        Val::Map(kvs) => V::KvlistValue(KeyValueList {
            values: kvs.to_vec(),
        }),
        Val::List(items) => V::ArrayValue(ArrayValue {
            values: items.to_vec(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

fn parse_failure(what: &str, path: &Path) -> String {
    format!("{what} (path {:?})", path.field)
}

/// Paths a statement can assign to.
pub(super) fn settable(path: &Path) -> Result<(), String> {
    use Field::*;
    let ok = match path.field {
        ResourceAttributes | ScopeAttributes | SpanAttributes | EventAttributes | LogAttributes => {
            matches!(path.keys.as_slice(), [] | [Key::Str(_)])
        }
        ScopeName | ScopeVersion | SpanName | SpanKind | SpanStatusCode | SpanStatusMessage
        | SpanTraceState | SpanStartTime | SpanEndTime | EventName | EventTime | LogBody
        | LogSeverityNumber | LogSeverityText | LogTime | LogObservedTime | LogEventName
        | MetricName | MetricDescription | MetricUnit | DataPointStartTime | DataPointTime => {
            path.keys.is_empty()
        }
        DataPointAttributes => matches!(path.keys.as_slice(), [] | [Key::Str(_)]),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(parse_failure(
            "this path cannot be assigned by kakehashi (attributes take one string key)",
            path,
        ))
    }
}

pub(super) fn is_map(path: &Path) -> Result<(), String> {
    use Field::*;
    match path.field {
        ResourceAttributes | ScopeAttributes | SpanAttributes | EventAttributes | LogAttributes
        | DataPointAttributes
            if path.keys.is_empty() =>
        {
            Ok(())
        }
        _ => Err(parse_failure(
            "the target must be an attributes map, without keys",
            path,
        )),
    }
}

fn attrs(v: &mut Option<impl HasAttributes + Default>) -> &mut Vec<KeyValue> {
    v.get_or_insert_with(Default::default).attributes_mut()
}

trait HasAttributes {
    fn attributes_mut(&mut self) -> &mut Vec<KeyValue>;
}
impl HasAttributes for Resource {
    fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
}
impl HasAttributes for InstrumentationScope {
    fn attributes_mut(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
}

/// The attributes map a (validated) map path names. A part this context does not have (only
/// possible for a path the parser let through for another context) yields a scratch map.
pub(super) fn map_mut<'c>(path: &Path, ctx: &'c mut MutCtx) -> &'c mut Vec<KeyValue> {
    match path.field {
        Field::ResourceAttributes => Some(attrs(ctx.resource)),
        Field::ScopeAttributes => ctx.scope.as_deref_mut().map(attrs),
        Field::SpanAttributes => ctx.span.as_deref_mut().map(|s| &mut s.attributes),
        Field::EventAttributes => ctx.event.as_deref_mut().map(|e| &mut e.attributes),
        Field::LogAttributes => ctx.log.as_deref_mut().map(|l| &mut l.attributes),
        Field::DataPointAttributes => ctx.datapoint.as_mut().map(DataPointMut::attributes),
        _ => None,
    }
    .unwrap_or_else(|| unreachable!("map paths are checked against the context when parsed"))
}

/// The type a settable field takes, named as OTTL's errors name it; `None`: any value.
fn expected_type(path: &Path) -> Option<&'static str> {
    use Field::*;
    match path.field {
        ResourceAttributes | ScopeAttributes | SpanAttributes | EventAttributes | LogAttributes
        | DataPointAttributes => path.keys.is_empty().then_some("map"),
        LogBody => None,
        SpanKind | SpanStatusCode | SpanStartTime | SpanEndTime | EventTime | LogSeverityNumber
        | LogTime | LogObservedTime | DataPointStartTime | DataPointTime => Some("int64"),
        _ => Some("string"),
    }
}

/// Assigns a value; one of the wrong type for the field is an error, as in OTTL (since
/// otelcol-contrib's typed setters), handled per `error_mode`.
pub(super) fn set(path: &Path, ctx: &mut MutCtx, v: AnyValue) -> Result<(), String> {
    use any_value::Value as V;
    let Some(inner) = v.value.clone() else {
        return Ok(());
    };
    if let Some(want) = expected_type(path) {
        let got = Val::from_any(&v).type_name();
        let ok = matches!(
            (want, &inner),
            ("map", V::KvlistValue(_)) | ("int64", V::IntValue(_)) | ("string", V::StringValue(_))
        );
        if !ok {
            return Err(format!("expected {want} but got {got}"));
        }
    }
    let text = || match &inner {
        V::StringValue(s) => Some(s.clone()),
        _ => None,
    };
    let int = || match &inner {
        V::IntValue(i) => Some(*i),
        _ => None,
    };
    match path.field {
        Field::ResourceAttributes
        | Field::ScopeAttributes
        | Field::SpanAttributes
        | Field::EventAttributes
        | Field::LogAttributes
        | Field::DataPointAttributes => {
            let map = map_mut(path, ctx);
            match path.keys.as_slice() {
                [Key::Str(k)] => match map.iter_mut().find(|kv| &kv.key == k) {
                    Some(kv) => kv.value = Some(v),
                    None => map.push(KeyValue {
                        key: k.clone(),
                        value: Some(v),
                        ..Default::default()
                    }),
                },
                // The whole map: only a map replaces it.
                _ => {
                    if let V::KvlistValue(m) = inner {
                        *map = m.values;
                    }
                }
            }
        }
        Field::ScopeName | Field::ScopeVersion => {
            if let (Some(s), Some(scope)) = (text(), ctx.scope.as_deref_mut()) {
                let scope = scope.get_or_insert_with(Default::default);
                if path.field == Field::ScopeName {
                    scope.name = s;
                } else {
                    scope.version = s;
                }
            }
        }
        Field::SpanName | Field::SpanStatusMessage | Field::SpanTraceState => {
            if let (Some(s), Some(span)) = (text(), ctx.span.as_deref_mut()) {
                match path.field {
                    Field::SpanName => span.name = s,
                    Field::SpanTraceState => span.trace_state = s,
                    _ => span.status.get_or_insert_with(Status::default).message = s,
                }
            }
        }
        Field::SpanKind | Field::SpanStatusCode | Field::SpanStartTime | Field::SpanEndTime => {
            if let (Some(i), Some(span)) = (int(), ctx.span.as_deref_mut()) {
                match path.field {
                    Field::SpanKind => span.kind = i as i32,
                    Field::SpanStatusCode => {
                        span.status.get_or_insert_with(Status::default).code = i as i32
                    }
                    Field::SpanStartTime => span.start_time_unix_nano = i as u64,
                    _ => span.end_time_unix_nano = i as u64,
                }
            }
        }
        Field::EventName => {
            if let (Some(s), Some(e)) = (text(), ctx.event.as_deref_mut()) {
                e.name = s;
            }
        }
        Field::EventTime => {
            if let (Some(i), Some(e)) = (int(), ctx.event.as_deref_mut()) {
                e.time_unix_nano = i as u64;
            }
        }
        Field::LogBody => {
            if let Some(l) = ctx.log.as_deref_mut() {
                l.body = Some(v);
            }
        }
        Field::LogSeverityText | Field::LogEventName => {
            if let (Some(s), Some(l)) = (text(), ctx.log.as_deref_mut()) {
                if path.field == Field::LogSeverityText {
                    l.severity_text = s;
                } else {
                    l.event_name = s;
                }
            }
        }
        Field::LogSeverityNumber | Field::LogTime | Field::LogObservedTime => {
            if let (Some(i), Some(l)) = (int(), ctx.log.as_deref_mut()) {
                match path.field {
                    Field::LogSeverityNumber => l.severity_number = i as i32,
                    Field::LogTime => l.time_unix_nano = i as u64,
                    _ => l.observed_time_unix_nano = i as u64,
                }
            }
        }
        Field::MetricName | Field::MetricDescription | Field::MetricUnit => {
            if let (Some(s), Some(m)) = (text(), ctx.metric.as_deref_mut()) {
                match path.field {
                    Field::MetricName => m.name = s,
                    Field::MetricDescription => m.description = s,
                    _ => m.unit = s,
                }
            }
        }
        Field::DataPointStartTime | Field::DataPointTime => {
            if let (Some(i), Some(dp)) = (int(), ctx.datapoint.as_mut()) {
                let (start, time) = dp.times();
                if path.field == Field::DataPointStartTime {
                    *start = i as u64;
                } else {
                    *time = i as u64;
                }
            }
        }
        // Refused by `settable` when parsed.
        _ => {}
    }
    Ok(())
}
