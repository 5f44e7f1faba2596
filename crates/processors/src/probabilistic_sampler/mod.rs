//! The `probabilistic_sampler` processor: keeps a percentage of spans (and log records) with
//! otelcol-contrib's decisions bit for bit, so Go and Rust collectors in one fleet sample the
//! same traces.
//!
//! * `hash_seed` (otelcol's default mode): a 14-bit FNV-1a hash of the seed and the trace id
//!   against `sampling_percentage` × 163.84 buckets; the span's `tracestate` gets the
//!   randomness and threshold that decision stands for (`ot=rv:…;th:…`).
//! * `proportional` / `equalizing`: OpenTelemetry's consistent probability sampling — the
//!   trace id's last 56 bits (or an incoming `ot=rv:`) against a threshold; proportional
//!   multiplies an incoming `th` probability by the configured one, equalizing keeps the lower
//!   of the two.
//!
//! Decisions are per span (the same trace id decides the same way); `sampling.priority` on a
//! span forces a decision; spans and log records whose sampling state cannot be read are
//! dropped with `fail_closed` (default) or kept.

mod config;
mod threshold;
mod tracestate;

pub use config::{Mode, ProbabilisticSamplerConfig};

use async_trait::async_trait;
use kakehashi_component::{
    AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer, FactoryInfo, Processor,
    ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::attrs::{put, str_value};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::trace::v1::Span;
use kakehashi_pdata::{Payload, Signal};
use prometheus::IntCounterVec;
use std::sync::Arc;
use threshold::{Randomness, Threshold, MAX_ADJUSTED_COUNT, MIN_PROBABILITY};
use tracestate::TraceState;

/// otelcol's 14-bit hash buckets for `hash_seed`.
const HASH_BUCKETS: u32 = 1 << 14;

/// Randomness that samples at every threshold but never: what otelcol uses where none exists.
const ALL_PROBABILITIES: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

/// FNV-1a (32 bit) of the seed's little-endian bytes, then `bytes` (otelcol's `computeHash`).
fn fnv1a(seed: u32, bytes: &[u8]) -> u32 {
    seed.to_le_bytes()
        .iter()
        .chain(bytes)
        .fold(0x811c_9dc5u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

/// otelcol's `randomnessFromBytes`: the 14-bit hash in the form a threshold compares with as
/// the legacy `hash < percentage × 163.84` did, its other bits spread over the rest.
fn randomness_from_bytes(bytes: &[u8], seed: u32) -> Randomness {
    let h = fnv1a(seed, bytes);
    let hashed = u64::from(h & (HASH_BUCKETS - 1));
    let rprime14 = u64::from(HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(h >> 18);
    let mixed28 = unused18 ^ (unused18 << 10);
    Randomness((rprime14 << 42) | (mixed28 << 14) | hashed)
}

/// Where an item's randomness came from (the `policy` label of the counters).
#[derive(Debug, Clone)]
enum Policy {
    TraceIdHash,
    TraceIdW3c,
    SamplingRandomness,
    SamplingPriority,
    MissingRandomness,
    Attribute(String),
}

impl Policy {
    fn name(&self) -> &str {
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

/// An item's sampling state: a span's `tracestate` or a log record's `sampling.*` attributes.
trait Carrier {
    fn threshold(&self) -> Option<Threshold>;
    fn randomness(&self) -> Option<Randomness>;
    fn set_randomness(&mut self, r: Randomness);
    fn clear_threshold(&mut self);
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String>;
}

impl Carrier for TraceState {
    fn threshold(&self) -> Option<Threshold> {
        self.th
    }
    fn randomness(&self) -> Option<Randomness> {
        self.rv.as_ref().map(|(_, r)| *r)
    }
    fn set_randomness(&mut self, r: Randomness) {
        TraceState::set_randomness(self, r)
    }
    fn clear_threshold(&mut self) {
        TraceState::clear_threshold(self)
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String> {
        TraceState::update_threshold(self, t)
    }
}

/// A log record's `sampling.threshold` / `sampling.randomness` string attributes.
struct LogCarrier<'a> {
    attrs: &'a mut Vec<KeyValue>,
    th: Option<Threshold>,
    rv: Option<Randomness>,
}

impl<'a> LogCarrier<'a> {
    fn parse(attrs: &'a mut Vec<KeyValue>) -> Result<LogCarrier<'a>, String> {
        let mut errs = Vec::new();
        let th = match str_value(attrs, "sampling.threshold") {
            "" => None,
            t => Threshold::parse(t).map_err(|e| errs.push(e)).ok(),
        };
        let rv = match str_value(attrs, "sampling.randomness") {
            "" => None,
            r => Randomness::parse(r).map_err(|e| errs.push(e)).ok(),
        };
        if errs.is_empty() {
            Ok(LogCarrier { attrs, th, rv })
        } else {
            Err(errs.join("; "))
        }
    }
}

impl Carrier for LogCarrier<'_> {
    fn threshold(&self) -> Option<Threshold> {
        self.th
    }
    fn randomness(&self) -> Option<Randomness> {
        self.rv
    }
    fn set_randomness(&mut self, r: Randomness) {
        self.rv = Some(r);
        put(
            self.attrs,
            "sampling.randomness",
            Value::StringValue(r.rvalue()),
        );
    }
    fn clear_threshold(&mut self) {
        self.th = None;
        self.attrs.retain(|kv| kv.key != "sampling.threshold");
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), String> {
        if self.th.is_some_and(|old| t < old) {
            return Err("inconsistent sampling: the threshold would decrease".into());
        }
        self.th = Some(t);
        put(
            self.attrs,
            "sampling.threshold",
            Value::StringValue(t.tvalue()),
        );
        Ok(())
    }
}

/// What a span's `sampling.priority` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Defer,
    Drop,
    Keep,
}

/// otelcol's reading of `sampling.priority`: 0 drops, a positive number keeps; negative
/// numbers, NaN, other types and unparsable strings leave the decision to the sampler.
fn span_priority(attrs: &[KeyValue]) -> Priority {
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
fn go_parse_float(s: &str) -> Option<f64> {
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

/// The configured sampler.
struct Sampler {
    mode: Mode,
    /// `sampling_percentage: 0` (or, in `hash_seed` mode, below one bucket): drops everything
    /// that no priority keeps.
    never: bool,
    hash_seed: u32,
    /// `hash_seed`: the buckets' rejection threshold; `equalizing`: the configured threshold.
    threshold: Threshold,
    ratio: f64,
    precision: i32,
    fail_closed: bool,
    logs_from_trace_id: bool,
    from_attribute: String,
}

impl Sampler {
    fn new(cfg: &ProbabilisticSamplerConfig) -> Sampler {
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
    fn keep_span(&self, span: &mut Span) -> (bool, Policy) {
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
    fn keep_log(&self, record: &mut LogRecord, priority_attr: &str) -> (bool, Policy) {
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

/// Logs: the priority attribute's number, as a percentage, replaces the sampling rate (ints
/// and doubles only; 0 or a value outside (0, 100] leaves the configured rate).
fn log_priority(attrs: &[KeyValue], key: &str, precision: i32) -> Option<Threshold> {
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

pub struct ProbabilisticSamplerProcessor {
    sampler: Sampler,
    sampling_priority: String,
    sampled: IntCounterVec,
    next: Arc<dyn Consumer>,
}

impl ProbabilisticSamplerProcessor {
    fn new(
        cfg: &ProbabilisticSamplerConfig,
        ctx: &BuildContext,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Self {
        let what = if signal == Signal::Logs {
            "logs"
        } else {
            "traces"
        };
        ProbabilisticSamplerProcessor {
            sampler: Sampler::new(cfg),
            sampling_priority: cfg.sampling_priority.clone(),
            sampled: ctx.telemetry.counter_vec(
                &format!("otelcol_processor_probabilistic_sampler_count_{what}_sampled"),
                &format!("Count of {what} that were sampled or not [Development]"),
                &["policy", "sampled"],
            ),
            next,
        }
    }

    fn count(&self, policy: &Policy, sampled: bool) {
        self.sampled
            .with_label_values(&[policy.name(), if sampled { "true" } else { "false" }])
            .inc();
    }

    /// Drops what is not sampled; whether anything is left.
    fn sample(&self, payload: &mut Payload) -> bool {
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    for ss in &mut rs.scope_spans {
                        ss.spans.retain_mut(|span| {
                            let (keep, policy) = self.sampler.keep_span(span);
                            self.count(&policy, keep);
                            keep
                        });
                    }
                    rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                }
                req.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
                !req.resource_spans.is_empty()
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    for sl in &mut rl.scope_logs {
                        sl.log_records.retain_mut(|record| {
                            let (keep, policy) =
                                self.sampler.keep_log(record, &self.sampling_priority);
                            self.count(&policy, keep);
                            keep
                        });
                    }
                    rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
                }
                req.resource_logs.retain(|rl| !rl.scope_logs.is_empty());
                !req.resource_logs.is_empty()
            }
            // Refused when the pipeline is built.
            Payload::Metrics(_) => true,
        }
    }
}

#[async_trait]
impl Consumer for ProbabilisticSamplerProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        if !self.sample(batch.payload_mut()) {
            // Everything was sampled out: accepted, nothing to send on (otelcol's
            // ErrSkipProcessingData).
            return Ok(());
        }
        self.next.consume(batch).await
    }

    /// Sampling only removes data: the downstream's room is enough.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for ProbabilisticSamplerProcessor {}

pub struct ProbabilisticSamplerProcessorFactory;

impl FactoryInfo for ProbabilisticSamplerProcessorFactory {
    fn type_name(&self) -> &'static str {
        "probabilistic_sampler"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Logs]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        kakehashi_component::decode_config::<ProbabilisticSamplerConfig>(node, path)
    }
}

impl ProcessorFactory for ProbabilisticSamplerProcessorFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = kakehashi_component::config_as::<ProbabilisticSamplerConfig>(cfg);
        Ok(Arc::new(ProbabilisticSamplerProcessor::new(
            cfg, ctx, signal, next,
        )))
    }
}

#[cfg(test)]
mod tests;
