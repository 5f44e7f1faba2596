//! The `tail_sampling` processor's configuration, in otelcol-contrib's shape: the top-level keys
//! with Go's defaults and every policy type's block. Go reports a policy's problems when the
//! processor starts; kakehashi reports them with the rest of the config, before anything runs.

use crate::ottl::ErrorMode;
use kakehashi_config::{AnyValue as ConfigValue, Duration, Validate};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// From a trace's first span to its decision (whole seconds, at least one).
    pub decision_wait: Duration,
    /// Once a trace's root span arrived, decide after this long if that is sooner (0 = off).
    pub decision_wait_after_root_received: Duration,
    /// Traces held at once; a new one beyond evicts the oldest (its spans are lost).
    pub num_traces: u64,
    /// Go's event loops; kakehashi runs one state for all and accepts the key (1–256).
    pub num_shards: u32,
    /// Only a capacity hint.
    pub expected_new_traces_per_sec: u64,
    pub decision_cache: DecisionCacheConfig,
    pub sample_on_first_match: bool,
    pub drop_pending_traces_on_shutdown: bool,
    /// At `num_traces`, intake waits for decisions to make room (and then refuses, retryably)
    /// instead of evicting a trace that is still waiting.
    pub block_on_overflow: bool,
    /// A trace larger than this (protobuf bytes) is not sampled (0 = no limit).
    pub maximum_trace_size_bytes: u64,
    /// `trace-complete` (the default); `span-ingest` is not supported yet.
    pub sampling_strategy: String,
    /// A tail-storage extension: not supported yet (refused when set).
    pub tail_storage: Option<ConfigValue>,
    pub policies: Vec<PolicyConfig>,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        TailSamplingConfig {
            decision_wait: Duration::from_millis(30_000),
            decision_wait_after_root_received: Duration::from_millis(0),
            num_traces: 50_000,
            num_shards: 1,
            expected_new_traces_per_sec: 0,
            decision_cache: DecisionCacheConfig::default(),
            sample_on_first_match: false,
            drop_pending_traces_on_shutdown: false,
            block_on_overflow: false,
            maximum_trace_size_bytes: 0,
            sampling_strategy: "trace-complete".into(),
            tail_storage: None,
            policies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    /// Trace ids recently sampled (≤ 0: no cache).
    pub sampled_cache_size: i64,
    /// Trace ids recently not sampled (≤ 0: no cache).
    pub non_sampled_cache_size: i64,
}

/// One policy: its name, its type and the block of that type (blocks of other types are
/// accepted and unused, as in Go).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub latency: LatencyConfig,
    pub numeric_attribute: NumericAttributeConfig,
    pub probabilistic: ProbabilisticConfig,
    pub status_code: StatusCodeConfig,
    pub string_attribute: StringAttributeConfig,
    pub rate_limiting: RateLimitingConfig,
    pub bytes_limiting: BytesLimitingConfig,
    pub span_count: SpanCountConfig,
    pub trace_state: TraceStateConfig,
    pub boolean_attribute: BooleanAttributeConfig,
    pub ottl_condition: OttlConditionConfig,
    /// Only at the top level.
    pub and: Option<AndConfig>,
    /// Only at the top level.
    pub drop: Option<DropConfig>,
    /// At the top level and under `and`.
    pub not: Option<Box<NotConfig>>,
    /// Only at the top level.
    pub composite: Option<CompositeConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    pub threshold_ms: i64,
    /// 0: no upper bound.
    pub upper_threshold_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumericAttributeConfig {
    pub key: String,
    /// 0: no lower bound (Go cannot express a bound of 0 either).
    pub min_value: i64,
    /// 0: no upper bound.
    pub max_value: i64,
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    /// "" is Go's `default-hash-seed`.
    pub hash_salt: String,
    pub sampling_percentage: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusCodeConfig {
    pub status_codes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    pub enabled_regex_matching: bool,
    /// Go memoises regex results per value; kakehashi matches each time (accepted).
    pub cache_max_size: i64,
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitingConfig {
    pub spans_per_second: i64,
    /// ≤ 0: twice `spans_per_second`.
    pub burst_capacity: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BytesLimitingConfig {
    pub bytes_per_second: i64,
    /// ≤ 0: twice `bytes_per_second`.
    pub burst_capacity: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanCountConfig {
    pub min_spans: i32,
    /// 0: no upper bound.
    pub max_spans: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OttlConditionConfig {
    /// Unset is `propagate`, as Go's default (its `defaultErrorModeIgnore` gate is alpha).
    pub error_mode: Option<ErrorMode>,
    pub span: Vec<String>,
    pub spanevent: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompositeConfig {
    /// The spans per second all sub-policies together may sample.
    pub max_total_spans_per_second: i64,
    /// Accepted and unused, as in Go (sub-policies run in list order).
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocationConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateAllocationConfig {
    /// A sub-policy's name.
    pub policy: String,
    /// Its share of `max_total_spans_per_second`, in percent (≤ 0: an equal share).
    pub percent: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotConfig {
    pub not_sub_policy: PolicyConfig,
}

/// Where a policy sits, which decides the types (and blocks) it may have, as Go's config
/// structs do: `and` and `drop` lists hold the shared types (`and` also `not`), `composite`
/// lists the shared types and `and`, `not` one shared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Top,
    And,
    Drop,
    Not,
    Composite,
}

/// The types every level accepts.
const SHARED_TYPES: &[&str] = &[
    "always_sample",
    "latency",
    "numeric_attribute",
    "probabilistic",
    "status_code",
    "string_attribute",
    "rate_limiting",
    "bytes_limiting",
    "span_count",
    "trace_state",
    "boolean_attribute",
    "ottl_condition",
    "trace_flags",
];

impl Validate for TailSamplingConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        match self.sampling_strategy.as_str() {
            "trace-complete" => {}
            "span-ingest" => errs.push(
                "sampling_strategy \"span-ingest\" is not supported yet (use \"trace-complete\")"
                    .into(),
            ),
            other => errs.push(format!(
                "invalid sampling_strategy {other:?}, expected one of \"trace-complete\" or \"span-ingest\""
            )),
        }
        if self.num_shards > 256 {
            errs.push(format!(
                "num_shards ({}) must not exceed 256",
                self.num_shards
            ));
        }
        if self.tail_storage.is_some() {
            errs.push("tail_storage is not supported yet: traces are held in memory".into());
        }
        let mut names = HashSet::new();
        for p in &self.policies {
            if p.name.is_empty() {
                errs.push("policy name cannot be empty".into());
            } else if !names.insert(p.name.as_str()) {
                errs.push(format!("duplicate policy name {:?}", p.name));
            }
            p.check(Level::Top, &format!("policies: {:?}", p.name), &mut errs);
        }
        errs
    }
}

impl PolicyConfig {
    /// Appends what is wrong with this policy (and its sub-policies) at `level`.
    pub(crate) fn check(&self, level: Level, at: &str, errs: &mut Vec<String>) {
        let misplaced = |key: &str, allowed: bool, errs: &mut Vec<String>| {
            if !allowed {
                errs.push(format!("{at}: has invalid keys: {key}"));
            }
        };
        if self.and.is_some() {
            misplaced("and", matches!(level, Level::Top | Level::Composite), errs);
        }
        if self.drop.is_some() {
            misplaced("drop", level == Level::Top, errs);
        }
        if self.not.is_some() {
            misplaced("not", matches!(level, Level::Top | Level::And), errs);
        }
        if self.composite.is_some() {
            misplaced("composite", level == Level::Top, errs);
        }
        let t = self.type_.as_str();
        let allowed = SHARED_TYPES.contains(&t)
            || match level {
                Level::Top => matches!(t, "and" | "drop" | "not" | "composite"),
                Level::And => t == "not",
                Level::Composite => t == "and",
                Level::Drop | Level::Not => false,
            };
        if !allowed {
            errs.push(format!(
                "{at}: failed to create policy evaluator: unknown sampling policy type {t:?}"
            ));
            return;
        }
        let mut problem = |m: String| errs.push(format!("{at}: {m}"));
        match t {
            "composite" => {
                for s in self.composite.iter().flat_map(|c| &c.composite_sub_policy) {
                    s.check(
                        Level::Composite,
                        &format!("{at}: composite_sub_policy {:?}", s.name),
                        errs,
                    );
                }
            }
            "numeric_attribute" => {
                let c = &self.numeric_attribute;
                if c.min_value == 0 && c.max_value == 0 {
                    problem(
                        "numeric_attribute: at least one of min_value or max_value must be set"
                            .into(),
                    );
                } else if c.min_value != 0 && c.max_value != 0 && c.min_value > c.max_value {
                    problem(
                        "numeric_attribute: min_value must be less than or equal to max_value"
                            .into(),
                    );
                }
            }
            "status_code" => {
                let codes = &self.status_code.status_codes;
                if codes.is_empty() {
                    problem("expected at least one status code to filter on".into());
                }
                for c in codes {
                    if !matches!(c.as_str(), "OK" | "ERROR" | "UNSET") {
                        problem(format!(
                            "unknown status code {c:?}, supported: OK, ERROR, UNSET"
                        ));
                    }
                }
            }
            "string_attribute" if self.string_attribute.enabled_regex_matching => {
                for v in &self.string_attribute.values {
                    if let Err(e) = regex::Regex::new(v) {
                        problem(format!("string_attribute: invalid regex {v:?}: {e}"));
                    }
                }
            }
            "ottl_condition" => {
                let c = &self.ottl_condition;
                if c.span.is_empty() && c.spanevent.is_empty() {
                    problem("expected at least one OTTL condition to filter on".into());
                }
                use crate::ottl::{Condition, ContextKind};
                for (list, kind) in [
                    (&c.span, ContextKind::Span),
                    (&c.spanevent, ContextKind::SpanEvent),
                ] {
                    for text in list {
                        if let Err(e) = Condition::parse(text, kind) {
                            problem(e);
                        }
                    }
                }
            }
            "and" => {
                for s in self.and.iter().flat_map(|a| &a.and_sub_policy) {
                    s.check(
                        Level::And,
                        &format!("{at}: and_sub_policy {:?}", s.name),
                        errs,
                    );
                }
            }
            "drop" => {
                for s in self.drop.iter().flat_map(|d| &d.drop_sub_policy) {
                    s.check(
                        Level::Drop,
                        &format!("{at}: drop_sub_policy {:?}", s.name),
                        errs,
                    );
                }
            }
            "not" => match &self.not {
                Some(n) => n.not_sub_policy.check(
                    Level::Not,
                    &format!("{at}: not_sub_policy {:?}", n.not_sub_policy.name),
                    errs,
                ),
                None => problem("not: not_sub_policy must be set".into()),
            },
            _ => {}
        }
    }
}
