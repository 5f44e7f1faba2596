//! What an item says about its own sampling: a span's `sampling.priority` forces a decision; a
//! log record's `sampling_priority` attribute replaces the rate.

use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::sampling::Threshold;

/// What a span's `sampling.priority` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Priority {
    Defer,
    Drop,
    Keep,
}

/// otelcol's reading of `sampling.priority`: 0 drops, a positive number keeps; negative
/// numbers, NaN, other types and unparsable strings leave the decision to the sampler.
pub(super) fn span_priority(attrs: &[KeyValue]) -> Priority {
    let by_sign = |f: f64| {
        if f == 0.0 {
            Priority::Drop
        } else if f > 0.0 {
            Priority::Keep
        } else {
            Priority::Defer
        }
    };
    let value = attrs
        .iter()
        .find(|kv| kv.key == "sampling.priority")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref());
    match value {
        Some(Value::IntValue(i)) => by_sign(*i as f64),
        Some(Value::DoubleValue(d)) => by_sign(*d),
        Some(Value::StringValue(s)) => match go_parse_float(s) {
            Some(f) => by_sign(f),
            None => Priority::Defer,
        },
        _ => Priority::Defer,
    }
}

/// Go's `strconv.ParseFloat(s, 64)`: `None` where it returns an error — including numbers out
/// of range ("1e400", which Rust reads as infinity) — and hexadecimal floats (`0x1.8p1`,
/// underscores between digits) read as Go reads them.
pub(super) fn go_parse_float(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) else {
        let f: f64 = s.parse().ok()?;
        let named_infinity =
            body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity");
        return (!f.is_infinite() || named_infinity).then_some(f);
    };
    let (mantissa, exponent) = hex.split_once(['p', 'P'])?;
    // Underscores only between digits (after the base prefix, as Go allows).
    let digits_ok = |t: &str| {
        !t.starts_with('_')
            && !t.ends_with('_')
            && !t.contains("__")
            && !t.contains("._")
            && !t.contains("_.")
    };
    if !digits_ok(hex.split(['p', 'P']).next()?) {
        return None;
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    let mut scale = 0i64;
    for (part, fractional) in [(int_part, false), (frac_part, true)] {
        for c in part.chars().filter(|c| *c != '_') {
            value = value * 16.0 + f64::from(c.to_digit(16)?);
            if fractional {
                scale -= 4;
            }
        }
    }
    let exp: i64 = exponent.parse().ok()?;
    let f = value * 2f64.powf((exp + scale).clamp(-2000, 2000) as f64);
    if f.is_infinite() {
        return None;
    }
    Some(if negative { -f } else { f })
}

/// Logs: the priority attribute's number, as a percentage, replaces the sampling rate (ints
/// and doubles only; 0 or a value outside (0, 100] leaves the configured rate).
pub(super) fn log_priority(attrs: &[KeyValue], key: &str, precision: i32) -> Option<Threshold> {
    if key.is_empty() {
        return None;
    }
    let value = attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref();
    let min_prob = match value {
        Some(Value::DoubleValue(d)) => d / 100.0,
        Some(Value::IntValue(i)) => *i as f64 / 100.0,
        _ => 0.0,
    };
    (min_prob != 0.0)
        .then(|| Threshold::from_probability(min_prob, precision))
        .flatten()
}
