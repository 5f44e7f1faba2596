//! The policies that spend a budget: `rate_limiting` / `bytes_limiting` (token buckets) and
//! `composite` (a per-second span budget shared by its sub-policies).

use super::policy::{Decision, Policy, TraceView};
use std::time::Instant;

/// A token bucket as `golang.org/x/time/rate`'s `Limiter` (full at first, refilled at `rate`
/// per second up to `burst`).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: i64, burst: i64) -> TokenBucket {
        let burst = if burst <= 0 {
            rate.saturating_mul(2)
        } else {
            burst
        };
        TokenBucket {
            rate: rate.max(0) as f64,
            burst: burst.max(0) as f64,
            tokens: 0.0,
            last: None,
        }
    }

    /// Takes `n` tokens if there are that many.
    pub fn allow(&mut self, now: Instant, n: u64) -> bool {
        let n = n as f64;
        if self.rate == 0.0 {
            // x/time/rate's zero limit: the burst is spent once and never refills.
            if self.burst >= n {
                self.burst -= n;
                return true;
            }
            return false;
        }
        let tokens = match self.last {
            None => self.burst,
            Some(last) => (self.tokens
                + now.saturating_duration_since(last).as_secs_f64() * self.rate)
                .min(self.burst),
        };
        if n > self.burst || tokens < n {
            return false;
        }
        self.tokens = tokens - n;
        self.last = Some(now);
        true
    }
}

/// `composite`: sub-policies in order, each with its share of a per-second span budget.
#[derive(Debug)]
pub struct Composite {
    max_total: i64,
    /// Each sub-policy with the spans per second it may sample.
    subs: Vec<(Policy, i64)>,
    /// Spans each sub-policy sampled in the current second.
    spent: Vec<i64>,
    second: i64,
}

impl Composite {
    pub(super) fn new(cfg: &super::config::CompositeConfig) -> Composite {
        let max_total = cfg.max_total_spans_per_second;
        let n = cfg.composite_sub_policy.len().max(1) as i64;
        let subs: Vec<(Policy, i64)> = (cfg.composite_sub_policy.iter())
            .map(|sub| {
                // The last entry for a name wins, as Go's map of them.
                let percent = (cfg.rate_allocation.iter().rev())
                    .find(|a| a.policy == sub.name)
                    .map_or(0, |a| a.percent);
                let share = if percent > 0 {
                    (percent as f64 / 100.0 * max_total as f64) as i64
                } else {
                    max_total / n
                };
                (Policy::compile(sub), share)
            })
            .collect();
        Composite {
            max_total,
            spent: vec![0; subs.len()],
            subs,
            second: i64::MIN,
        }
    }

    /// The first sub-policy that samples decides: sampled if its share and the total still
    /// have room for the trace's spans in this second, otherwise not (later ones are not tried).
    pub(super) fn evaluate(
        &mut self,
        id: &[u8; 16],
        trace: &TraceView,
        now: Instant,
        second: i64,
    ) -> Result<Decision, String> {
        if second != self.second {
            self.second = second;
            self.spent.iter_mut().for_each(|s| *s = 0);
        }
        let spans = trace.span_count as i64;
        for (i, (sub, share)) in self.subs.iter_mut().enumerate() {
            if sub.evaluate(id, trace, now)? == Decision::Sampled {
                let after = self.spent[i].saturating_add(spans);
                if after <= *share && after <= self.max_total {
                    self.spent[i] = after;
                    return Ok(Decision::Sampled);
                }
                return Ok(Decision::NotSampled);
            }
        }
        Ok(Decision::NotSampled)
    }
}
