//! The head-sampling probability a W3C `tracestate` carries in its OpenTelemetry (`ot`) entry,
//! as the agent reads it (`samplingProbFromTracestate`, through contrib's `pkg/sampling`
//! parser): the threshold `th` (consistent probability sampling, e.g. the collector's
//! `probabilistic_sampler` in its proportional mode), else the power of two `p` of the older
//! consistent samplers. A tracestate the parser rejects anywhere gives no probability.

/// W3C's limits, as contrib's parser checks them.
const MAX_LENGTH: usize = 1024;
/// The parser refuses the 32nd list member (empty ones counted).
const MAX_MEMBERS: usize = 32;
const MAX_KEY_LENGTH: usize = 256;
const MAX_TENANT_LENGTH: usize = 241;
const MAX_SYSTEM_LENGTH: usize = 14;
const MAX_VALUE_LENGTH: usize = 256;
/// The `ot` entry's limit.
const MAX_OTEL_LENGTH: usize = 256;
/// Thresholds and randomness values have 56 bits: 14 hex digits.
const HEX_DIGITS: usize = 14;
/// `p:63` means "not sampled": no probability.
const P_NOT_SAMPLED: u64 = 63;

/// The probability the tracestate records, if it records one and parses.
pub(crate) fn sampling_probability(raw: &str) -> Option<f64> {
    if raw.is_empty() || raw.len() > MAX_LENGTH {
        return None;
    }
    let mut otel = None;
    for (i, member) in raw.split(',').enumerate() {
        if i + 1 >= MAX_MEMBERS {
            return None;
        }
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(value) {
            return None;
        }
        if key == "ot" {
            otel = Some(OTelEntry::parse(value)?);
        }
    }
    let otel = otel?;
    if let Some(threshold) = otel.threshold {
        return Some(threshold);
    }
    let p = otel.p?;
    let n: u64 = p.parse().ok()?;
    match n {
        0 => Some(1.0),
        n if n >= P_NOT_SAMPLED => None,
        n => Some((-(n as f64)).exp2()),
    }
}

/// `key = simple-key / tenant "@" system`, with the parser's size limits.
fn valid_key(key: &str) -> bool {
    let rest_ok = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(&c))
    };
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return false;
    }
    match key.split_once('@') {
        Some((tenant, system)) => {
            let (Some(t), Some(s)) = (tenant.bytes().next(), system.bytes().next()) else {
                return false;
            };
            tenant.len() <= MAX_TENANT_LENGTH
                && system.len() <= MAX_SYSTEM_LENGTH
                && (t.is_ascii_lowercase() || t.is_ascii_digit())
                && s.is_ascii_lowercase()
                && rest_ok(&tenant[1..])
                && rest_ok(&system[1..])
        }
        None => key.as_bytes()[0].is_ascii_lowercase() && rest_ok(&key[1..]),
    }
}

/// `value = 0*255(chr) nblk-chr`: printable ASCII but `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    let non_blank = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    match value.as_bytes().split_last() {
        Some((&last, rest)) => {
            value.len() <= MAX_VALUE_LENGTH
                && non_blank(last)
                && rest.iter().all(|&c| c == b' ' || non_blank(c))
        }
        None => false,
    }
}

/// The `ot` entry's sampling fields.
struct OTelEntry<'a> {
    /// From `th`.
    threshold: Option<f64>,
    /// The first `p` value, unparsed.
    p: Option<&'a str>,
}

impl<'a> OTelEntry<'a> {
    /// `key:value(;key:value)*`, keys `[a-z][a-z0-9]*`, values `[a-zA-Z0-9._-]*`; a bad `th` or
    /// `rv` rejects the whole tracestate.
    fn parse(value: &'a str) -> Option<OTelEntry<'a>> {
        if value.len() > MAX_OTEL_LENGTH {
            return None;
        }
        let mut entry = OTelEntry {
            threshold: None,
            p: None,
        };
        for member in value.split(';') {
            let (key, v) = member.split_once(':')?;
            let key_ok = key.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
                && key
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            let value_ok = v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
            if !key_ok || !value_ok {
                return None;
            }
            match key {
                "th" => entry.threshold = Some(threshold_probability(v)?),
                "rv" if v.len() != HEX_DIGITS || u64::from_str_radix(v, 16).is_err() => {
                    return None
                }
                "p" if entry.p.is_none() => entry.p = Some(v),
                _ => {}
            }
        }
        Some(entry)
    }
}

/// A `th` of 1–14 hex digits, right-padded with zeros to 56 bits: the rejection threshold, so
/// the probability is `(2^56 − T) / 2^56`.
fn threshold_probability(th: &str) -> Option<f64> {
    if th.is_empty() || th.len() > HEX_DIGITS {
        return None;
    }
    let t = u64::from_str_radix(th, 16).ok()? << (4 * (HEX_DIGITS - th.len()));
    let max = (1u64 << 56) as f64;
    Some((max - t as f64) / max)
}

#[cfg(test)]
mod tests {
    use super::sampling_probability as prob;

    #[test]
    fn thresholds_and_powers_of_two() {
        assert_eq!(prob("ot=th:8"), Some(0.5));
        assert_eq!(prob("ot=th:0"), Some(1.0));
        assert_eq!(prob("ot=th:c"), Some(0.25));
        assert_eq!(
            prob("ot=th:fd70a3d70a3d71"),
            Some(1.0 - 0xfd70a3d70a3d71u64 as f64 / (1u64 << 56) as f64)
        );
        assert_eq!(prob("ot=p:1;r:1"), Some(0.5));
        assert_eq!(prob("ot=p:4"), Some(0.0625));
        assert_eq!(prob("ot=p:0"), Some(1.0));
        // th wins over p; other vendors' entries and whitespace are fine.
        assert_eq!(prob("ot=p:4;th:8"), Some(0.5));
        assert_eq!(prob(" dd=s:1;o:rum , ot=th:8 ,"), Some(0.5));
        assert_eq!(prob("ot=th:8;rv:0123456789abcd"), Some(0.5));
        assert_eq!(prob("ot=th:8,k=v,"), Some(0.5), "empty members are allowed");
    }

    #[test]
    fn anything_the_parser_rejects_gives_no_probability() {
        for bad in [
            "",
            "foo=bar",
            "ot=rv:0123456789abcd",
            "ot=th:zz",
            "ot=th:",
            "ot=th:123456789abcdef",
            "ot=th:8;rv:xyz",
            "ot=p:63",
            "ot=p:x",
            "ot=th:8;Bad:1",
            "ot=th:8,Key=v",
            "ot=th:8 x,k=v",
            "ot=th=8",
        ] {
            assert_eq!(prob(bad), None, "{bad:?}");
        }
        // 31 members are fine, the 32nd is refused (empty ones count).
        let members = |n: usize| {
            std::iter::once("ot=th:8".to_string())
                .chain((1..n).map(|i| format!("k{i}=v")))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(prob(&members(31)), Some(0.5));
        assert_eq!(prob(&members(32)), None);
        assert_eq!(prob(&format!("ot=th:8,{}", ",".repeat(31))), None);
        assert_eq!(prob(&format!("ot=th:8,k={}", "v".repeat(1020))), None);
    }
}
