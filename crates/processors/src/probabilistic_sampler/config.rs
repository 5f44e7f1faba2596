//! The `probabilistic_sampler` processor's configuration, in otelcol-contrib's shape, with its
//! validation messages.

use kakehashi_config::Validate;
use kakehashi_pdata::go_text::go_float_special;
use kakehashi_pdata::sampling::MIN_PROBABILITY;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSamplerConfig {
    /// Percent of items kept (a float32, as otelcol; above 100 is 100).
    pub sampling_percentage: f32,
    pub hash_seed: u32,
    /// `hash_seed` (the default: otelcol's unset mode always means it), `proportional`,
    /// `equalizing`.
    pub mode: String,
    /// Items whose randomness or sampling state cannot be read are dropped (`true`) or kept.
    pub fail_closed: bool,
    /// Hex digits of the threshold written to `th` (1–14).
    pub sampling_precision: i32,
    /// Logs: `traceID` or `record` (hash the `from_attribute` value).
    pub attribute_source: String,
    pub from_attribute: String,
    /// Logs: the attribute whose number (a percentage) replaces the sampling rate.
    pub sampling_priority: String,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        ProbabilisticSamplerConfig {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: String::new(),
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: "traceID".into(),
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

/// The sampling method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    HashSeed,
    Proportional,
    Equalizing,
}

impl ProbabilisticSamplerConfig {
    /// otelcol's `makeSampler`: an unset mode is `hash_seed`, whatever the other keys say.
    pub fn mode(&self) -> Mode {
        match self.mode.as_str() {
            "proportional" => Mode::Proportional,
            "equalizing" => Mode::Equalizing,
            _ => Mode::HashSeed,
        }
    }
}

impl Validate for ProbabilisticSamplerConfig {
    /// otelcol reports the first problem only, in this order (an unknown mode first: otelcol
    /// refuses it while decoding).
    fn validate(&self) -> Vec<String> {
        self.problems().into_iter().take(1).collect()
    }
}

impl ProbabilisticSamplerConfig {
    fn problems(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let pct = self.sampling_percentage;
        if !matches!(
            self.mode.as_str(),
            "" | "hash_seed" | "proportional" | "equalizing"
        ) {
            errs.push(format!("mode: unsupported sampler mode {:?}", self.mode));
        }
        let ratio = f64::from(pct) / 100.0;
        if !pct.is_finite() {
            errs.push(format!(
                "sampling rate is invalid: {}%",
                go_float_special(f64::from(pct))
            ));
        } else if ratio < 0.0 {
            errs.push(format!("sampling rate is negative: {:.6}%", pct));
        } else if ratio != 0.0 && ratio < MIN_PROBABILITY {
            errs.push(format!("sampling rate is too small: {pct:e}%"));
        }
        if !matches!(self.attribute_source.as_str(), "" | "traceID" | "record") {
            errs.push(format!(
                "invalid attribute source: {}. Expected: traceID or record",
                self.attribute_source
            ));
        }
        if self.sampling_precision == 0 {
            errs.push("invalid sampling precision: 0".into());
        } else if self.sampling_precision > 14 {
            errs.push(format!(
                "sampling precision is too great, should be <= 14: {}",
                self.sampling_precision
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_config::decode_yaml;

    fn errors(yaml: &str) -> String {
        match decode_yaml::<ProbabilisticSamplerConfig>("processors::probabilistic_sampler", yaml) {
            Ok(c) => c.validate().join("\n"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_and_modes() {
        let c: ProbabilisticSamplerConfig = decode_yaml("p", "sampling_percentage: 15.3").unwrap();
        assert_eq!(c.validate(), Vec::<String>::new());
        assert!(c.fail_closed);
        assert_eq!(c.sampling_precision, 4);
        assert_eq!(c.mode(), Mode::HashSeed, "unset is hash_seed");
        let c: ProbabilisticSamplerConfig =
            decode_yaml("p", "sampling_percentage: 200\nmode: proportional").unwrap();
        assert_eq!((c.mode(), c.validate().len()), (Mode::Proportional, 0));
    }

    #[test]
    fn mistakes() {
        for (yaml, want) in [
            (
                "sampling_percentage: -1",
                "sampling rate is negative: -1.000000%",
            ),
            (
                "sampling_percentage: .inf",
                "sampling rate is invalid: +Inf%",
            ),
            ("sampling_percentage: 1e-16", "sampling rate is too small"),
            ("mode: random", "unsupported sampler mode \"random\""),
            ("sampling_precision: 0", "invalid sampling precision: 0"),
            ("sampling_precision: 15", "should be <= 14: 15"),
            ("attribute_source: span", "invalid attribute source: span"),
            ("sampling_percentag: 1", "sampling_percentag"),
        ] {
            let got = errors(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
        // One problem at a time, in otelcol's order.
        assert_eq!(
            errors("sampling_percentage: -1\nsampling_precision: 0"),
            "sampling rate is negative: -1.000000%"
        );
        assert_eq!(errors("attribute_source: \"\""), "");
    }
}
