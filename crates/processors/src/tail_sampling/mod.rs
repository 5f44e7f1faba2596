//! The `tail_sampling` processor: holds each trace's spans for `decision_wait`, then decides the
//! whole trace with its policies and sends all its spans on, or none — otelcol-contrib's
//! `trace-complete` strategy.
//!
//! * Traces are decided on a 1 s tick, N to N + 1 seconds after their first span (N =
//!   `decision_wait` in whole seconds, at least 1), or sooner after their root span with
//!   `decision_wait_after_root_received`.
//! * `drop` policies run first and win; otherwise any sampling policy samples.
//! * Spans that arrive after the decision follow it (the decided trace stays known until
//!   evicted, or the decision caches answer).
//! * At most `num_traces` traces are held: a new one evicts the oldest by first arrival, whose
//!   spans are lost if it was not decided yet (logged and counted).
//! * Shutdown decides every pending trace on what arrived (unless
//!   `drop_pending_traces_on_shutdown`).

mod config;
mod group;
mod policy;

pub use config::TailSamplingConfig;

use async_trait::async_trait;
use group::{by_trace, TraceId};
use hashlink::LruCache;
use kakehashi_component::{
    AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer, FactoryInfo, Processor,
    ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::{ExportTraceServiceRequest, Payload, Signal};
use policy::{Decision, Policy, TraceView};
use prometheus::{IntCounterVec, IntGaugeVec};
use prost::Message;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The decision tick, fixed as in Go.
const TICK: Duration = Duration::from_secs(1);

/// Protobuf bytes of a trace's batches (what `bytes_limiting` and `maximum_trace_size_bytes`
/// measure).
pub(crate) fn trace_size(batches: &[ResourceSpans]) -> u64 {
    batches
        .iter()
        .map(|rs| {
            let n = rs.encoded_len();
            // Each as a field of the request: tag and length prefix.
            (1 + prost::length_delimiter_len(n) + n) as u64
        })
        .sum()
}

struct Trace {
    /// The spans received and not yet decided.
    batches: Vec<ResourceSpans>,
    span_count: u64,
    size_bytes: u64,
    decision: Option<Decision>,
}

struct NamedPolicy {
    name: String,
    policy: Policy,
}

/// A decision cache keyed as Go's: the trace id's last 8 bytes, little-endian.
struct DecisionCache(Option<LruCache<u64, ()>>);

impl DecisionCache {
    fn new(size: i64) -> DecisionCache {
        DecisionCache((size > 0).then(|| LruCache::new(size as usize)))
    }
    fn key(id: &TraceId) -> u64 {
        u64::from_le_bytes(id[8..16].try_into().expect("8 bytes"))
    }
    fn enabled(&self) -> bool {
        self.0.is_some()
    }
    fn get(&mut self, id: &TraceId) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.get(&Self::key(id)).is_some())
    }
    fn put(&mut self, id: &TraceId) {
        if let Some(c) = &mut self.0 {
            c.insert(Self::key(id), ());
        }
    }
}

struct State {
    traces: HashMap<TraceId, Trace>,
    /// Trace ids by the tick that decides them: the front is decided at the next tick.
    ring: VecDeque<Vec<TraceId>>,
    /// Ids first seen since the last tick; they join the back of the ring at the next tick.
    current: Vec<TraceId>,
    /// Every new trace's id in arrival order, at most `num_traces` (Go's `deleteTraceQueue`).
    arrival: VecDeque<TraceId>,
    sampled: DecisionCache,
    not_sampled: DecisionCache,
    /// `drop` policies first, then the others, each in config order.
    policies: Vec<NamedPolicy>,
}

struct Metrics {
    traces_sampled: IntCounterVec,
    global_sampled: IntCounterVec,
    new_traces: IntCounterVec,
    dropped_too_early: IntCounterVec,
    evaluation_errors: IntCounterVec,
    too_large: IntCounterVec,
    cache_releases: IntCounterVec,
    on_memory: IntGaugeVec,
    forward_failures: IntCounterVec,
}

impl Metrics {
    fn new(ctx: &BuildContext) -> Metrics {
        let t = &ctx.telemetry;
        let name = |n: &str| format!("otelcol_processor_tail_sampling_{n}");
        Metrics {
            traces_sampled: t.counter_vec(
                &name("count_traces_sampled"),
                "Count of traces that were sampled or not per sampling policy",
                &["policy", "sampled"],
            ),
            global_sampled: t.counter_vec(
                &name("global_count_traces_sampled"),
                "Global count of traces that were sampled or not by at least one policy",
                &["sampled"],
            ),
            new_traces: t.counter_vec(
                &name("new_trace_id_received"),
                "Counts the arrival of new traces",
                &[],
            ),
            dropped_too_early: t.counter_vec(
                &name("sampling_trace_dropped_too_early"),
                "Count of traces that needed to be dropped before the configured wait time",
                &[],
            ),
            evaluation_errors: t.counter_vec(
                &name("sampling_policy_evaluation_error"),
                "Count of sampling policy evaluation errors",
                &[],
            ),
            too_large: t.counter_vec(
                &name("traces_dropped_too_large"),
                "Count of traces not sampled because they exceeded maximum_trace_size_bytes",
                &[],
            ),
            cache_releases: t.counter_vec(
                &name("early_releases_from_cache_decision"),
                "Number of spans that were able to be immediately released due to a decision cache hit",
                &["sampled"],
            ),
            on_memory: t.gauge_vec(
                &name("sampling_traces_on_memory"),
                "Tracks the number of traces current on memory",
                &[],
            ),
            forward_failures: t.counter_vec(
                &name("spans_dropped_downstream_refused"),
                "Spans of sampled traces lost because the next component refused them",
                &[],
            ),
        }
    }
}

struct Inner {
    decision_slots: usize,
    root_wait_slots: Option<usize>,
    num_traces: usize,
    max_trace_bytes: u64,
    sample_on_first_match: bool,
    drop_pending_on_shutdown: bool,
    state: Mutex<State>,
    metrics: Metrics,
    next: Arc<dyn Consumer>,
}

pub struct TailSamplingProcessor {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TailSamplingProcessor {
    pub fn new(cfg: &TailSamplingConfig, ctx: &BuildContext, next: Arc<dyn Consumer>) -> Self {
        let slots = (cfg.decision_wait.get().as_secs() as usize).max(1);
        let root_wait = cfg.decision_wait_after_root_received.get();
        let (drops, others): (Vec<_>, Vec<_>) =
            cfg.policies.iter().partition(|p| p.type_ == "drop");
        let policies = (drops.into_iter().chain(others))
            .map(|p| NamedPolicy {
                name: p.name.clone(),
                policy: Policy::compile(p),
            })
            .collect();
        let (stop, _) = watch::channel(false);
        TailSamplingProcessor {
            inner: Arc::new(Inner {
                decision_slots: slots,
                root_wait_slots: (!root_wait.is_zero()).then_some(root_wait.as_secs() as usize),
                num_traces: cfg.num_traces.max(1) as usize,
                max_trace_bytes: cfg.maximum_trace_size_bytes,
                sample_on_first_match: cfg.sample_on_first_match,
                drop_pending_on_shutdown: cfg.drop_pending_traces_on_shutdown,
                state: Mutex::new(State {
                    traces: HashMap::new(),
                    ring: (0..slots).map(|_| Vec::new()).collect(),
                    current: Vec::new(),
                    arrival: VecDeque::new(),
                    sampled: DecisionCache::new(cfg.decision_cache.sampled_cache_size),
                    not_sampled: DecisionCache::new(cfg.decision_cache.non_sampled_cache_size),
                    policies,
                }),
                metrics: Metrics::new(ctx),
                next,
            }),
            stop,
            ticker: Mutex::new(None),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Files one request's spans under their traces; returns the spans to send on now (late
    /// spans of sampled traces, and spans the sampled-decision cache releases).
    fn ingest(&self, req: ExportTraceServiceRequest) -> Vec<ResourceSpans> {
        let mut forward = Vec::new();
        let m = &self.metrics;
        let mut st = self.lock();
        for (id, batches) in by_trace(req) {
            let spans: u64 = batches
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum();
            if st.sampled.get(&id) {
                m.cache_releases.with_label_values(&["true"]).inc_by(spans);
                forward.extend(batches);
                continue;
            }
            if st.not_sampled.get(&id) {
                m.cache_releases.with_label_values(&["false"]).inc_by(spans);
                continue;
            }
            if !st.traces.contains_key(&id) {
                if st.arrival.len() >= self.num_traces {
                    self.evict_oldest(&mut st);
                }
                st.arrival.push_back(id);
                st.current.push(id);
                m.new_traces.with_label_values::<&str>(&[]).inc();
                st.traces.insert(
                    id,
                    Trace {
                        batches: Vec::new(),
                        span_count: 0,
                        size_bytes: 0,
                        decision: None,
                    },
                );
            }
            let has_root = batches
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .any(|s| s.parent_span_id.is_empty());
            let size = trace_size(&batches);
            let st = &mut *st;
            let trace = st.traces.get_mut(&id).expect("just ensured");
            trace.span_count += spans;
            trace.size_bytes += size;
            match trace.decision {
                None => {
                    if let (true, Some(slot)) = (has_root, self.root_wait_slots) {
                        // Decided at the earlier tick too; the later one finds it decided.
                        if slot < st.ring.len() {
                            st.ring[slot].push(id);
                        }
                    }
                    if self.max_trace_bytes > 0 && trace.size_bytes > self.max_trace_bytes {
                        m.too_large.with_label_values::<&str>(&[]).inc();
                        trace.decision = Some(Decision::NotSampled);
                        trace.batches.clear();
                        st.not_sampled.put(&id);
                        if st.not_sampled.enabled() {
                            st.traces.remove(&id);
                        }
                    } else {
                        trace.batches.extend(batches);
                    }
                }
                Some(Decision::Sampled) => forward.extend(batches),
                Some(_) => {}
            }
        }
        m.on_memory
            .with_label_values::<&str>(&[])
            .set(st.traces.len() as i64);
        forward
    }

    /// Makes room for a new trace: the oldest by first arrival goes, decided or not.
    fn evict_oldest(&self, st: &mut State) {
        let Some(old) = st.arrival.pop_front() else {
            return;
        };
        if let Some(t) = st.traces.remove(&old) {
            if t.decision.is_none() {
                tracing::warn!(
                    num_traces = self.num_traces,
                    spans = t.span_count,
                    "tail_sampling: num_traces reached; the oldest trace was evicted before its decision and its spans are dropped"
                );
            }
        }
    }

    /// One tick: decides the traces whose wait is over; returns the sampled traces' spans.
    fn tick(&self) -> Vec<ResourceSpans> {
        let now = Instant::now();
        let m = &self.metrics;
        let mut forward = Vec::new();
        let mut st = self.lock();
        let st = &mut *st;
        let due = st.ring.pop_front().unwrap_or_default();
        st.ring.push_back(std::mem::take(&mut st.current));
        for id in due {
            let Some(trace) = st.traces.get_mut(&id) else {
                m.dropped_too_early.with_label_values::<&str>(&[]).inc();
                continue;
            };
            if trace.decision.is_some() {
                continue;
            }
            let view = TraceView {
                batches: &trace.batches,
                span_count: trace.span_count,
            };
            let decision = decide(
                &mut st.policies,
                self.sample_on_first_match,
                &id,
                &view,
                now,
                m,
            );
            trace.decision = Some(decision);
            let batches = std::mem::take(&mut trace.batches);
            let sampled = decision == Decision::Sampled;
            m.global_sampled
                .with_label_values(&[if sampled { "true" } else { "false" }])
                .inc();
            let cache = if sampled {
                forward.extend(batches);
                &mut st.sampled
            } else {
                &mut st.not_sampled
            };
            cache.put(&id);
            if cache.enabled() {
                st.traces.remove(&id);
            }
        }
        m.on_memory
            .with_label_values::<&str>(&[])
            .set(st.traces.len() as i64);
        forward
    }

    /// Whether any trace still waits for its decision.
    fn pending(&self) -> bool {
        let st = self.lock();
        !st.current.is_empty() || st.ring.iter().any(|b| !b.is_empty())
    }

    /// Sends spans on; a refusal is logged and counted (as in Go, whose intake has already
    /// accepted them; retrying here would stall every other trace's decision).
    async fn forward(&self, batches: Vec<ResourceSpans>) {
        if batches.is_empty() {
            return;
        }
        let req = ExportTraceServiceRequest {
            resource_spans: batches,
        };
        let spans = kakehashi_pdata::ItemCount::item_count(&req);
        if let Err(e) = self.next.consume(Batch::new(req)).await {
            self.metrics
                .forward_failures
                .with_label_values::<&str>(&[])
                .inc_by(spans as u64);
            tracing::error!(error = %e, spans, "tail_sampling: the next component refused sampled spans; they are dropped");
        }
    }
}

/// otelcol's `makeDecision`: every policy in order (drop policies first); a `Dropped` ends it
/// and wins, an error is counted and skipped, a `Sampled` ends it with `sample_on_first_match`.
fn decide(
    policies: &mut [NamedPolicy],
    sample_on_first_match: bool,
    id: &TraceId,
    view: &TraceView,
    now: Instant,
    m: &Metrics,
) -> Decision {
    let mut sampled = false;
    for p in policies {
        match p.policy.evaluate(id, view, now) {
            Err(e) => {
                m.evaluation_errors.with_label_values::<&str>(&[]).inc();
                tracing::debug!(policy = p.name, error = %e, "tail_sampling: sampling policy error");
            }
            Ok(d) => {
                let yes = d == Decision::Sampled;
                m.traces_sampled
                    .with_label_values(&[p.name.as_str(), if yes { "true" } else { "false" }])
                    .inc();
                match d {
                    Decision::Dropped => return Decision::Dropped,
                    Decision::Sampled => {
                        sampled = true;
                        if sample_on_first_match {
                            break;
                        }
                    }
                    Decision::NotSampled => {}
                }
            }
        }
    }
    if sampled {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

#[async_trait]
impl Consumer for TailSamplingProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let Payload::Traces(req) = batch.into_payload() else {
            // Only traces pipelines build this processor.
            return Ok(());
        };
        let now = self.inner.ingest(req);
        self.inner.forward(now).await;
        Ok(())
    }
}

#[async_trait]
impl Processor for TailSamplingProcessor {
    async fn start(&self) -> Result<(), BuildError> {
        let inner = self.inner.clone();
        let mut stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        let sampled = inner.tick();
                        inner.forward(sampled).await;
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    /// Stops the tick, then decides every pending trace on what arrived and sends the sampled
    /// ones on (unless `drop_pending_traces_on_shutdown`).
    async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if self.inner.drop_pending_on_shutdown {
            return;
        }
        // Each tick decides one slot; the ring plus the current slot empties them all.
        for _ in 0..=self.inner.decision_slots {
            if !self.inner.pending() {
                break;
            }
            let sampled = self.inner.tick();
            self.inner.forward(sampled).await;
        }
    }
}

pub struct TailSamplingProcessorFactory;

impl FactoryInfo for TailSamplingProcessorFactory {
    fn type_name(&self) -> &'static str {
        "tail_sampling"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        kakehashi_component::decode_config::<TailSamplingConfig>(node, path)
    }
}

impl ProcessorFactory for TailSamplingProcessorFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = kakehashi_component::config_as::<TailSamplingConfig>(cfg);
        Ok(Arc::new(TailSamplingProcessor::new(cfg, ctx, next)))
    }
}

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
