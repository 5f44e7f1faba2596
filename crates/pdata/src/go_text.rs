//! Rendering of OTLP `AnyValue`s exactly as Go's pdata does it: `Value.AsString()` and
//! `json.Marshal(Value.AsRaw())`. Everything that shows a value as text uses it: the Datadog
//! mapping (meta values and span-event attributes, which the backend sees verbatim), the
//! attributes processor's `convert` to string, and the debug exporter. Float formatting, HTML
//! escaping and map key order must match Go.

use crate::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Go's pcommon `Value.AsString()`.
pub fn as_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        // A string-table index only has meaning in profiles; pdata treats it as empty.
        None | Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => {
            if f.is_finite() {
                go_float(*f)
            } else {
                // pcommon reports the json error text for NaN and ±Inf.
                format!("json: unsupported value: {}", go_float_special(*f))
            }
        }
        Some(Value::BytesValue(b)) => base64_std(b),
        // A map or slice is rendered as JSON; Go returns "" when marshalling fails (NaN inside).
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
            let mut out = String::new();
            match write_json_value(&mut out, v) {
                Ok(()) => out,
                Err(NotFinite) => String::new(),
            }
        }
    }
}

/// Go's `%f` / `%g` of NaN and the infinities.
pub fn go_float_special(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// A finite float64 formatted like Go's encoding/json and pcommon (ES6 number-to-string): the
/// shortest round-trip digits, plain notation for 1e-6 <= |f| < 1e21, else `1e+21` / `1e-7`.
pub fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e21` / `1.5e-7`; Go writes `1e+21` / `1.5e-7` (after its e-07 clean-up).
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Go's json.Marshal refuses NaN and ±Inf; so does [`write_json_value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFinite;

/// Go's `json.Marshal(v.AsRaw())`. Err when the value holds NaN or ±Inf (Go's marshal error).
pub fn write_json_value(out: &mut String, v: Option<&AnyValue>) -> Result<(), NotFinite> {
    match v.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_string(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(f)) => {
            if !f.is_finite() {
                return Err(NotFinite);
            }
            out.push_str(&go_float(*f));
        }
        Some(Value::BytesValue(b)) => {
            out.push('"');
            out.push_str(&base64_std(b));
            out.push('"');
        }
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, e) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_value(out, Some(e))?;
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => write_json_map(out, &kv.values)?,
    }
    Ok(())
}

/// A Go `map[string]any` marshals with sorted keys; a repeated key keeps its last value.
fn write_json_map(out: &mut String, kvs: &[KeyValue]) -> Result<(), NotFinite> {
    let sorted: BTreeMap<&str, Option<&AnyValue>> = kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_ref()))
        .collect();
    out.push('{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k);
        out.push(':');
        write_json_value(out, v)?;
    }
    out.push('}');
    Ok(())
}

/// A JSON string as Go's encoding/json writes it (HTML-safe: `<`, `>`, `&`, U+2028/2029 escaped).
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding (Go's `base64.StdEncoding`), for bytes values.
pub fn base64_std(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::{ArrayValue, KeyValueList};

    fn v(x: Value) -> AnyValue {
        AnyValue { value: Some(x) }
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1.2), "1.2");
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-7), "1.5e-7");
        assert_eq!(go_float(0.000001), "0.000001");
        assert_eq!(go_float(1e20), "100000000000000000000");
        assert_eq!(go_float(-0.5), "-0.5");
        assert_eq!(go_float(1.23e-100), "1.23e-100");
    }

    #[test]
    fn as_string_types() {
        assert_eq!(as_string(Some(&v(Value::BoolValue(true)))), "true");
        assert_eq!(as_string(Some(&v(Value::IntValue(-3)))), "-3");
        assert_eq!(as_string(Some(&v(Value::DoubleValue(2.4)))), "2.4");
        assert_eq!(
            as_string(Some(&v(Value::BytesValue(b"hello".to_vec())))),
            "aGVsbG8="
        );
        assert_eq!(as_string(None), "");
        let arr = v(Value::ArrayValue(ArrayValue {
            values: vec![v(Value::StringValue("a<b".into())), v(Value::IntValue(1))],
        }));
        assert_eq!(as_string(Some(&arr)), r#"["a\u003cb",1]"#);
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![
                KeyValue {
                    key: "z".into(),
                    value: Some(v(Value::BoolValue(false))),
                    ..Default::default()
                },
                KeyValue {
                    key: "a".into(),
                    value: None,
                    ..Default::default()
                },
            ],
        }));
        assert_eq!(as_string(Some(&map)), r#"{"a":null,"z":false}"#);
        assert_eq!(
            as_string(Some(&v(Value::DoubleValue(f64::NAN)))),
            "json: unsupported value: NaN"
        );
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64_std(b""), "");
        assert_eq!(base64_std(b"f"), "Zg==");
        assert_eq!(base64_std(b"fo"), "Zm8=");
        assert_eq!(base64_std(b"foo"), "Zm9v");
    }

    #[test]
    fn json_string_escapes() {
        let mut s = String::new();
        write_json_string(&mut s, "a\"b\\c\n\u{1}&");
        assert_eq!(s, r#""a\"b\\c\n\u0001\u0026""#);
    }
}
