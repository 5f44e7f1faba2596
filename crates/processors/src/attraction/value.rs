//! OTLP value helpers with pdata's semantics: config value conversion, `AsString`, hashing and
//! type conversion, so the actions behave byte-for-byte like contrib's `attraction` package.

use kakehashi_config::AnyValue as ConfigValue;
use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use sha2::{Digest, Sha256};

/// A config value (YAML-typed) as an OTLP value, like pcommon's `Value.FromRaw`.
pub fn from_config(v: &ConfigValue) -> AnyValue {
    let value = match v {
        ConfigValue::Null => None,
        ConfigValue::Bool(b) => Some(Value::BoolValue(*b)),
        ConfigValue::Int(i) => Some(Value::IntValue(*i)),
        ConfigValue::Float(f) => Some(Value::DoubleValue(*f)),
        ConfigValue::Str(s) => Some(Value::StringValue(s.clone())),
        ConfigValue::List(items) => Some(Value::ArrayValue(ArrayValue {
            values: items.iter().map(from_config).collect(),
        })),
        ConfigValue::Map(entries) => Some(Value::KvlistValue(KeyValueList {
            values: entries
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(from_config(v)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

pub fn str_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.into())),
    }
}

/// pcommon's `Value.AsString()` (shared with the Datadog mapping and the debug exporter).
pub fn as_string(v: &AnyValue) -> String {
    kakehashi_pdata::go_text::as_string(Some(v))
}

/// The `hash` action: lowercase hex SHA-256 of the value's bytes (string as-is, bool one byte,
/// int/double 8 bytes little-endian). Anything else, and the empty string, becomes "".
pub fn hash(v: &mut AnyValue) {
    let bytes: Vec<u8> = match &v.value {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(f)) => f.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    let hashed = if bytes.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(&bytes))
    };
    v.value = Some(Value::StringValue(hashed));
}

/// The target of a `convert` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertTo {
    Int,
    Double,
    Str,
}

/// The `convert` action; values that cannot be converted stay unchanged.
pub fn convert(v: &mut AnyValue, to: ConvertTo) {
    let new = match (to, &v.value) {
        (ConvertTo::Str, Some(Value::StringValue(_))) => return,
        (ConvertTo::Str, _) => Value::StringValue(as_string(v)),
        (ConvertTo::Int, Some(Value::DoubleValue(f))) => Value::IntValue(*f as i64),
        (ConvertTo::Int, Some(Value::BoolValue(b))) => Value::IntValue(i64::from(*b)),
        (ConvertTo::Int, Some(Value::StringValue(s))) => match s.parse::<i64>() {
            Ok(n) => Value::IntValue(n),
            Err(_) => return,
        },
        (ConvertTo::Double, Some(Value::IntValue(i))) => Value::DoubleValue(*i as f64),
        (ConvertTo::Double, Some(Value::BoolValue(b))) => {
            Value::DoubleValue(if *b { 1.0 } else { 0.0 })
        }
        (ConvertTo::Double, Some(Value::StringValue(s))) => match s.parse::<f64>() {
            Ok(n) => Value::DoubleValue(n),
            Err(_) => return,
        },
        _ => return,
    };
    v.value = Some(new);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn hash_vectors() {
        let cases = [
            (
                Value::StringValue("abc".into()),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Value::BoolValue(true),
                "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a",
            ),
            (Value::StringValue(String::new()), ""),
        ];
        for (input, want) in cases {
            let mut v = val(input);
            hash(&mut v);
            assert_eq!(v, str_value(want));
        }
        let mut i = val(Value::IntValue(1));
        hash(&mut i);
        let want = hex::encode(Sha256::digest(1i64.to_le_bytes()));
        assert_eq!(i, str_value(want));
        let mut arr = val(Value::ArrayValue(ArrayValue::default()));
        hash(&mut arr);
        assert_eq!(arr, str_value(""));
    }

    #[test]
    fn convert_vectors() {
        let cases = [
            (Value::DoubleValue(3.9), ConvertTo::Int, Value::IntValue(3)),
            (Value::BoolValue(true), ConvertTo::Int, Value::IntValue(1)),
            (
                Value::StringValue("42".into()),
                ConvertTo::Int,
                Value::IntValue(42),
            ),
            (
                Value::StringValue("4x".into()),
                ConvertTo::Int,
                Value::StringValue("4x".into()),
            ),
            (
                Value::IntValue(2),
                ConvertTo::Double,
                Value::DoubleValue(2.0),
            ),
            (
                Value::StringValue("2.5".into()),
                ConvertTo::Double,
                Value::DoubleValue(2.5),
            ),
            (
                Value::IntValue(7),
                ConvertTo::Str,
                Value::StringValue("7".into()),
            ),
            (
                Value::DoubleValue(1.5),
                ConvertTo::Str,
                Value::StringValue("1.5".into()),
            ),
            (
                Value::BoolValue(false),
                ConvertTo::Str,
                Value::StringValue("false".into()),
            ),
        ];
        for (input, to, want) in cases {
            let mut v = val(input.clone());
            convert(&mut v, to);
            assert_eq!(v, val(want), "{input:?} -> {to:?}");
        }
    }

    #[test]
    fn as_string_of_containers_is_json() {
        let v = from_config(&ConfigValue::Map(vec![
            ("b".into(), ConfigValue::Int(1)),
            (
                "a".into(),
                ConfigValue::List(vec![ConfigValue::Str("x".into())]),
            ),
        ]));
        assert_eq!(as_string(&v), r#"{"a":["x"],"b":1}"#);
        // Go's json.Marshal: whole doubles without a fraction, HTML characters escaped.
        let v = from_config(&ConfigValue::List(vec![
            ConfigValue::Float(1.0),
            ConfigValue::Str("<a&b>".into()),
        ]));
        assert_eq!(as_string(&v), r#"[1,"\u003ca\u0026b\u003e"]"#);
    }
}
