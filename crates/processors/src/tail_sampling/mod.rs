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
//!   spans are lost if it was not decided yet (logged and counted) — or, with
//!   `block_on_overflow`, waits for decisions to make room and is refused (retryably) if none
//!   comes.
//! * Shutdown decides every pending trace on what arrived (unless
//!   `drop_pending_traces_on_shutdown`).

mod config;
mod group;
mod held;
mod metrics;
mod policy;
mod rate;
mod state;

pub use config::TailSamplingConfig;

use async_trait::async_trait;
use group::TraceId;
use kakehashi_component::{
    AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer, FactoryInfo, Processor,
    ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::{ExportTraceServiceRequest, Payload, Signal};
use metrics::Metrics;
use policy::{Decision, Policy, TraceView};
use prost::Message;
use state::{Limits, Room, State};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The decision tick, fixed as in Go.
const TICK: Duration = Duration::from_secs(1);

/// Kept traces are sent on in requests of whole traces, at most this many spans each (one
/// larger trace alone): one refusal then loses little, and no request outgrows a next hop's
/// limits (a 4 MiB gRPC message holds thousands of such spans).
const FORWARD_SPANS: usize = 512;

/// Protobuf bytes of a trace's batches as a request (what `bytes_limiting` spends).
pub(crate) fn trace_size(batches: &[ResourceSpans]) -> u64 {
    batches
        .iter()
        .map(|rs| {
            let n = rs.encoded_len();
            (1 + prost::length_delimiter_len(n) + n) as u64
        })
        .sum()
}

struct NamedPolicy {
    /// The `policy` label of its metrics: Go's `<processor name>.<policy name>` for
    /// `tail_sampling/<processor name>`, the policy's name alone without one.
    label: String,
    policy: Policy,
}

/// A std mutex's guard, a poisoned lock taken over (a panic elsewhere left consistent data:
/// every update here is a single step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    limits: Limits,
    sample_on_first_match: bool,
    drop_pending_on_shutdown: bool,
    /// Held briefly by intake and by each tick's bookkeeping.
    state: Mutex<State>,
    /// `drop` policies first, then the others, each in config order; only the tick uses them,
    /// outside the state's lock, so intake never waits for the policies.
    policies: Mutex<Vec<NamedPolicy>>,
    metrics: Metrics,
    next: Arc<dyn Consumer>,
    /// Signalled after each tick's decisions (`block_on_overflow` waits on it for room).
    decided: tokio::sync::Notify,
}

/// How long intake waits for room with `block_on_overflow` before refusing (retryably, so the
/// client backs off and resends): the batch processor's wait, well inside clients' deadlines.
const ROOM_WAIT: Duration = Duration::from_secs(2);

pub struct TailSamplingProcessor {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TailSamplingProcessor {
    pub fn new(cfg: &TailSamplingConfig, ctx: &BuildContext, next: Arc<dyn Consumer>) -> Self {
        let root_wait = cfg.decision_wait_after_root_received.get();
        let limits = Limits {
            slots: (cfg.decision_wait.get().as_secs() as usize).max(1),
            root_slots: (!root_wait.is_zero()).then_some(root_wait.as_secs() as usize),
            num_traces: cfg.num_traces.max(1) as usize,
            max_trace_bytes: cfg.maximum_trace_size_bytes,
            block_on_overflow: cfg.block_on_overflow,
        };
        let (drops, others): (Vec<_>, Vec<_>) =
            cfg.policies.iter().partition(|p| p.type_ == "drop");
        let policies = (drops.into_iter().chain(others))
            .map(|p| NamedPolicy {
                label: match ctx.id.name() {
                    Some(processor) => format!("{processor}.{}", p.name),
                    None => p.name.clone(),
                },
                policy: Policy::compile(p),
            })
            .collect();
        let state = State::new(
            &limits,
            cfg.decision_cache.sampled_cache_size,
            cfg.decision_cache.non_sampled_cache_size,
        );
        let (stop, _) = watch::channel(false);
        TailSamplingProcessor {
            inner: Arc::new(Inner {
                limits,
                sample_on_first_match: cfg.sample_on_first_match,
                drop_pending_on_shutdown: cfg.drop_pending_traces_on_shutdown,
                state: Mutex::new(state),
                policies: Mutex::new(policies),
                metrics: Metrics::new(ctx),
                next,
                decided: tokio::sync::Notify::new(),
            }),
            stop,
            ticker: Mutex::new(None),
        }
    }
}

impl Inner {
    /// One tick: decides the traces whose wait is over; returns the kept ones' spans, per trace.
    fn tick(&self) -> Vec<Vec<ResourceSpans>> {
        let due = lock(&self.state).take_due(&self.metrics);
        if due.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        let decided: Vec<_> = {
            let mut policies = lock(&self.policies);
            due.into_iter()
                .map(|mut d| {
                    let batches = match d.held.take() {
                        Ok(batches) => batches,
                        Err(e) => {
                            self.metrics.undecodable.inc_by(d.span_count);
                            tracing::error!(
                                error = %e,
                                spans = d.span_count,
                                "tail_sampling: a trace's held spans could not be decoded back (nested deeper than protobuf allows); the trace is dropped"
                            );
                            return (d, Vec::new(), Decision::NotSampled);
                        }
                    };
                    let view = TraceView {
                        batches: &batches,
                        span_count: d.span_count,
                    };
                    let decision = decide(
                        &mut policies,
                        self.sample_on_first_match,
                        &d.id,
                        &view,
                        now,
                        &self.metrics,
                    );
                    // Only a kept trace's spans go on: the others' decoded copies are freed
                    // now rather than with the whole tick's.
                    let batches = if decision == Decision::Sampled {
                        batches
                    } else {
                        Vec::new()
                    };
                    (d, batches, decision)
                })
                .collect()
        };
        let mut st = lock(&self.state);
        let kept = decided
            .into_iter()
            .filter_map(|(d, batches, decision)| st.record(&d, batches, decision, &self.metrics))
            .collect();
        drop(st);
        self.decided.notify_waiters();
        kept
    }

    /// With `block_on_overflow`: files the request once its new traces fit (checked and filed
    /// under one lock), or refuses.
    async fn ingest_when_room(
        &self,
        req: ExportTraceServiceRequest,
    ) -> Result<Vec<Vec<ResourceSpans>>, ConsumeError> {
        let deadline = tokio::time::Instant::now() + ROOM_WAIT;
        loop {
            let decided = self.decided.notified();
            {
                let mut st = lock(&self.state);
                match st.room_for(&req, &self.limits) {
                    Room::Yes => return Ok(st.ingest(req, &self.limits, &self.metrics)),
                    Room::Never => {
                        return Err(ConsumeError::permanent(format!(
                            "tail_sampling: the request has more traces than num_traces ({})",
                            self.limits.num_traces
                        )))
                    }
                    Room::NotYet => {}
                }
            }
            if tokio::time::timeout_at(deadline, decided).await.is_err() {
                return Err(ConsumeError::retryable(format!(
                    "tail_sampling is full: num_traces ({}) traces are waiting for their decision",
                    self.limits.num_traces
                )));
            }
        }
    }

    /// A tick whose panic (a bug) is logged instead of ending the ticker, which would leave
    /// every later trace undecided.
    fn tick_logged(&self) -> Vec<Vec<ResourceSpans>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tick())).unwrap_or_else(
            |_| {
                tracing::error!(
                    "tail_sampling: deciding traces panicked; this tick's traces are dropped"
                );
                Vec::new()
            },
        )
    }

    /// Sends kept traces on, whole, in requests of at most [`FORWARD_SPANS`] spans. A refusal is
    /// logged and counted: the processor accepted these spans long ago (as Go's, which logs
    /// them too), and retrying here would stall every other trace's decision.
    async fn forward(&self, traces: Vec<Vec<ResourceSpans>>) {
        let mut req = ExportTraceServiceRequest::default();
        let mut spans = 0;
        for trace in traces {
            let n: usize = trace
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            if spans > 0 && spans + n > FORWARD_SPANS {
                self.send(std::mem::take(&mut req), spans).await;
                spans = 0;
            }
            req.resource_spans.extend(trace);
            spans += n;
        }
        if spans > 0 {
            self.send(req, spans).await;
        }
    }

    async fn send(&self, req: ExportTraceServiceRequest, spans: usize) {
        if let Err(e) = self.next.consume(Batch::new(req)).await {
            self.metrics.forward_failures.inc_by(spans as u64);
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
                m.evaluation_errors.inc();
                tracing::debug!(policy = p.label, error = %e, "tail_sampling: sampling policy error");
            }
            Ok(d) => {
                m.policy_decided(&p.label, d);
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
        let inner = &self.inner;
        let now = if inner.limits.block_on_overflow {
            inner.ingest_when_room(req).await?
        } else {
            lock(&inner.state).ingest(req, &inner.limits, &inner.metrics)
        };
        inner.forward(now).await;
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
                        let sampled = inner.tick_logged();
                        inner.forward(sampled).await;
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        *lock(&self.ticker) = Some(task);
        Ok(())
    }

    /// Stops the tick, then decides every pending trace on what arrived and sends the sampled
    /// ones on (unless `drop_pending_traces_on_shutdown`).
    async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.ticker).take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "tail_sampling: the decision ticker failed");
            }
        }
        if self.inner.drop_pending_on_shutdown {
            return;
        }
        // Each tick decides one slot; the ring plus the current slot empties them all.
        for _ in 0..=self.inner.limits.slots {
            if !lock(&self.inner.state).pending() {
                break;
            }
            let sampled = self.inner.tick_logged();
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
