//! Protobuf encoding of an `AgentPayload` that measures every span once.
//!
//! prost writes a nested message as its length followed by its fields, and asks every nested
//! message for its length again at every level: for `AgentPayload → TracerPayload → TraceChunk
//! → Span`, `encode_to_vec` walks each span's meta and metrics maps four times. Spans are
//! nearly all of a payload's bytes, so here the span lengths are computed once, bottom-up, and
//! the envelope, payload and chunk headers (everything but their repeated message field) are
//! encoded by prost. Header fields come before the repeated field rather than in tag order;
//! protobuf readers accept fields in any order, and the tests check the result decodes to the
//! same message as prost's own encoding.
//!
//! A translated payload's spans lack the resource meta entries they share
//! (`kakehashi_datadog_translate::SharedMeta`); those are written after each span's own fields,
//! from their encoding made once per payload.

use kakehashi_datadog_translate::model;
use kakehashi_datadog_translate::SharedMeta;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use std::sync::Arc;

const AGENT_PAYLOAD_TRACER_PAYLOADS: u32 = 5;
const TRACER_PAYLOAD_CHUNKS: u32 = 6;
const TRACE_CHUNK_SPANS: u32 = 3;

/// Encoded size of a length-delimited field `tag` whose content is `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn write_field_header(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// The encoded size of every span of a `TracerPayload`, in chunk then span order, and the
/// payload's own encoded size: one walk over the spans' maps. `shared_len` is the size of the
/// shared meta entries each span gets on top of its own. [`crate::payload`] measures with it to
/// cut payloads, and [`encode_measured`] writes with the same numbers.
pub(crate) fn measure_tracer_payload(
    tp: &model::TracerPayload,
    shared_len: usize,
    span_lens: &mut Vec<usize>,
) -> usize {
    let header = tp.header().encoded_len();
    header
        + tp.chunks
            .iter()
            .map(|c| {
                field_len(
                    TRACER_PAYLOAD_CHUNKS,
                    measure_chunk(c, shared_len, span_lens),
                )
            })
            .sum::<usize>()
}

/// [`measure_tracer_payload`] for one chunk: its encoded size, spans' sizes into `span_lens`.
pub(crate) fn measure_chunk(
    c: &model::TraceChunk,
    shared_len: usize,
    span_lens: &mut Vec<usize>,
) -> usize {
    let header = c.header().encoded_len();
    header
        + c.spans
            .iter()
            .map(|span| {
                let len = span.encoded_len() + shared_len;
                span_lens.push(len);
                field_len(TRACE_CHUNK_SPANS, len)
            })
            .sum::<usize>()
}

/// Encodes `p` (decodes to the same message as `p.encode_to_vec()`).
pub fn encode_agent_payload(p: &model::AgentPayload) -> Vec<u8> {
    let mut span_lens = Vec::new();
    for tp in &p.tracer_payloads {
        measure_tracer_payload(tp, 0, &mut span_lens);
    }
    encode_measured(p, &[], &span_lens)
}

/// Encodes `p` given the encoded size of each of its spans, in payload, chunk, span order (what
/// [`measure_tracer_payload`] collects), so that no span is measured again. `shared[i]` holds the
/// meta entries every span of `p.tracer_payloads[i]` has besides its own (none past its end).
pub(crate) fn encode_measured(
    p: &model::AgentPayload,
    shared: &[Arc<SharedMeta>],
    span_lens: &[usize],
) -> Vec<u8> {
    let envelope = p.header();
    // Headers and lengths from the bottom up; the spans' own sizes are given.
    struct Planned {
        header: Vec<u8>,
        len: usize,
    }
    let mut lens = span_lens.iter().copied();
    let mut chunk_plans = Vec::new();
    let mut tp_plans = Vec::with_capacity(p.tracer_payloads.len());
    for tp in &p.tracer_payloads {
        let header = tp.header().encode_to_vec();
        let mut len = header.len();
        for c in &tp.chunks {
            let header = c.header().encode_to_vec();
            let spans: usize = c
                .spans
                .iter()
                .map(|_| field_len(TRACE_CHUNK_SPANS, lens.next().expect("a size per span")))
                .sum();
            let chunk_len = header.len() + spans;
            len += field_len(TRACER_PAYLOAD_CHUNKS, chunk_len);
            chunk_plans.push(Planned {
                header,
                len: chunk_len,
            });
        }
        tp_plans.push(Planned { header, len });
    }
    debug_assert!(lens.next().is_none(), "more sizes than spans");
    let total = envelope.encoded_len()
        + tp_plans
            .iter()
            .map(|t| field_len(AGENT_PAYLOAD_TRACER_PAYLOADS, t.len))
            .sum::<usize>();

    let mut buf = Vec::with_capacity(total);
    envelope.encode_raw(&mut buf);
    let mut lens = span_lens.iter();
    let mut chunk_plans = chunk_plans.iter();
    for (i, (tp, plan)) in p.tracer_payloads.iter().zip(&tp_plans).enumerate() {
        let shared = shared.get(i).map_or(&[][..], |s| s.encoded());
        write_field_header(AGENT_PAYLOAD_TRACER_PAYLOADS, plan.len, &mut buf);
        buf.extend_from_slice(&plan.header);
        for c in &tp.chunks {
            let plan = chunk_plans.next().expect("a plan per chunk");
            write_field_header(TRACER_PAYLOAD_CHUNKS, plan.len, &mut buf);
            buf.extend_from_slice(&plan.header);
            for span in &c.spans {
                write_field_header(TRACE_CHUNK_SPANS, *lens.next().expect("size"), &mut buf);
                span.encode_raw(&mut buf);
                buf.extend_from_slice(shared);
            }
        }
    }
    debug_assert_eq!(buf.len(), total, "span sizes do not match the payload");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use libdd_trace_protobuf::pb;
    use std::collections::HashMap;

    fn span(id: u64, meta: usize) -> model::Span {
        model::Span {
            service: "svc".into(),
            name: "op".into(),
            resource: "GET /x".into(),
            trace_id: 9,
            span_id: id,
            parent_id: id.saturating_sub(1),
            start: 1_700_000_000_000_000_000,
            duration: 1234,
            error: (id % 2) as i32,
            meta: (0..meta)
                .map(|i| (format!("k{i}").into(), "v".repeat(i * 40).into()))
                .collect(),
            metrics: [("_top_level".into(), 1.0)].into_iter().collect(),
            r#type: "web".into(),
        }
    }

    fn payload() -> model::AgentPayload {
        let chunk = |ids: std::ops::Range<u64>| model::TraceChunk {
            priority: 1,
            origin: "lambda".into(),
            spans: ids.map(|i| span(i, 8)).collect(),
            tags: HashMap::from([("_dd.otlp_sr".to_string(), "1.00".to_string())]),
            dropped_trace: false,
        };
        model::AgentPayload {
            host_name: "h".into(),
            env: "none".into(),
            tracer_payloads: vec![
                model::TracerPayload {
                    container_id: "c".into(),
                    language_name: "go".into(),
                    tracer_version: "otlp-1".into(),
                    chunks: vec![chunk(1..4), chunk(10..200)],
                    env: "prod".into(),
                    hostname: "h1".into(),
                    ..Default::default()
                },
                model::TracerPayload {
                    chunks: vec![chunk(300..301)],
                    ..Default::default()
                },
                // Empty payloads and chunks are encoded too (prost writes them as well).
                model::TracerPayload::default(),
            ],
            agent_version: "datadogexporter-kakehashi-0.1.0".into(),
            target_tps: 10.0,
            error_tps: 10.0,
            ..Default::default()
        }
    }

    #[test]
    fn decodes_to_what_prost_encodes_with_the_same_size() {
        let p = payload();
        let ours = encode_agent_payload(&p);
        let prost = pb::AgentPayload::from(p.clone()).encode_to_vec();
        assert_eq!(ours.len(), prost.len());
        assert_eq!(
            pb::AgentPayload::decode(&ours[..]).unwrap(),
            p.clone().into()
        );
    }

    #[test]
    fn empty_payload() {
        let p = model::AgentPayload::default();
        assert_eq!(
            encode_agent_payload(&p),
            pb::AgentPayload::from(p).encode_to_vec()
        );
    }

    #[test]
    fn big_spans_need_multi_byte_lengths() {
        let mut p = payload();
        p.tracer_payloads[0].chunks[0].spans[0] = span(1, 200); // ~800 kB of meta
        let ours = encode_agent_payload(&p);
        assert_eq!(
            ours.len(),
            pb::AgentPayload::from(p.clone()).encode_to_vec().len()
        );
        assert_eq!(
            pb::AgentPayload::decode(&ours[..]).unwrap(),
            p.clone().into()
        );
    }
}
