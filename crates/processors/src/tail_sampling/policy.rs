//! The sampling policies, compiled from their config, and how they decide a whole trace — each
//! the way otelcol-contrib's evaluator of the same name does (zero bounds mean unset, attribute
//! values read as Go's `Int()` / `Str()` / `Bool()` read them, unanchored regexes, and so on).

use super::config::PolicyConfig;
use super::rate::{Composite, TokenBucket};
use crate::ottl::{Condition, ContextKind, ErrorMode, EvalCtx};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, Span};
use kakehashi_pdata::sampling::w3c_members;
use regex::Regex;
use std::collections::HashSet;
use std::time::Instant;

/// What one policy, or all of them, decided for a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    /// A `drop` policy matched: not sampled, whatever the other policies say.
    Dropped,
}

/// A trace as the policies see it: every batch of its spans received so far.
pub struct TraceView<'a> {
    pub batches: &'a [ResourceSpans],
    /// Spans received, duplicates included.
    pub span_count: u64,
}

impl TraceView<'_> {
    fn spans(&self) -> impl Iterator<Item = (&Resource, &Span)> + '_ {
        static EMPTY: Resource = Resource {
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        };
        self.batches.iter().flat_map(|rs| {
            let res = rs.resource.as_ref().unwrap_or(&EMPTY);
            rs.scope_spans
                .iter()
                .flat_map(move |ss| ss.spans.iter().map(move |s| (res, s)))
        })
    }

    /// Go's `hasResourceOrSpanWithCondition`: whether some batch's resource, or some span, has
    /// attributes that `matches` holds for.
    fn any_attributes(&self, matches: impl Fn(&[KeyValue], bool) -> bool) -> bool {
        self.batches.iter().any(|rs| {
            rs.resource
                .as_ref()
                .is_some_and(|r| matches(&r.attributes, true))
                || rs
                    .scope_spans
                    .iter()
                    .flat_map(|ss| &ss.spans)
                    .any(|s| matches(&s.attributes, false))
        })
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<Option<&'a Value>> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_ref().and_then(|v| v.value.as_ref()))
}

/// One compiled policy.
#[derive(Debug)]
pub enum Policy {
    AlwaysSample,
    Latency {
        threshold_ms: i64,
        upper_ms: i64,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        salt: Vec<u8>,
        threshold: u64,
    },
    StatusCode(Vec<i32>),
    StringAttribute {
        key: String,
        exact: HashSet<String>,
        regexes: Vec<Regex>,
        invert: bool,
    },
    RateLimiting(TokenBucket),
    BytesLimiting(TokenBucket),
    SpanCount {
        min: i64,
        max: i64,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    Boolean {
        key: String,
        value: bool,
        invert: bool,
    },
    Ottl {
        span: Vec<Condition>,
        events: Vec<Condition>,
        error_mode: ErrorMode,
    },
    TraceFlags,
    And(Vec<Policy>),
    Drop(Vec<Policy>),
    Not(Box<Policy>),
    Composite(Composite),
}

/// `sampling_percentage` as Go's threshold: (2^64 − 1) × ratio rounded to a 64-bit mantissa
/// (`big.Float` of precision 64, to nearest even), then truncated to an integer.
pub fn probabilistic_threshold(percentage: f64) -> u64 {
    let ratio = percentage / 100.0;
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio.is_infinite() || ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = m × 2^e exactly.
    let bits = ratio.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, mut e) = if raw_exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), raw_exp - 1075)
    };
    let mut p = u128::from(u64::MAX) * u128::from(m);
    let width = 128 - p.leading_zeros() as i32;
    if width > 64 {
        let shift = (width - 64) as u32;
        let rem = p & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let mut q = p >> shift;
        if rem > half || (rem == half && q & 1 == 1) {
            q += 1;
        }
        p = q;
        e += shift as i32;
    }
    if e >= 0 {
        // ratio < 1 keeps the product below 2^64.
        (p << e).min(u128::from(u64::MAX)) as u64
    } else if -e >= 128 {
        0
    } else {
        (p >> (-e)) as u64
    }
}

/// FNV-1a (64-bit) of the salt, then the trace id's 16 bytes.
pub fn salted_hash(salt: &[u8], trace_id: &[u8; 16]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in salt.iter().chain(trace_id) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Policy {
    /// Compiles a policy the config validation accepted.
    pub fn compile(cfg: &PolicyConfig) -> Policy {
        let all = |list: &[PolicyConfig]| list.iter().map(Policy::compile).collect();
        match cfg.type_.as_str() {
            "latency" => Policy::Latency {
                threshold_ms: cfg.latency.threshold_ms,
                upper_ms: cfg.latency.upper_threshold_ms,
            },
            "numeric_attribute" => {
                let c = &cfg.numeric_attribute;
                Policy::Numeric {
                    key: c.key.clone(),
                    min: if c.min_value == 0 {
                        i64::MIN
                    } else {
                        c.min_value
                    },
                    max: if c.max_value == 0 {
                        i64::MAX
                    } else {
                        c.max_value
                    },
                    invert: c.invert_match,
                }
            }
            "probabilistic" => {
                let c = &cfg.probabilistic;
                let salt = if c.hash_salt.is_empty() {
                    "default-hash-seed"
                } else {
                    &c.hash_salt
                };
                Policy::Probabilistic {
                    salt: salt.as_bytes().to_vec(),
                    threshold: probabilistic_threshold(c.sampling_percentage),
                }
            }
            "status_code" => Policy::StatusCode(
                cfg.status_code
                    .status_codes
                    .iter()
                    .map(|c| match c.as_str() {
                        "OK" => 1,
                        "ERROR" => 2,
                        _ => 0,
                    })
                    .collect(),
            ),
            "string_attribute" => {
                let c = &cfg.string_attribute;
                let (exact, regexes) = if c.enabled_regex_matching {
                    let re = c.values.iter().filter_map(|v| Regex::new(v).ok()).collect();
                    (HashSet::new(), re)
                } else {
                    let set = c.values.iter().filter(|v| !v.is_empty()).cloned().collect();
                    (set, Vec::new())
                };
                Policy::StringAttribute {
                    key: c.key.clone(),
                    exact,
                    regexes,
                    invert: c.invert_match,
                }
            }
            "rate_limiting" => Policy::RateLimiting(TokenBucket::new(
                cfg.rate_limiting.spans_per_second,
                cfg.rate_limiting.burst_capacity,
            )),
            "bytes_limiting" => Policy::BytesLimiting(TokenBucket::new(
                cfg.bytes_limiting.bytes_per_second,
                cfg.bytes_limiting.burst_capacity,
            )),
            "span_count" => Policy::SpanCount {
                min: i64::from(cfg.span_count.min_spans),
                max: i64::from(cfg.span_count.max_spans),
            },
            "trace_state" => {
                let key = cfg.trace_state.key.clone();
                let values = (cfg.trace_state.values.iter())
                    .filter(|v| !v.is_empty() && key.len() + v.len() < 256)
                    .cloned()
                    .collect();
                Policy::TraceState { key, values }
            }
            "boolean_attribute" => Policy::Boolean {
                key: cfg.boolean_attribute.key.clone(),
                value: cfg.boolean_attribute.value,
                invert: cfg.boolean_attribute.invert_match,
            },
            "ottl_condition" => {
                let c = &cfg.ottl_condition;
                let parse = |list: &[String], kind| {
                    list.iter()
                        .filter_map(|t| Condition::parse(t, kind).ok())
                        .collect()
                };
                Policy::Ottl {
                    span: parse(&c.span, ContextKind::Span),
                    events: parse(&c.spanevent, ContextKind::SpanEvent),
                    error_mode: c.error_mode.unwrap_or(ErrorMode::Propagate),
                }
            }
            "trace_flags" => Policy::TraceFlags,
            "composite" => Policy::Composite(
                (cfg.composite.as_ref())
                    .map_or_else(|| Composite::new(&Default::default()), Composite::new),
            ),
            "and" => Policy::And(all(cfg.and.as_ref().map_or(&[][..], |a| &a.and_sub_policy))),
            "drop" => Policy::Drop(all(cfg
                .drop
                .as_ref()
                .map_or(&[][..], |d| &d.drop_sub_policy))),
            "not" => Policy::Not(Box::new(
                (cfg.not.as_ref())
                    .map_or(Policy::AlwaysSample, |n| Policy::compile(&n.not_sub_policy)),
            )),
            // `always_sample`; the validation refused every other type.
            _ => Policy::AlwaysSample,
        }
    }

    /// This policy's decision for `trace` (with `id`), or the error of an OTTL condition under
    /// `error_mode: propagate`.
    pub fn evaluate(
        &mut self,
        id: &[u8; 16],
        trace: &TraceView,
        now: Instant,
    ) -> Result<Decision, String> {
        let sampled = |yes: bool| {
            Ok(if yes {
                Decision::Sampled
            } else {
                Decision::NotSampled
            })
        };
        match self {
            Policy::AlwaysSample => sampled(true),
            Policy::Latency {
                threshold_ms,
                upper_ms,
            } => {
                let (mut min, mut max) = (0u64, 0u64);
                for (_, s) in trace.spans() {
                    if min == 0 || s.start_time_unix_nano < min {
                        min = s.start_time_unix_nano;
                    }
                    if max == 0 || s.end_time_unix_nano > max {
                        max = s.end_time_unix_nano;
                    }
                    let nanos = (i128::from(max) - i128::from(min))
                        .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
                    let ms = nanos as i64 / 1_000_000;
                    // Go's `>=` (its README says "greater than"): with `threshold_ms: 0`
                    // every trace is kept.
                    let hit = if *upper_ms == 0 {
                        ms >= *threshold_ms
                    } else {
                        *threshold_ms < ms && ms <= *upper_ms
                    };
                    if hit {
                        return sampled(true);
                    }
                }
                sampled(false)
            }
            Policy::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let hit = trace.any_attributes(|attrs, _| {
                    find(attrs, key).is_some_and(|v| {
                        let n = match v {
                            Some(Value::IntValue(i)) => *i,
                            _ => 0,
                        };
                        *min <= n && n <= *max
                    })
                });
                sampled(hit != *invert)
            }
            Policy::Probabilistic { salt, threshold } => {
                sampled(salted_hash(salt, id) <= *threshold)
            }
            Policy::StatusCode(codes) => sampled(
                trace
                    .spans()
                    .any(|(_, s)| codes.contains(&s.status.as_ref().map_or(0, |st| st.code))),
            ),
            Policy::StringAttribute {
                key,
                exact,
                regexes,
                invert,
            } => {
                let hit = trace.any_attributes(|attrs, is_resource| {
                    let Some(v) = find(attrs, key) else {
                        return false;
                    };
                    let text = match v {
                        Some(Value::StringValue(s)) => s.as_str(),
                        _ => "",
                    };
                    // Go skips a span's empty (or non-string) value, not a resource's.
                    if text.is_empty() && !is_resource {
                        return false;
                    }
                    if regexes.is_empty() {
                        exact.contains(text)
                    } else {
                        regexes.iter().any(|r| r.is_match(text))
                    }
                });
                sampled(hit != *invert)
            }
            Policy::RateLimiting(bucket) => sampled(bucket.allow(now, trace.span_count)),
            Policy::BytesLimiting(bucket) => {
                let size = super::trace_size(trace.batches);
                sampled(bucket.allow(now, size))
            }
            Policy::SpanCount { min, max } => {
                let n = trace.span_count as i64;
                sampled(if *max == 0 {
                    n >= *min
                } else {
                    *min <= n && n <= *max
                })
            }
            Policy::TraceState { key, values } => sampled(trace.spans().any(|(_, s)| {
                w3c_members(&s.trace_state).is_ok_and(|members| {
                    members
                        .iter()
                        .find(|(k, _)| k == key)
                        .is_some_and(|(_, v)| values.iter().any(|want| want == v))
                })
            })),
            Policy::Boolean { key, value, invert } => {
                let hit = trace.any_attributes(|attrs, _| {
                    find(attrs, key)
                        .is_some_and(|v| matches!(v, Some(Value::BoolValue(true))) == *value)
                });
                sampled(hit != *invert)
            }
            Policy::Ottl {
                span,
                events,
                error_mode,
            } => ottl_sampled(span, events, *error_mode, trace).and_then(sampled),
            Policy::TraceFlags => sampled(trace.spans().any(|(_, s)| s.flags & 0x01 != 0)),
            Policy::And(subs) => all_pass(subs, id, trace, now, Decision::Sampled),
            Policy::Drop(subs) => all_pass(subs, id, trace, now, Decision::Dropped),
            Policy::Composite(c) => {
                let second = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                c.evaluate(id, trace, now, second)
            }
            Policy::Not(sub) => Ok(match sub.evaluate(id, trace, now)? {
                Decision::Sampled => Decision::NotSampled,
                Decision::NotSampled => Decision::Sampled,
                other => other,
            }),
        }
    }
}

/// `and` / `drop`: the sub-policies in order; the first that does not sample decides
/// `NotSampled` (later ones, rate limiters say, are not charged); otherwise `on_match`.
fn all_pass(
    subs: &mut [Policy],
    id: &[u8; 16],
    trace: &TraceView,
    now: Instant,
    on_match: Decision,
) -> Result<Decision, String> {
    for sub in subs {
        if sub.evaluate(id, trace, now)? == Decision::NotSampled {
            return Ok(Decision::NotSampled);
        }
    }
    Ok(on_match)
}

/// Whether some span holds one of `span`, or some event of it one of `events` (span by span, in
/// order), with failing conditions handled per `mode`.
fn ottl_sampled(
    span: &[Condition],
    events: &[Condition],
    mode: ErrorMode,
    trace: &TraceView,
) -> Result<bool, String> {
    let holds = |c: &Condition, ctx: &EvalCtx| match c.eval(ctx) {
        Ok(b) => Ok(b),
        Err(e) => match mode {
            ErrorMode::Propagate => Err(format!("failed to evaluate {:?}: {e}", c.text())),
            ErrorMode::Ignore => {
                tracing::warn!(condition = c.text(), error = %e, "tail_sampling: an OTTL condition failed; it counts as false");
                Ok(false)
            }
            ErrorMode::Silent => Ok(false),
        },
    };
    for rs in trace.batches {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let ctx = EvalCtx {
                    resource: rs.resource.as_ref(),
                    scope: ss.scope.as_ref(),
                    span: Some(s),
                    ..Default::default()
                };
                for c in span {
                    if holds(c, &ctx)? {
                        return Ok(true);
                    }
                }
                for ev in &s.events {
                    let ctx = EvalCtx {
                        event: Some(ev),
                        ..ctx
                    };
                    for c in events {
                        if holds(c, &ctx)? {
                            return Ok(true);
                        }
                    }
                }
            }
        }
    }
    Ok(false)
}
