//! Reading and writing attribute lists by key, as pdata's `pcommon.Map` does (`Get(k).Str()`,
//! `PutStr`): the processors that look up and set a few attributes per item share these.

use crate::proto::common::v1::{any_value::Value, AnyValue, KeyValue};

/// The value of `key` if it is a string, else `""` (absent, or another type).
pub fn str_value<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map_or("", |v| match v {
            Value::StringValue(s) => s,
            _ => "",
        })
}

/// Sets `key` to `value`, replacing the existing value in place or appending.
pub fn put(attrs: &mut Vec<KeyValue>, key: &str, value: Value) {
    let value = Some(AnyValue { value: Some(value) });
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value,
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_put() {
        let mut attrs = Vec::new();
        put(&mut attrs, "a", Value::StringValue("1".into()));
        put(&mut attrs, "b", Value::IntValue(2));
        put(&mut attrs, "a", Value::StringValue("3".into()));
        assert_eq!(attrs.len(), 2);
        assert_eq!(str_value(&attrs, "a"), "3");
        assert_eq!(str_value(&attrs, "b"), "", "not a string");
        assert_eq!(str_value(&attrs, "c"), "");
    }
}
