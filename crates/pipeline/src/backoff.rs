//! Exponential backoff with randomization, as otelcol's `retry_on_failure` (cenkalti/backoff).

use kakehashi_component::exporterhelper::RetrySettings;
use rand::Rng;
use std::time::Duration;

pub struct Backoff {
    settings: RetrySettings,
    current: Duration,
}

impl Backoff {
    pub fn new(settings: &RetrySettings) -> Self {
        Backoff {
            settings: settings.clone(),
            current: settings.initial_interval.get(),
        }
    }

    /// The next wait: the current interval randomized by ±`randomization_factor`, after which the
    /// interval grows by `multiplier` up to `max_interval`.
    pub fn next_interval(&mut self) -> Duration {
        let f = self.settings.randomization_factor;
        let base = self.current.as_secs_f64();
        let delta = f * base;
        let wait = if delta > 0.0 {
            rand::rng().random_range((base - delta)..=(base + delta))
        } else {
            base
        };
        let grown =
            (base * self.settings.multiplier).min(self.settings.max_interval.get().as_secs_f64());
        self.current = Duration::from_secs_f64(grown.max(0.0));
        Duration::from_secs_f64(wait.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_config::Duration as D;

    #[test]
    fn grows_and_caps_within_randomization() {
        let s = RetrySettings {
            initial_interval: D::from_secs(5),
            max_interval: D::from_secs(30),
            ..Default::default()
        };
        let mut b = Backoff::new(&s);
        let first = b.next_interval().as_secs_f64();
        assert!((2.5..=7.5).contains(&first), "{first}");
        for _ in 0..20 {
            let w = b.next_interval().as_secs_f64();
            assert!(w <= 45.0, "{w}");
        }
        let w = b.next_interval().as_secs_f64();
        assert!((15.0..=45.0).contains(&w), "capped interval 30s ±50%: {w}");
    }
}
