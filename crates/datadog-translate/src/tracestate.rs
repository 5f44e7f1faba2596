//! The head-sampling probability a W3C `tracestate` carries in its OpenTelemetry (`ot`) entry,
//! as the agent reads it (`samplingProbFromTracestate`, through otelcol's `pkg/sampling`
//! parser, which `kakehashi_pdata::sampling` follows): the threshold `th` (consistent
//! probability sampling, e.g. the `probabilistic_sampler` processor), else the power of two `p`
//! of the older consistent samplers. A tracestate the parser rejects gives no probability.

use kakehashi_pdata::sampling::TraceState;

/// `p:63` means "not sampled": no probability.
const P_NOT_SAMPLED: u64 = 63;

/// The probability the tracestate records, if it records one and parses.
pub(crate) fn sampling_probability(raw: &str) -> Option<f64> {
    let ts = TraceState::parse(raw).ok()?;
    if let Some(th) = ts.th {
        return Some(th.probability());
    }
    // The first `p` decides; one that is not a number gives none.
    let (_, p) = ts.ot_extra().iter().find(|(k, _)| k == "p")?;
    match p.parse::<u64>().ok()? {
        0 => Some(1.0),
        n if n >= P_NOT_SAMPLED => None,
        n => Some((-(n as f64)).exp2()),
    }
}

#[cfg(test)]
mod tests {
    use super::sampling_probability as prob;

    #[test]
    fn thresholds_and_powers_of_two() {
        assert_eq!(prob("ot=th:8"), Some(0.5));
        assert_eq!(prob("ot=th:0"), Some(1.0));
        assert_eq!(prob("ot=th:c"), Some(0.25));
        // Go subtracts the 56-bit integers before dividing: 10 % and 1 % come out as these.
        assert_eq!(prob("ot=th:e6666666666666"), Some(0.1));
        assert_eq!(prob("ot=th:fd70a3d70a3d71"), Some(0.009999999999999995));
        assert_eq!(prob("ot=p:1;r:1"), Some(0.5));
        assert_eq!(prob("ot=p:4"), Some(0.0625));
        assert_eq!(prob("ot=p:0"), Some(1.0));
        assert_eq!(prob("ot=p:62"), Some(2f64.powi(-62)));
        // th wins over p; other vendors' entries and whitespace are fine.
        assert_eq!(prob("ot=p:4;th:8"), Some(0.5));
        assert_eq!(prob(" dd=s:1;o:rum , ot=th:8 ,"), Some(0.5));
        assert_eq!(prob("ot=th:8;rv:0123456789abcd"), Some(0.5));
        assert_eq!(prob("ot=th:8,k=v,"), Some(0.5), "empty members are allowed");
        assert_eq!(prob(&format!("ot=th:8{}", ",".repeat(31))), Some(0.5));
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
            "ot=p:x;p:1",
            "ot=th:8;Bad:1",
            "ot=th:8,Key=v",
            "ot=th:8 x,k=v",
            "ot=th=8",
        ] {
            assert_eq!(prob(bad), None, "{bad:?}");
        }
        // 31 members are fine, the 32nd is refused.
        let members = |n: usize| {
            std::iter::once("ot=th:8".to_string())
                .chain((1..n).map(|i| format!("k{i}=v")))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(prob(&members(31)), Some(0.5));
        assert_eq!(prob(&members(32)), None);
        assert_eq!(prob(&format!("ot=th:8,k={}", "v".repeat(1020))), None);
    }
}
