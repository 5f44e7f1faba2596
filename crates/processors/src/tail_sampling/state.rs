//! The traces held and their schedule: which tick decides each trace, the `num_traces` bound,
//! the decision caches, and what a decision does with a trace's spans. Only bookkeeping: the
//! policies run outside this state's lock (`super::Inner::tick`).

use super::group::{by_trace, TraceId};
use super::held::HeldSpans;
use super::metrics::Metrics;
use super::policy::Decision;
use hashlink::LruCache;
use kakehashi_pdata::proto::trace::v1::ResourceSpans;
use kakehashi_pdata::ExportTraceServiceRequest;
use std::collections::{HashMap, HashSet, VecDeque};

/// What the configuration fixes about the schedule and the bounds.
pub(super) struct Limits {
    /// Ticks from a trace's first span to its decision (`decision_wait` in whole seconds, ≥ 1).
    pub slots: usize,
    /// Ticks from a root span to the decision, when `decision_wait_after_root_received` is set.
    pub root_slots: Option<usize>,
    pub num_traces: usize,
    /// `maximum_trace_size_bytes` (0: none).
    pub max_trace_bytes: u64,
    /// `block_on_overflow`: a trace still waiting is never evicted; intake waits instead.
    pub block_on_overflow: bool,
}

/// Whether a request's new traces fit under `num_traces`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Room {
    Yes,
    /// Not now: traces waiting for their decision fill it.
    NotYet,
    /// Never: the request alone has more new traces than `num_traces`.
    Never,
}

struct Trace {
    /// The spans received and not yet decided, as protobuf.
    held: HeldSpans,
    span_count: u64,
    /// Protobuf bytes received (each batch's `ResourceSpans`, as Go counts them).
    size_bytes: u64,
    decision: Option<Decision>,
    /// Its policies are running (taken out by [`State::take_due`], not yet recorded).
    deciding: bool,
    /// Which trace this is among those that had this id (an id can come back after it left).
    seq: u64,
    /// The tick that decides it.
    due: u64,
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

/// A trace whose wait is over, taken out for its policies.
pub(super) struct Due {
    pub id: TraceId,
    seq: u64,
    /// Its spans, still encoded: decoding is the caller's, outside the state's lock (only
    /// spans arriving while the policies run are decoded under it, by [`State::record`]).
    pub held: HeldSpans,
    pub span_count: u64,
}

pub(super) struct State {
    traces: HashMap<TraceId, Trace>,
    /// Ticks done.
    ticks: u64,
    /// `ring[k]`: the ids decided at tick `ticks + 1 + k`.
    ring: VecDeque<HashSet<TraceId>>,
    /// Ids first seen since the last tick, decided at tick `ticks + 1 + slots`.
    current: HashSet<TraceId>,
    /// Every new trace in arrival order, for eviction; entries of traces already gone are
    /// skipped (and compacted away).
    arrival: VecDeque<(TraceId, u64)>,
    next_seq: u64,
    sampled: DecisionCache,
    not_sampled: DecisionCache,
}

/// A root span: no parent (an all-zero parent id counts as none, as pdata's `IsEmpty`).
fn is_root(s: &kakehashi_pdata::proto::trace::v1::Span) -> bool {
    s.parent_span_id.iter().all(|b| *b == 0)
}

impl State {
    pub(super) fn new(limits: &Limits, sampled_cache: i64, not_sampled_cache: i64) -> State {
        State {
            traces: HashMap::new(),
            ticks: 0,
            ring: (0..limits.slots).map(|_| HashSet::new()).collect(),
            current: HashSet::new(),
            arrival: VecDeque::new(),
            next_seq: 0,
            sampled: DecisionCache::new(sampled_cache),
            not_sampled: DecisionCache::new(not_sampled_cache),
        }
    }

    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.traces.len()
    }

    /// A held trace's decision (`Some(None)`: not decided yet).
    #[cfg(test)]
    pub(super) fn decision_of(&self, id: &TraceId) -> Option<Option<Decision>> {
        self.traces.get(id).map(|t| t.decision)
    }

    /// Whether any trace still waits for its tick.
    pub(super) fn pending(&self) -> bool {
        !self.current.is_empty() || self.ring.iter().any(|s| !s.is_empty())
    }

    /// The schedule slot of tick `due`.
    fn slot(&mut self, due: u64) -> &mut HashSet<TraceId> {
        let k = due.saturating_sub(self.ticks + 1) as usize;
        if k < self.ring.len() {
            &mut self.ring[k]
        } else {
            &mut self.current
        }
    }

    /// Files one request's spans under their traces. Returns, per trace, the spans to send on
    /// now: late spans of sampled traces, and spans the sampled-decision cache releases.
    pub(super) fn ingest(
        &mut self,
        req: ExportTraceServiceRequest,
        lim: &Limits,
        m: &Metrics,
    ) -> Vec<Vec<ResourceSpans>> {
        let mut forward = Vec::new();
        for (id, batches) in by_trace(req) {
            let spans: u64 = batches
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum();
            if self.sampled.get(&id) {
                m.released_by_cache(true, spans);
                forward.push(batches);
                continue;
            }
            if self.not_sampled.get(&id) {
                m.released_by_cache(false, spans);
                continue;
            }
            if !self.traces.contains_key(&id) {
                self.add_trace(id, lim, m);
            }
            let has_root = batches
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .any(is_root);
            let trace = self.traces.get_mut(&id).expect("just added");
            trace.span_count += spans;
            match trace.decision {
                None if trace.deciding => trace.size_bytes += trace.held.push(&batches),
                None => {
                    trace.size_bytes += trace.held.push(&batches);
                    let (due, too_large) = (
                        trace.due,
                        lim.max_trace_bytes > 0 && trace.size_bytes > lim.max_trace_bytes,
                    );
                    if too_large {
                        m.too_large.inc();
                        trace.decision = Some(Decision::NotSampled);
                        trace.held = HeldSpans::default();
                        self.slot(due).remove(&id);
                        self.not_sampled.put(&id);
                        if self.not_sampled.enabled() {
                            self.traces.remove(&id);
                        }
                        continue;
                    }
                    if let (true, Some(k)) = (has_root, lim.root_slots) {
                        // Go's MoveToEarlierBatch: only ever earlier.
                        let earlier = self.ticks + 1 + k as u64;
                        if earlier < due {
                            trace.due = earlier;
                            self.slot(due).remove(&id);
                            self.slot(earlier).insert(id);
                        }
                    }
                }
                Some(Decision::Sampled) => forward.push(batches),
                Some(_) => {}
            }
        }
        m.on_memory.set(self.traces.len() as i64);
        forward
    }

    fn add_trace(&mut self, id: TraceId, lim: &Limits, m: &Metrics) {
        if self.traces.len() >= lim.num_traces {
            self.evict_oldest(lim);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let due = self.ticks + 1 + lim.slots as u64;
        self.arrival.push_back((id, seq));
        self.current.insert(id);
        m.new_traces.inc();
        self.traces.insert(
            id,
            Trace {
                held: HeldSpans::default(),
                span_count: 0,
                size_bytes: 0,
                decision: None,
                deciding: false,
                seq,
                due,
            },
        );
        // Entries of traces that left early (decided into a cache, too large) pile up behind
        // live ones: drop them once they outnumber the bound.
        if self.arrival.len() > 2 * lim.num_traces + 16 {
            let traces = &self.traces;
            self.arrival
                .retain(|(id, seq)| traces.get(id).is_some_and(|t| t.seq == *seq));
        }
    }

    /// With `block_on_overflow`: whether `req`'s new traces fit, making room by letting decided
    /// traces go (oldest first; they hold no spans, only the decision late spans follow).
    pub(super) fn room_for(&mut self, req: &ExportTraceServiceRequest, lim: &Limits) -> Room {
        let mut new: HashSet<TraceId> = HashSet::new();
        for span in req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            let id = super::group::trace_id(&span.trace_id);
            if !self.traces.contains_key(&id) {
                new.insert(id);
            }
        }
        if new.len() > lim.num_traces {
            return Room::Never;
        }
        while self.traces.len() + new.len() > lim.num_traces {
            let Some(&(id, seq)) = self.arrival.front() else {
                break;
            };
            match self.traces.get(&id) {
                Some(t) if t.seq == seq && t.decision.is_none() => return Room::NotYet,
                Some(t) if t.seq == seq => {
                    self.traces.remove(&id);
                }
                _ => {}
            }
            self.arrival.pop_front();
        }
        if self.traces.len() + new.len() > lim.num_traces {
            return Room::NotYet;
        }
        Room::Yes
    }

    /// Makes room for a new trace: the oldest held, by first arrival, goes — decided or not, as
    /// in Go; an undecided one's spans are lost (counted when its tick comes).
    fn evict_oldest(&mut self, lim: &Limits) {
        while let Some((id, seq)) = self.arrival.pop_front() {
            if self.traces.get(&id).is_none_or(|t| t.seq != seq) {
                continue;
            }
            let t = self.traces.remove(&id).expect("just found");
            if t.decision.is_none() {
                tracing::warn!(
                    num_traces = lim.num_traces,
                    spans = t.span_count,
                    "tail_sampling: num_traces reached; the oldest trace was evicted before its decision and its spans are dropped"
                );
            }
            return;
        }
    }

    /// Advances one tick and takes out the traces it decides.
    pub(super) fn take_due(&mut self, m: &Metrics) -> Vec<Due> {
        self.ticks += 1;
        let ids = self.ring.pop_front().unwrap_or_default();
        self.ring.push_back(std::mem::take(&mut self.current));
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(trace) = self.traces.get_mut(&id) else {
                // Evicted before its decision.
                m.dropped_too_early.inc();
                continue;
            };
            if trace.decision.is_some() || trace.deciding || trace.due != self.ticks {
                continue;
            }
            trace.deciding = true;
            due.push(Due {
                id,
                seq: trace.seq,
                held: std::mem::take(&mut trace.held),
                span_count: trace.span_count,
            });
        }
        due
    }

    /// Records a trace's decision; returns the spans to send on (`batches`, the decided ones
    /// decoded, and any that arrived while its policies ran) when it is sampled.
    pub(super) fn record(
        &mut self,
        due: &Due,
        mut batches: Vec<ResourceSpans>,
        decision: Decision,
        m: &Metrics,
    ) -> Option<Vec<ResourceSpans>> {
        m.trace_decided(decision);
        let sampled = decision == Decision::Sampled;
        match self.traces.get_mut(&due.id) {
            Some(t) if t.seq == due.seq => {
                t.decision = Some(decision);
                t.deciding = false;
                // Spans that arrived while the policies ran (rarely any).
                if sampled && !t.held.is_empty() {
                    match t.held.take() {
                        Ok(mut late) => batches.append(&mut late),
                        Err(e) => {
                            // Everything filed after the trace was taken for its decision.
                            let late = t.span_count.saturating_sub(due.span_count);
                            m.undecodable.inc_by(late);
                            tracing::error!(error = %e, spans = late, "tail_sampling: late spans of a sampled trace could not be decoded back; they are dropped");
                        }
                    }
                }
                t.held = HeldSpans::default();
            }
            // Evicted while its policies ran: the decision still holds for what was taken.
            _ => {}
        }
        let cache = if sampled {
            &mut self.sampled
        } else {
            &mut self.not_sampled
        };
        cache.put(&due.id);
        if cache.enabled() && self.traces.get(&due.id).is_some_and(|t| t.seq == due.seq) {
            self.traces.remove(&due.id);
        }
        m.on_memory.set(self.traces.len() as i64);
        sampled.then_some(batches)
    }
}
