//! Log sampling as otelcol does it (`service.telemetry.logs.sampling`, zap's sampler): per
//! message and per `tick`, the first `initial` lines are written, then one in `thereafter`, and
//! the count starts again when the tick is over.
//!
//! Why sample at all: under a fault at full load some lines repeat once per batch (a refused
//! enqueue, a failed send), hundreds of times a second, and a log flood costs CPU and buries the
//! first lines that say what went wrong. Drops stay countable in the `otelcol_*` metrics.
//!
//! zap keys its counters by level and message text; a tracing event's message template lives at
//! one call site, which also fixes its level, so the call site is the key here. That keeps the
//! decision free of formatting the message, and a line whose text carries a value (a duration, a
//! count) is still one message.

use crate::config::SamplingConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The target of events that are data, not diagnostics: the debug exporter's output through
/// the collector's logger. The sampler never drops them — someone who configured a debug
/// exporter wants to see every batch, and it has its own `sampling_initial` /
/// `sampling_thereafter` (otelcol samples this output too, a known surprise: its issue #9921).
pub const DATA_OUTPUT_TARGET: &str = "kakehashi::debug_output";

/// A [`Layer`] that disables events the sampler drops, before any other layer formats them.
#[derive(Debug)]
pub struct LogSampler {
    rule: Rule,
    counters: Mutex<HashMap<Identifier, Counter>>,
}

/// The numbers of a [`SamplingConfig`].
#[derive(Debug, Clone, Copy)]
struct Rule {
    tick: Duration,
    initial: u64,
    thereafter: u64,
}

/// One message's count within its current tick.
#[derive(Debug)]
struct Counter {
    /// When the count starts again; `None` for a tick too long to end (`Instant` would
    /// overflow: a `tick` of centuries must not panic the logger).
    reset_at: Option<Instant>,
    seen: u64,
}

impl Rule {
    /// zap's decision for the `seen`-th line of a tick (1-based): the first `initial`, then
    /// every `thereafter`-th after them; none after them when `thereafter` is 0.
    fn admits(self, seen: u64) -> bool {
        seen <= self.initial
            || (self.thereafter != 0 && (seen - self.initial).is_multiple_of(self.thereafter))
    }
}

impl Counter {
    /// Counts one line at `now` and returns its number within the tick.
    fn count(&mut self, now: Instant, tick: Duration) -> u64 {
        if self.reset_at.is_some_and(|at| now >= at) {
            self.reset_at = now.checked_add(tick);
            self.seen = 0;
        }
        self.seen += 1;
        self.seen
    }
}

impl LogSampler {
    /// The sampler for an enabled `sampling` block; `None` when sampling is off.
    pub fn new(cfg: &SamplingConfig) -> Option<Self> {
        cfg.enabled.then(|| LogSampler {
            rule: Rule {
                tick: cfg.tick.0,
                initial: cfg.initial,
                thereafter: cfg.thereafter,
            },
            counters: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the next line of the message `key` at `now` is written.
    fn admit(&self, key: Identifier, now: Instant) -> bool {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let counter = counters.entry(key).or_insert(Counter {
            reset_at: Some(now),
            seen: 0,
        });
        let seen = counter.count(now, self.rule.tick);
        self.rule.admits(seen)
    }
}

impl<S: Subscriber> Layer<S> for LogSampler {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        meta.target() == DATA_OUTPUT_TARGET || self.admit(meta.callsite(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn sampler(tick_secs: u64, initial: u64, thereafter: u64) -> LogSampler {
        LogSampler::new(&SamplingConfig {
            enabled: true,
            tick: kakehashi_config::Duration::from_secs(tick_secs),
            initial,
            thereafter,
        })
        .unwrap()
    }

    /// The line numbers (1-based) written out of `n` lines of one message within one tick.
    fn written(rule: Rule, n: u64) -> Vec<u64> {
        (1..=n).filter(|seen| rule.admits(*seen)).collect()
    }

    #[test]
    fn first_lines_then_one_in_thereafter() {
        let rule = sampler(10, 10, 100).rule;
        let kept = written(rule, 1000);
        assert_eq!(&kept[..10], &(1..=10).collect::<Vec<_>>()[..]);
        assert_eq!(&kept[10..], &[110, 210, 310, 410, 510, 610, 710, 810, 910]);
    }

    #[test]
    fn thereafter_zero_keeps_only_the_first_lines_and_initial_zero_starts_at_thereafter() {
        assert_eq!(written(sampler(1, 3, 0).rule, 50), vec![1, 2, 3]);
        assert_eq!(written(sampler(1, 0, 4).rule, 12), vec![4, 8, 12]);
        assert_eq!(written(sampler(1, 0, 0).rule, 12), Vec::<u64>::new());
    }

    #[test]
    fn the_count_starts_again_each_tick_and_per_message() {
        let s = sampler(10, 2, 0);
        let a = tracing::callsite::Identifier(&CALLSITE_A);
        let b = tracing::callsite::Identifier(&CALLSITE_B);
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert!(s.admit(a.clone(), at(0)));
        assert!(s.admit(a.clone(), at(1)));
        assert!(!s.admit(a.clone(), at(2)), "third line of the tick");
        assert!(
            s.admit(b.clone(), at(2)),
            "another message has its own count"
        );
        assert!(!s.admit(a.clone(), at(9)));
        assert!(s.admit(a.clone(), at(10)), "a new tick");
        assert!(s.admit(a.clone(), at(11)));
        assert!(!s.admit(a, at(12)));
    }

    #[test]
    fn on_by_default_a_partial_block_keeps_the_defaults_and_null_is_off() {
        use crate::config::LogsConfig;
        let parse = |json: &str| serde_json::from_str::<LogsConfig>(json).unwrap().sampling;
        let default = parse("{}").expect("sampling on when the block is absent");
        assert!(default.enabled);
        assert_eq!(
            (default.tick.0, default.initial, default.thereafter),
            (Duration::from_secs(10), 10, 100)
        );
        let partial = parse(r#"{"sampling": {"initial": 5}}"#).unwrap();
        assert!(partial.enabled);
        assert_eq!((partial.initial, partial.thereafter), (5, 100));
        assert!(parse(r#"{"sampling": null}"#).is_none());
    }

    #[test]
    fn a_tick_too_long_for_the_clock_never_ends() {
        let s = LogSampler::new(&SamplingConfig {
            enabled: true,
            tick: kakehashi_config::Duration(Duration::MAX),
            initial: 1,
            thereafter: 0,
        })
        .unwrap();
        let a = tracing::callsite::Identifier(&CALLSITE_A);
        let now = Instant::now();
        assert!(s.admit(a.clone(), now));
        assert!(!s.admit(a, now + Duration::from_secs(3600)));
    }

    #[test]
    fn disabled_makes_no_sampler() {
        let cfg = SamplingConfig {
            enabled: false,
            ..SamplingConfig::default()
        };
        assert!(LogSampler::new(&cfg).is_none());
    }

    /// Through a real subscriber: lines the sampler drops never reach the formatting layer, and
    /// every call site is counted on its own.
    #[test]
    fn dropped_events_never_reach_the_writer() {
        let out = crate::test_lines::Lines::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
            .with(sampler(3600, 3, 10));
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..25 {
                tracing::warn!(attempt = i, "send failed");
            }
            tracing::info!("another message");
            for _ in 0..25 {
                tracing::info!(target: DATA_OUTPUT_TARGET, "a debug exporter batch");
            }
        });
        let text = out.text();
        let attempts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("send failed"))
            .map(|l| l.rsplit("attempt=").next().unwrap())
            .collect();
        // Lines 1–3, then the 13th and 23rd: attempts 0, 1, 2, 12, 22.
        assert_eq!(attempts, ["0", "1", "2", "12", "22"], "{text}");
        assert!(text.contains("another message"), "{text}");
        assert_eq!(
            text.matches("a debug exporter batch").count(),
            25,
            "data output is never sampled"
        );
    }

    /// Not zero-sized: two zero-sized statics may share an address, and the address is the
    /// identity.
    struct TestCallsite(#[allow(dead_code)] u8);
    static CALLSITE_A: TestCallsite = TestCallsite(1);
    static CALLSITE_B: TestCallsite = TestCallsite(2);
    impl tracing::callsite::Callsite for TestCallsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unimplemented!("only the identity of a test call site is used")
        }
    }
}
