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

/// pcommon's `Value.AsString()`: strings as-is, numbers and bools formatted, maps and slices as
/// JSON, bytes as base64, empty as "".
pub fn as_string(v: &AnyValue) -> String {
    match &v.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => format_double(*f),
        Some(Value::BytesValue(b)) => base64(b),
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
            serde_json::to_string(&to_json(v)).unwrap_or_default()
        }
        Some(Value::StringValueStrindex(_)) => String::new(),
    }
}

/// Go's JSON/ES6 float formatting as pcommon uses it: plain decimal, exponent form only for
/// very small or very large magnitudes (`1e+21`, `1e-7`).
fn format_double(f: f64) -> String {
    if f.is_nan() {
        return "json: unsupported value: NaN".into();
    }
    if f.is_infinite() {
        let sign = if f > 0.0 { "+" } else { "-" };
        return format!("json: unsupported value: {sign}Inf");
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e21`, Go `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None | Some(Value::StringValueStrindex(_)) => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(f)) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Some(Value::BytesValue(b)) => J::String(base64(b)),
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        // serde_json's map is sorted, as Go's json.Marshal sorts map keys.
        Some(Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|e| (e.key.clone(), e.value.as_ref().map_or(J::Null, to_json)))
                .collect(),
        ),
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(1e-7), "1e-7");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
    }
}
