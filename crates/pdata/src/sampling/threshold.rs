//! OpenTelemetry's consistent probability sampling values (the `pkg/sampling` package otelcol
//! uses): 56-bit randomness, rejection thresholds, and their hex encodings in `ot=rv:` / `th:`.
//! A span is sampled when its threshold is at most its randomness.

/// Thresholds and randomness are 56-bit; a threshold of 2^56 never samples.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
const HEX_DIGITS: usize = 14;

/// The smallest probability a threshold can express.
pub const MIN_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Randomness(pub u64);

impl Threshold {
    pub const ALWAYS: Threshold = Threshold(0);
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// A `th` value: 1 to 14 hex digits, the omitted trailing ones zero.
    pub fn parse(s: &str) -> Result<Threshold, String> {
        if s.len() > HEX_DIGITS {
            return Err("t-value exceeds 14 hex digits".into());
        }
        if s.is_empty() {
            return Err("t-value is empty".into());
        }
        let v = u64::from_str_radix(s, 16)
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("invalid t-value {s:?}"))?;
        Ok(Threshold(v << (4 * (HEX_DIGITS - s.len()))))
    }

    /// The `th` encoding: `0` for always, 14 lowercase hex digits without the trailing zeros
    /// otherwise (empty for never, which is not written).
    pub fn tvalue(self) -> String {
        match self.0 {
            0 => "0".into(),
            MAX_ADJUSTED_COUNT => String::new(),
            t => format!("{t:014x}").trim_end_matches('0').to_string(),
        }
    }

    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    pub fn should_sample(self, r: Randomness) -> bool {
        self.0 <= r.0
    }

    /// otelcol's `ProbabilityToThresholdWithPrecision`: the threshold for `fraction`, rounded
    /// to `precision` hex digits — more where the probability is very small or very close to
    /// one, so the rounding does not swamp it. `None` outside [2^-56, 1].
    pub fn from_probability(fraction: f64, precision: i32) -> Option<Threshold> {
        let mut precision = if precision == 0 {
            HEX_DIGITS as i32
        } else {
            precision
        };
        if !(MIN_PROBABILITY..=1.0).contains(&fraction) {
            return None;
        }
        if fraction == 1.0 {
            return Some(Threshold::ALWAYS);
        }
        // Go's math.Frexp exponents; `/ -4` truncates toward zero as Go's integer division.
        let (exp_f, exp_r) = (frexp_exp(fraction), frexp_exp(1.0 - fraction));
        precision = (precision + exp_f / -4)
            .max(precision + exp_r / -4)
            .min(HEX_DIGITS as i32);
        let scaled = (fraction * MAX_ADJUSTED_COUNT as f64).round() as u64;
        let mut threshold = MAX_ADJUSTED_COUNT - scaled;
        let shift = 4 * (HEX_DIGITS as i64 - i64::from(precision));
        if shift >= 64 {
            // A negative precision: Go's shifts of 64 or more bits give zero.
            threshold = 0;
        } else if shift > 0 {
            let half = 1u64 << (shift - 1);
            threshold = ((threshold + half) >> shift) << shift;
        }
        Some(Threshold(threshold))
    }
}

/// The binary exponent `e` with `x = m * 2^e`, `m` in [0.5, 1) (Go's `math.Frexp`), for
/// positive finite `x`.
fn frexp_exp(x: f64) -> i32 {
    if x == 0.0 {
        return 0;
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: normalise first.
        return frexp_exp(x * (1u64 << 54) as f64) - 54;
    }
    exp - 1022
}

impl Randomness {
    /// An `rv` value: exactly 14 hex digits.
    pub fn parse(s: &str) -> Result<Randomness, String> {
        if s.len() != HEX_DIGITS {
            return Err("r-value must have 14 hex digits".into());
        }
        u64::from_str_radix(s, 16)
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(Randomness)
            .ok_or_else(|| format!("invalid r-value {s:?}"))
    }

    pub fn rvalue(self) -> String {
        format!("{:014x}", self.0)
    }

    /// The W3C Trace Context level 2 randomness: the trace id's last 7 bytes.
    pub fn from_trace_id(id: &[u8]) -> Randomness {
        let mut low = [0u8; 8];
        low.copy_from_slice(&id[8..16]);
        Randomness(u64::from_be_bytes(low) & (MAX_ADJUSTED_COUNT - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(fraction: f64, precision: i32) -> String {
        Threshold::from_probability(fraction, precision)
            .map(Threshold::tvalue)
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn otelcols_probability_vectors() {
        assert_eq!(tv(1.0 / 3.0, 3), "aab");
        assert_eq!(tv(2.0 / 3.0, 3), "555");
        assert_eq!(tv(1.0, 3), "0");
        assert_eq!(tv(1.0 / 3.0, 0), "aaaaaaaaaaaaac");
        assert_eq!(tv(MIN_PROBABILITY, 3), "ffffffffffffff");
        assert_eq!(tv(2.0 * MIN_PROBABILITY, 3), "fffffffffffffe");
        assert_eq!(tv(16.0 * MIN_PROBABILITY, 3), "fffffffffffff");
        let f = 1.0 - 0x80801 as f64 / (1u64 << 28) as f64;
        assert_eq!((tv(f, 3), tv(f, 1)), ("00808".into(), "008".into()));
        let f = 1.0 - 0x789abcdef_u64 as f64 / (1u64 << 40) as f64;
        assert_eq!((tv(f, 2), tv(f, 1)), ("079".into(), "08".into()));
        assert_eq!(tv(1.0 - 0x456789a as f64 / (1u64 << 40) as f64, 1), "0004");
        assert_eq!(tv(15.0 / 16.0, 0), "1");
        assert_eq!(tv(0.5, 4), "8");
        assert_eq!(tv(f64::from(10f32) / 100.0, 4), "e666");
        assert_eq!(tv(f64::from(0.1f32) / 100.0, 4), "ffbe77");
        assert_eq!(tv(f64::from(99.9f32) / 100.0, 4), "004189");
        assert_eq!(tv(0.0, 4), "none");
        assert_eq!(tv(MIN_PROBABILITY / 2.0, 4), "none");
        assert_eq!(tv(0.5, -20), "0", "Go's oversized shift");
    }

    #[test]
    fn encodings() {
        assert_eq!(Threshold::parse("8").unwrap(), Threshold(1 << 55));
        assert_eq!(Threshold::parse("80000000000000").unwrap().tvalue(), "8");
        assert_eq!(Threshold::parse("0").unwrap(), Threshold::ALWAYS);
        assert!(Threshold::parse("").is_err());
        assert!(Threshold::parse("-1").is_err());
        assert!(Threshold::parse("fffffffffffffff").is_err());
        assert!(Threshold::parse("+1").is_err());
        assert_eq!(Threshold::NEVER.tvalue(), "");
        assert_eq!(
            Randomness::parse("FD70A3D70A3D71").unwrap().rvalue(),
            "fd70a3d70a3d71"
        );
        assert!(Randomness::parse("abababababababab").is_err());
        assert!(Randomness::parse("fd70a").is_err());
        let id = hex::decode("fefefefefefefefefe80000000000000").unwrap();
        assert_eq!(Randomness::from_trace_id(&id), Randomness(0x80000000000000));
        assert!(Threshold(0x80000000000000).should_sample(Randomness(0x80000000000000)));
        assert!(!Threshold::NEVER.should_sample(Randomness(MAX_ADJUSTED_COUNT - 1)));
    }
}
