//! Rendering attribute values and timestamps as pdata / Go print them.

use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, KeyValue};

/// `Str(x)`, `Int(5)`, `Double(1.5)`, `Bool(true)`, `Bytes(base64)`, `Map({...})`,
/// `Slice([...])`, `Empty()`: pdata's `Type()(AsString())` as otelcol's detailed dump shows.
pub fn render_value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => "Empty()".into(),
        Some(Value::StringValue(s)) => format!("Str({s})"),
        // A profiles dictionary reference; never seen outside profiles.
        Some(Value::StringValueStrindex(i)) => format!("Int({i})"),
        Some(Value::IntValue(i)) => format!("Int({i})"),
        Some(Value::DoubleValue(d)) => format!("Double({})", go_float(*d)),
        Some(Value::BoolValue(b)) => format!("Bool({b})"),
        Some(Value::BytesValue(b)) => format!("Bytes({})", base64(b)),
        Some(Value::KvlistValue(kv)) => format!("Map({})", json_map(&kv.values)),
        Some(Value::ArrayValue(a)) => format!(
            "Slice([{}])",
            a.values
                .iter()
                .map(|v| json(Some(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// The value as plain text (`AsString`), used by the normal verbosity.
pub fn value_as_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(_) => {
            let r = render_value(v);
            // Strip the `Type(...)` wrapper.
            r.find('(')
                .map(|i| r[i + 1..r.len() - 1].to_string())
                .unwrap_or(r)
        }
    }
}

fn json_map(kvs: &[KeyValue]) -> String {
    let parts: Vec<String> = kvs
        .iter()
        .map(|kv| format!("{:?}:{}", kv.key, json(kv.value.as_ref())))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn json(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => "null".into(),
        Some(Value::StringValue(s)) => format!("{s:?}"),
        Some(Value::StringValueStrindex(i)) => i.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => go_float(*d),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::BytesValue(b)) => format!("{:?}", base64(b)),
        Some(Value::KvlistValue(kv)) => json_map(&kv.values),
        Some(Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values
                .iter()
                .map(|v| json(Some(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` for ordinary values.
fn go_float(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{d}")
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
        let v = AnyValue {
            value: Some(Value::IntValue(5)),
        };
        assert_eq!(render_value(Some(&v)), "Int(5)");
        assert_eq!(render_value(None), "Empty()");
    }
}
