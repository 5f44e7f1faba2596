//! The decision for one span or log record, as otelcol's `commonShouldSampleLogic`: the item's
//! randomness (hash of the trace id, its last 56 bits, or an explicit `rv`), the threshold of
//! the mode, `fail_closed`, the priority, and the threshold written back.

use super::carrier::{Carrier, LogCarrier};
use super::config::{Mode, ProbabilisticSamplerConfig};
use super::priority::{log_priority, span_priority, Priority};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::sampling::TraceState;
use kakehashi_pdata::sampling::{Randomness, Threshold, MAX_ADJUSTED_COUNT, MIN_PROBABILITY};

/// otelcol's 14-bit hash buckets for `hash_seed`.
pub(super) const HASH_BUCKETS: u32 = 1 << 14;

/// Randomness that samples at every threshold but never: what otelcol uses where none exists.
pub(super) const ALL_PROBABILITIES: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

/// FNV-1a (32 bit) of the seed's little-endian bytes, then `bytes` (otelcol's `computeHash`).
pub(super) fn fnv1a(seed: u32, bytes: &[u8]) -> u32 {
    seed.to_le_bytes()
        .iter()
        .chain(bytes)
        .fold(0x811c_9dc5u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

/// otelcol's `randomnessFromBytes`: the 14-bit hash in the form a threshold compares with as
/// the legacy `hash < percentage × 163.84` did, its other bits spread over the rest.
pub(super) fn randomness_from_bytes(bytes: &[u8], seed: u32) -> Randomness {
    let h = fnv1a(seed, bytes);
    let hashed = u64::from(h & (HASH_BUCKETS - 1));
    let rprime14 = u64::from(HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(h >> 18);
    let mixed28 = unused18 ^ (unused18 << 10);
    Randomness((rprime14 << 42) | (mixed28 << 14) | hashed)
}

/// Where an item's randomness came from (the `policy` label of the counters).
#[derive(Debug, Clone)]
pub(super) enum Policy {
    TraceIdHash,
    TraceIdW3c,
    SamplingRandomness,
    SamplingPriority,
    MissingRandomness,
    Attribute(String),
}

impl Policy {
    pub(super) fn name(&self) -> &str {
        match self {
            Policy::TraceIdHash => "trace_id_hash",
            Policy::TraceIdW3c => "trace_id_w3c",
            Policy::SamplingRandomness => "sampling_randomness",
            Policy::SamplingPriority => "sampling_priority",
            Policy::MissingRandomness => "missing_randomness",
            Policy::Attribute(name) => name,
        }
    }
}

/// The configured sampler.
pub(super) struct Sampler {
    mode: Mode,
    /// `sampling_percentage: 0` (or, in `hash_seed` mode, below one bucket): drops everything
    /// that no priority keeps.
    pub(super) never: bool,
    hash_seed: u32,
    /// `hash_seed`: the buckets' rejection threshold; `equalizing`: the configured threshold.
    pub(super) threshold: Threshold,
    pub(super) ratio: f64,
    precision: i32,
    pub(super) fail_closed: bool,
    logs_from_trace_id: bool,
    from_attribute: String,
}

impl Sampler {
    pub(super) fn new(cfg: &ProbabilisticSamplerConfig) -> Sampler {
        let pct = cfg.sampling_percentage.min(100.0);
        let ratio = (f64::from(pct) / 100.0).max(MIN_PROBABILITY);
        let mode = cfg.mode();
        let precision = cfg.sampling_precision;
        let (never, threshold) = match mode {
            Mode::HashSeed => {
                // float32 arithmetic and truncation, as Go's uint32(pct * 163.84).
                let scaled = (pct * (HASH_BUCKETS as f32 / 100.0)) as u32;
                (
                    scaled == 0,
                    Threshold(u64::from(HASH_BUCKETS - scaled.min(HASH_BUCKETS)) << 42),
                )
            }
            _ => (
                pct == 0.0,
                Threshold::from_probability(ratio, precision).unwrap_or(Threshold::NEVER),
            ),
        };
        Sampler {
            mode,
            never: never || pct == 0.0,
            hash_seed: cfg.hash_seed,
            threshold,
            ratio,
            precision,
            fail_closed: cfg.fail_closed,
            logs_from_trace_id: cfg.attribute_source == "traceID",
            from_attribute: cfg.from_attribute.clone(),
        }
    }

    /// The threshold for an item whose state was read without error.
    fn decide(&self, carrier: Option<&dyn Carrier>) -> Threshold {
        if self.never {
            return Threshold::NEVER;
        }
        let incoming = carrier.and_then(|c| c.threshold());
        match self.mode {
            Mode::HashSeed => self.threshold,
            Mode::Proportional => {
                let p = incoming.map_or(1.0, Threshold::probability) * self.ratio;
                Threshold::from_probability(p, self.precision).unwrap_or(Threshold::NEVER)
            }
            Mode::Equalizing => match incoming {
                Some(t) if self.threshold < t => t,
                _ => self.threshold,
            },
        }
    }

    /// otelcol's `commonShouldSampleLogic` after the randomness is known: the consistency
    /// check, the decision (or `fail_closed`), the priority, and the carrier's new threshold.
    fn sample<C: Carrier>(
        &self,
        mut rnd: (Policy, Option<Randomness>),
        mut carrier: Option<C>,
        mut error: Option<String>,
        priority: impl FnOnce(&mut (Policy, Option<Randomness>), Threshold) -> Threshold,
    ) -> (bool, Option<C>, Policy) {
        if error.is_none() {
            error = match (rnd.1, carrier.as_mut()) {
                (None, _) => Some("missing randomness".into()),
                (Some(r), Some(c)) if c.threshold().is_some_and(|t| !t.should_sample(r)) => {
                    c.clear_threshold();
                    Some("inconsistent arriving threshold".into())
                }
                _ => None,
            };
        }
        let threshold = match &error {
            Some(e) => {
                tracing::debug!(error = %e, "probabilistic_sampler: cannot decide; fail_closed decides");
                if self.fail_closed {
                    Threshold::NEVER
                } else {
                    Threshold::ALWAYS
                }
            }
            None => self.decide(carrier.as_ref().map(|c| c as &dyn Carrier)),
        };
        let threshold = priority(&mut rnd, threshold);
        let sampled = threshold.should_sample(rnd.1.unwrap_or(ALL_PROBABILITIES));
        if sampled {
            if let Some(c) = carrier.as_mut() {
                if let Err(e) = c.update_threshold(threshold) {
                    tracing::debug!(error = %e, "probabilistic_sampler: threshold not updated");
                }
            }
        }
        (sampled, carrier, rnd.0)
    }

    /// Whether to keep a span; rewrites its `tracestate` when it is kept.
    pub(super) fn keep_span(&self, span: &mut Span) -> (bool, Policy) {
        let tid = (span.trace_id.len() == 16 && span.trace_id.iter().any(|b| *b != 0))
            .then_some(span.trace_id.as_slice());
        let parsed = TraceState::parse(&span.trace_state);
        let (rnd, carrier, error) = if self.never {
            let (c, e) = split(parsed);
            ((Policy::SamplingPriority, Some(ALL_PROBABILITIES)), c, e)
        } else if self.mode == Mode::HashSeed {
            let rnd = match tid {
                Some(t) => (
                    Policy::TraceIdHash,
                    Some(randomness_from_bytes(t, self.hash_seed)),
                ),
                None => (Policy::MissingRandomness, None),
            };
            match parsed {
                Err(e) => (rnd, None, Some(e)),
                Ok(ts) if ts.rv.is_some() => (rnd, None, Some("randomness already in use".into())),
                Ok(ts) if ts.th.is_some() => (rnd, None, Some("threshold already in use".into())),
                Ok(mut ts) => {
                    ts.set_randomness(rnd.1.unwrap_or(ALL_PROBABILITIES));
                    (rnd, Some(ts), None)
                }
            }
        } else {
            match parsed {
                Err(e) => ((Policy::MissingRandomness, None), None, Some(e)),
                Ok(ts) => {
                    let rnd = match (ts.randomness(), tid) {
                        (Some(r), _) => (Policy::SamplingRandomness, Some(r)),
                        (None, Some(t)) => (Policy::TraceIdW3c, Some(Randomness::from_trace_id(t))),
                        (None, None) => (Policy::MissingRandomness, None),
                    };
                    (rnd, Some(ts), None)
                }
            }
        };
        let priority = span_priority(&span.attributes);
        let (sampled, carrier, policy) =
            self.sample(rnd, carrier, error, |rnd, t| match priority {
                Priority::Defer => t,
                Priority::Drop => {
                    rnd.0 = Policy::SamplingPriority;
                    Threshold::NEVER
                }
                Priority::Keep => {
                    rnd.0 = Policy::SamplingPriority;
                    Threshold::ALWAYS
                }
            });
        if sampled {
            if let Some(ts) = carrier {
                span.trace_state = ts.serialize();
            }
        }
        (sampled, policy)
    }

    /// Whether to keep a log record; sets its `sampling.*` attributes when it is kept.
    pub(super) fn keep_log(&self, record: &mut LogRecord, priority_attr: &str) -> (bool, Policy) {
        let tid = (record.trace_id.len() == 16 && record.trace_id.iter().any(|b| *b != 0))
            .then(|| record.trace_id.clone());
        let priority = log_priority(&record.attributes, priority_attr, self.precision);
        let mut rnd = (Policy::MissingRandomness, None);
        if self.never {
            rnd = (Policy::SamplingPriority, Some(ALL_PROBABILITIES));
        } else if self.mode == Mode::HashSeed {
            if let (true, Some(t)) = (self.logs_from_trace_id, &tid) {
                rnd = (
                    Policy::TraceIdHash,
                    Some(randomness_from_bytes(t, self.hash_seed)),
                );
            }
            if rnd.1.is_none() && !self.from_attribute.is_empty() {
                let bytes = attribute_bytes(&record.attributes, &self.from_attribute);
                if !bytes.is_empty() {
                    rnd = (
                        Policy::Attribute(self.from_attribute.clone()),
                        Some(randomness_from_bytes(&bytes, self.hash_seed)),
                    );
                }
            }
        }
        let (rnd, carrier, error) = match LogCarrier::parse(&mut record.attributes) {
            Err(e) => {
                let rnd = if self.never || self.mode == Mode::HashSeed {
                    rnd
                } else {
                    (Policy::MissingRandomness, None)
                };
                (rnd, None, Some(e))
            }
            Ok(c) if self.never => (rnd, Some(c), None),
            Ok(mut c) if self.mode == Mode::HashSeed => {
                if c.rv.is_some() {
                    (rnd, None, Some("randomness already in use".into()))
                } else if c.th.is_some() {
                    (rnd, None, Some("threshold already in use".into()))
                } else {
                    if let Some(r) = rnd.1 {
                        c.set_randomness(r);
                    }
                    (rnd, Some(c), None)
                }
            }
            Ok(c) => {
                let rnd = match (c.rv, &tid) {
                    (Some(r), _) => (Policy::SamplingRandomness, Some(r)),
                    (None, Some(t)) => (Policy::TraceIdW3c, Some(Randomness::from_trace_id(t))),
                    (None, None) => (Policy::MissingRandomness, None),
                };
                (rnd, Some(c), None)
            }
        };
        let (sampled, _, policy) = self.sample(rnd, carrier, error, |rnd, t| match priority {
            Some(p) => {
                rnd.0 = Policy::SamplingPriority;
                p
            }
            None => t,
        });
        (sampled, policy)
    }
}

fn split(parsed: Result<TraceState, String>) -> (Option<TraceState>, Option<String>) {
    match parsed {
        Ok(ts) => (Some(ts), None),
        Err(e) => (None, Some(e)),
    }
}

/// otelcol's `getBytesFromValue`: bytes as they are, anything else as its string form.
fn attribute_bytes(attrs: &[KeyValue], key: &str) -> Vec<u8> {
    match attrs.iter().find(|kv| kv.key == key) {
        None => Vec::new(),
        Some(kv) => match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::BytesValue(b)) => b.clone(),
            _ => kakehashi_pdata::go_text::as_string(kv.value.as_ref()).into_bytes(),
        },
    }
}
