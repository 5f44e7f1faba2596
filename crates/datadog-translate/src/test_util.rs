//! Builders for the unit tests' OTLP attributes.

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
