//! Go `time.Duration` semantics for config values.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A duration as otelcol reads it: a Go duration string (`200ms`, `1.5s`, `1h30m`), or a bare
/// integer, which — as in otelcol — means **nanoseconds** (`timeout: 20` is 20ns, not 20s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Parses a Go duration string exactly as `time.ParseDuration` does, with its error texts.
/// Negative durations are rejected here (no config field accepts them) with otelcol's wording
/// left to the field's validation.
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let orig = s;
    let quoted = || format!("{orig:?}");
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("time: invalid duration {}", quoted()));
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(format!("time: invalid duration {}", quoted()));
        }
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let nanos_per = match unit {
            "" => return Err(format!("time: missing unit in duration {}", quoted())),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!(
                    "time: unknown unit {other:?} in duration {}",
                    quoted()
                ))
            }
        };
        let value: f64 = num
            .parse()
            .map_err(|_| format!("time: invalid duration {}", quoted()))?;
        total += value * nanos_per;
    }
    if total > i64::MAX as f64 {
        return Err(format!("time: invalid duration {}", quoted()));
    }
    if neg && total > 0.0 {
        return Err(format!("negative duration {} is not allowed", quoted()));
    }
    Ok(std::time::Duration::from_nanos(total.round() as u64))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"200ms\" or \"1h30m\" (a bare integer means nanoseconds)",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration(std::time::Duration::from_nanos(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map(|n| Duration(std::time::Duration::from_nanos(n)))
                    .map_err(|_| E::custom(format!("negative duration {v}ns is not allowed")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_go_duration(v).map(Duration).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as D;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("20s"), Ok(D::from_secs(20)));
        assert_eq!(parse_go_duration("200ms"), Ok(D::from_millis(200)));
        assert_eq!(parse_go_duration("1.5s"), Ok(D::from_millis(1500)));
        assert_eq!(parse_go_duration("1h30m"), Ok(D::from_secs(5400)));
        assert_eq!(parse_go_duration("10us"), Ok(D::from_micros(10)));
        assert_eq!(parse_go_duration("10µs"), Ok(D::from_micros(10)));
        assert_eq!(parse_go_duration("0"), Ok(D::ZERO));
        assert_eq!(parse_go_duration(".5s"), Ok(D::from_millis(500)));
    }

    #[test]
    fn go_duration_errors_match_go() {
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse_go_duration("20").unwrap_err(),
            r#"time: missing unit in duration "20""#
        );
        assert_eq!(
            parse_go_duration("").unwrap_err(),
            r#"time: invalid duration """#
        );
        assert_eq!(
            parse_go_duration("s").unwrap_err(),
            r#"time: invalid duration "s""#
        );
    }
}
