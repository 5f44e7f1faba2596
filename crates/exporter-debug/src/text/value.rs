//! Rendering attribute values and timestamps as pdata / Go print them.

use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};

/// `Str(x)`, `Int(5)`, `Double(1.5)`, `Bool(true)`, `Bytes(base64)`, `Map({...})`,
/// `Slice([...])`, `Empty()`: pdata's `Type()(AsString())` as otelcol's detailed dump shows.
pub fn render_value(v: Option<&AnyValue>) -> String {
    let kind = match v.and_then(|v| v.value.as_ref()) {
        None => "Empty",
        Some(Value::StringValue(_)) => "Str",
        // A profiles dictionary reference; never seen outside profiles.
        Some(Value::StringValueStrindex(_)) | Some(Value::IntValue(_)) => "Int",
        Some(Value::DoubleValue(_)) => "Double",
        Some(Value::BoolValue(_)) => "Bool",
        Some(Value::BytesValue(_)) => "Bytes",
        Some(Value::KvlistValue(_)) => "Map",
        Some(Value::ArrayValue(_)) => "Slice",
    };
    format!("{kind}({})", value_as_string(v))
}

/// The value as plain text: pdata's `AsString` (maps and slices as Go's JSON, sorted keys).
pub fn value_as_string(v: Option<&AnyValue>) -> String {
    kakehashi_pdata::go_text::as_string(v)
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits, in
/// exponent form when the exponent is below -4 or at least 6 (`1e-05`, `1.5e+06`).
pub fn go_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `%f`: six decimals, `NaN` and `+Inf` spelled as Go spells them.
pub fn go_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f:.6}")
    }
}

/// Go's `time.Time.String()` in UTC: `2018-12-13 14:51:00.000000001 +0000 UTC`, with the
/// fraction trimmed of trailing zeros (and left out when zero).
pub fn format_timestamp(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `     -> key: Str(value)` lines at the given indent, as otelcol's `attributeMap`.
pub fn attribute_lines(out: &mut String, kvs: &[KeyValue], indent: usize) {
    for kv in kvs {
        out.push_str(&" ".repeat(indent));
        out.push_str(&format!(
            "-> {}: {}\n",
            kv.key,
            render_value(kv.value.as_ref())
        ));
    }
}

/// `k=v k2=v2` for the normal verbosity.
pub fn attributes_inline(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!("{}={}", kv.key, value_as_string(kv.value.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go_verbs() {
        for (f, v) in [
            (99.573, "99.573"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1e21, "1e+21"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(go_v(f), v, "{f}");
        }
        assert_eq!(go_f(0.5), "0.500000");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
    }

    #[test]
    fn timestamps_like_go() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            format_timestamp(1_544_712_660_000_000_001),
            "2018-12-13 14:51:00.000000001 +0000 UTC"
        );
        assert_eq!(
            format_timestamp(1_581_452_772_500_000_000),
            "2020-02-11 20:26:12.5 +0000 UTC"
        );
    }

    #[test]
    fn values() {
        let bytes = AnyValue {
            value: Some(Value::BytesValue(b"hello".to_vec())),
        };
        assert_eq!(render_value(Some(&bytes)), "Bytes(aGVsbG8=)");
        // pdata's AsString: ES6 doubles, NaN as Go's json error, maps as sorted Go JSON.
        let double = |f| AnyValue {
            value: Some(Value::DoubleValue(f)),
        };
        assert_eq!(render_value(Some(&double(1e-7))), "Double(1e-7)");
        assert_eq!(
            render_value(Some(&double(f64::NAN))),
            "Double(json: unsupported value: NaN)"
        );
        let map = AnyValue {
            value: Some(Value::KvlistValue(
                kakehashi_pdata::proto::common::v1::KeyValueList {
                    values: vec![
                        KeyValue {
                            key: "source".into(),
                            value: Some(double(1.0)),
                            ..Default::default()
                        },
                        KeyValue {
                            key: "destination".into(),
                            value: None,
                            ..Default::default()
                        },
                    ],
                },
            )),
        };
        assert_eq!(
            render_value(Some(&map)),
            r#"Map({"destination":null,"source":1})"#
        );
        let v = AnyValue {
            value: Some(Value::IntValue(5)),
        };
        assert_eq!(render_value(Some(&v)), "Int(5)");
        assert_eq!(render_value(None), "Empty()");
    }
}
