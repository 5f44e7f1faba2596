//! Builders for the unit tests' OTLP attributes and Datadog spans.

use crate::model;
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};

pub fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn s(k: &str, v: &str) -> KeyValue {
    kv(k, Value::StringValue(v.into()))
}

/// A Datadog span of trace 1 with its id, parent and service.
pub fn dd_span(id: u64, parent: u64, svc: &str) -> model::Span {
    model::Span {
        trace_id: 1,
        span_id: id,
        parent_id: parent,
        service: svc.into(),
        ..Default::default()
    }
}
