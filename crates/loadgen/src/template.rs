//! Encoded request templates and per-request stamping.
//!
//! Ids (`bytes` of fixed length 8/16) and timestamps (`fixed64`) have a fixed encoded size, so a
//! template is encoded once and each request is a copy of those bytes with the ids and
//! timestamps overwritten at known offsets. This keeps the generator's cost far below the
//! collector's (the two share the machine during a benchmark).
//!
//! Id scheme, unique across a run and across runs with different seeds (< 2^24):
//! - `span_id = (seed << 40) | sequence`, sequence 1, 2, 3… over all spans of the run;
//! - `trace_id = (splitmix64(seed ^ splitmix64(trace_sequence)) | 1) << 64 | (seed << 40) |
//!   trace_sequence`: the high half differs from trace to trace as a real SDK's random ids do.
//!   Samplers hash the whole id (the tail sampler's FNV-1a, as Go's): with a high half fixed
//!   per run, its 10 % policy kept all of a run's traces or none.

use crate::generator::{splitmix64, DraftBatch};
use std::ops::Range;

/// Largest accepted seed: the seed occupies the top 24 bits of every span id.
pub const MAX_SEED: u64 = (1 << 24) - 1;

/// The span id of span number `seq` (1-based) in a run with `seed`.
pub fn span_id(seed: u64, seq: u64) -> u64 {
    (seed << 40) | (seq & ((1 << 40) - 1))
}

/// The trace id of trace number `trace_seq` (1-based) in a run with `seed`.
pub fn trace_id(seed: u64, trace_seq: u64) -> u128 {
    let hi = splitmix64(seed ^ splitmix64(trace_seq)) | 1;
    (u128::from(hi) << 64) | u128::from(span_id(seed, trace_seq))
}

/// Recovers the sequence number from a span id of this run.
pub fn sequence_of(span_id: u64) -> u64 {
    span_id & ((1 << 40) - 1)
}

/// Where the ids and timestamps of one span sit in the encoded template.
#[derive(Debug, Clone)]
struct Slot {
    trace: u32,
    trace_id_at: usize,
    span_id_at: usize,
    /// Offset of `parent_span_id` and the parent's position in the batch.
    parent: Option<(usize, u32)>,
    start_at: usize,
    end_at: usize,
    event_at: Option<usize>,
    start_offset_ns: i64,
    duration_ns: u64,
    event_offset_ns: u64,
}

/// An encoded `ExportTraceServiceRequest` ready to be stamped.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    /// In encoded order: span `i` of a stamped request gets sequence `first_seq + i`.
    slots: Vec<Slot>,
    traces: u32,
}

impl Template {
    /// Encodes `batch` and locates its ids and timestamps.
    pub fn new(batch: &DraftBatch) -> Template {
        let bytes = prost::Message::encode_to_vec(&batch.request);
        let mut slots = Vec::with_capacity(batch.drafts.len());
        let mut draft_of_slot = Vec::with_capacity(batch.drafts.len());
        walk_spans(&bytes, |span| {
            let mut slot = Slot {
                trace: 0,
                trace_id_at: 0,
                span_id_at: 0,
                parent: None,
                start_at: 0,
                end_at: 0,
                event_at: None,
                start_offset_ns: 0,
                duration_ns: 0,
                event_offset_ns: 0,
            };
            let mut draft = usize::MAX;
            let mut parent_draft = None;
            fields(&bytes, span, |field, r| match field {
                1 => slot.trace_id_at = r.start,
                2 => {
                    slot.span_id_at = r.start;
                    draft = be_u64(&bytes[r]) as usize - 1;
                }
                4 => {
                    parent_draft = Some(be_u64(&bytes[r.clone()]) as usize - 1);
                    slot.parent = Some((r.start, 0));
                }
                7 => slot.start_at = r.start,
                8 => slot.end_at = r.start,
                11 => fields(&bytes, r, |f, r| {
                    if f == 1 {
                        slot.event_at = Some(r.start);
                    }
                }),
                _ => {}
            });
            let d = &batch.drafts[draft];
            slot.trace = d.trace;
            slot.start_offset_ns = d.start_offset_ns;
            slot.duration_ns = d.duration_ns;
            slot.event_offset_ns = d.event_offset_ns.unwrap_or(0);
            slots.push(slot);
            draft_of_slot.push((draft, parent_draft));
        });
        let mut position_of_draft = vec![0u32; batch.drafts.len()];
        for (pos, (draft, _)) in draft_of_slot.iter().enumerate() {
            position_of_draft[*draft] = pos as u32;
        }
        for (slot, (_, parent)) in slots.iter_mut().zip(&draft_of_slot) {
            if let (Some((_, p)), Some(parent)) = (slot.parent.as_mut(), parent) {
                *p = position_of_draft[*parent];
            }
        }
        assert_eq!(
            slots.len(),
            batch.drafts.len(),
            "every draft span is encoded once"
        );
        Template {
            bytes,
            slots,
            traces: batch.traces,
        }
    }

    /// Spans per stamped request.
    pub fn spans(&self) -> usize {
        self.slots.len()
    }

    /// Traces per stamped request.
    pub fn traces(&self) -> u64 {
        u64::from(self.traces)
    }

    /// Encoded size of a stamped request.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends a stamped copy to `out`: span `i` gets sequence `first_seq + i`, trace `t` gets
    /// trace sequence `first_trace + t`, and the spans end shortly before `now_ns`.
    pub fn stamp_into(
        &self,
        out: &mut Vec<u8>,
        seed: u64,
        first_seq: u64,
        first_trace: u64,
        now_ns: u64,
    ) {
        let base = out.len();
        out.extend_from_slice(&self.bytes);
        let buf = &mut out[base..];
        for (i, slot) in self.slots.iter().enumerate() {
            let tid = trace_id(seed, first_trace + u64::from(slot.trace)).to_be_bytes();
            buf[slot.trace_id_at..slot.trace_id_at + 16].copy_from_slice(&tid);
            let sid = span_id(seed, first_seq + i as u64).to_be_bytes();
            buf[slot.span_id_at..slot.span_id_at + 8].copy_from_slice(&sid);
            if let Some((at, parent)) = slot.parent {
                let pid = span_id(seed, first_seq + u64::from(parent)).to_be_bytes();
                buf[at..at + 8].copy_from_slice(&pid);
            }
            let start = now_ns.wrapping_add_signed(slot.start_offset_ns);
            buf[slot.start_at..slot.start_at + 8].copy_from_slice(&start.to_le_bytes());
            let end = start + slot.duration_ns;
            buf[slot.end_at..slot.end_at + 8].copy_from_slice(&end.to_le_bytes());
            if let Some(at) = slot.event_at {
                let t = start + slot.event_offset_ns;
                buf[at..at + 8].copy_from_slice(&t.to_le_bytes());
            }
        }
    }

    /// A stamped copy (see [`Template::stamp_into`]).
    pub fn stamp(&self, seed: u64, first_seq: u64, first_trace: u64, now_ns: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        self.stamp_into(&mut out, seed, first_seq, first_trace, now_ns);
        out
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

/// Calls `f` with the byte range of every `Span` message in an encoded
/// `ExportTraceServiceRequest` (resource_spans=1 → scope_spans=2 → spans=2).
fn walk_spans(bytes: &[u8], mut f: impl FnMut(Range<usize>)) {
    fields(bytes, 0..bytes.len(), |field, rs| {
        if field == 1 {
            fields(bytes, rs, |field, ss| {
                if field == 2 {
                    fields(bytes, ss, |field, span| {
                        if field == 2 {
                            f(span);
                        }
                    });
                }
            });
        }
    });
}

/// Calls `f(field_number, payload)` for each field of the message in `bytes[range]`; the payload
/// excludes the tag and, for length-delimited fields, the length.
fn fields(bytes: &[u8], range: Range<usize>, mut f: impl FnMut(u32, Range<usize>)) {
    let mut pos = range.start;
    while pos < range.end {
        let key = varint(bytes, &mut pos);
        let field = (key >> 3) as u32;
        let payload = match key & 7 {
            0 => {
                let start = pos;
                varint(bytes, &mut pos);
                start..pos
            }
            1 => {
                pos += 8;
                pos - 8..pos
            }
            2 => {
                let len = varint(bytes, &mut pos) as usize;
                pos += len;
                pos - len..pos
            }
            5 => {
                pos += 4;
                pos - 4..pos
            }
            wire => unreachable!("prost does not emit wire type {wire}"),
        };
        f(field, payload);
    }
}

fn varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::Generator;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;
    use std::collections::{HashMap, HashSet};

    const NOW: u64 = 1_800_000_000_000_000_000;

    fn spans(bytes: &[u8]) -> Vec<Span> {
        let request = ExportTraceServiceRequest::decode(bytes).unwrap();
        request
            .resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    fn id64(b: &[u8]) -> u64 {
        u64::from_be_bytes(b.try_into().unwrap())
    }

    #[test]
    fn stamped_ids_are_sequential_unique_and_linked() {
        let seed = 0xabcdef;
        let template = Template::new(&Generator::new(seed, 0).batch(100));
        assert_eq!(template.spans(), 100);
        let mut seen = HashSet::new();
        let mut first_trace = 1;
        for request in 0..3u64 {
            let first_seq = 1 + request * 100;
            let bytes = template.stamp(seed, first_seq, first_trace, NOW);
            assert_eq!(bytes.len(), template.encoded_len());
            let spans = spans(&bytes);
            let by_id: HashMap<u64, &Span> = spans.iter().map(|s| (id64(&s.span_id), s)).collect();
            let mut seqs: Vec<u64> = spans
                .iter()
                .map(|s| sequence_of(id64(&s.span_id)))
                .collect();
            seqs.sort_unstable();
            assert_eq!(seqs, (first_seq..first_seq + 100).collect::<Vec<_>>());
            let mut traces = HashSet::new();
            for s in &spans {
                let id = id64(&s.span_id);
                assert_eq!(id >> 40, seed);
                assert!(seen.insert(id), "duplicate span id {id:x}");
                let tid = u128::from_be_bytes(s.trace_id.as_slice().try_into().unwrap());
                let tseq = sequence_of(tid as u64);
                assert!((first_trace..first_trace + template.traces()).contains(&tseq));
                traces.insert(tid);
                assert!(s.start_time_unix_nano < NOW && s.end_time_unix_nano <= NOW);
                assert!(s.start_time_unix_nano <= s.end_time_unix_nano);
                for e in &s.events {
                    assert!(e.time_unix_nano >= s.start_time_unix_nano);
                    assert!(e.time_unix_nano <= s.end_time_unix_nano);
                }
                if !s.parent_span_id.is_empty() {
                    let parent = by_id[&id64(&s.parent_span_id)];
                    assert_eq!(parent.trace_id, s.trace_id, "parent in the same trace");
                    assert!(parent.start_time_unix_nano <= s.start_time_unix_nano);
                }
            }
            assert_eq!(traces.len() as u64, template.traces());
            first_trace += template.traces();
        }
    }

    #[test]
    fn odd_batch_sizes() {
        for n in [1, 2, 3, 7, 250] {
            let template = Template::new(&Generator::new(7, 1).batch(n));
            let spans = spans(&template.stamp(7, 1, 1, NOW));
            assert_eq!(spans.len(), n);
            assert_eq!(
                spans.iter().filter(|s| s.parent_span_id.is_empty()).count() as u64,
                template.traces()
            );
        }
    }

    #[test]
    fn trace_ids_carry_the_seed() {
        assert_eq!(span_id(3, 5), (3 << 40) | 5);
        assert_ne!(trace_id(3, 1), trace_id(4, 1));
        assert_ne!(trace_id(3, 1) >> 64, 0);
        // The leading bytes vary from trace to trace, as random ids' do.
        let leading: std::collections::HashSet<u8> =
            (1..=64).map(|t| (trace_id(3, t) >> 120) as u8).collect();
        assert!(
            leading.len() > 32,
            "{} distinct leading bytes",
            leading.len()
        );
    }
}
