//! `AgentPayload` assembly: wraps translated `TracerPayload`s in the envelope the trace intake
//! expects (§1.4 of the spec) and cuts them so that no request body exceeds the intake's size
//! limit, without ever losing or duplicating a span. The gzip step of the request body is in `gzip`.

use crate::encode::{measure_chunk, measure_tracer_payload};
pub use crate::gzip::gzip;
use kakehashi_datadog_translate::model;
use kakehashi_datadog_translate::{SharedMeta, TranslatedPayload};
use prost::encoding::{encoded_len_varint, key_len};
use prost::Message;
use std::sync::Arc;

/// The agent's `MaxPayloadSize`: the uncompressed size one `AgentPayload` may reach.
pub const MAX_PAYLOAD_BYTES: usize = 3_200_000;

/// The agent compresses with `gzip.BestSpeed`.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;

/// The agent's `DefaultEnv`, used as `AgentPayload.env` by the exporter.
const DEFAULT_ENV: &str = "none";
/// The sampler settings the embedded agent reports (`TargetTPS`, `ErrorTPS` defaults).
const TARGET_TPS: f64 = 10.0;
const ERROR_TPS: f64 = 10.0;

/// Who is sending: fills the `AgentPayload` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// The collector's host name (config `hostname` or detected).
    pub host_name: String,
    /// `"datadogexporter-kakehashi-<version>"`; also used in the `User-Agent`.
    pub agent_version: String,
}

/// An `AgentPayload` and the encoded size of each of its spans (payload, chunk, span order),
/// measured while cutting, so that encoding does not measure them again. Its spans lack the
/// meta entries of their tracer payload's [`SharedMeta`], which encoding adds.
/// The fields are private so that the payload cannot change under its measured sizes.
pub struct MeasuredPayload {
    payload: model::AgentPayload,
    /// One per `payload.tracer_payloads`.
    shared: Vec<Arc<SharedMeta>>,
    span_lens: Vec<usize>,
}

impl MeasuredPayload {
    /// The payload with every span's meta complete: what [`Self::encode`] encodes.
    pub fn to_full(&self) -> model::AgentPayload {
        let mut full = self.payload.clone();
        for (tp, shared) in full.tracer_payloads.iter_mut().zip(&self.shared) {
            for span in tp.chunks.iter_mut().flat_map(|c| &mut c.spans) {
                shared.copy_into(span);
            }
        }
        full
    }

    /// The protobuf body (what `encode::encode_agent_payload` gives for [`Self::to_full`]).
    pub fn encode(&self) -> Vec<u8> {
        crate::encode::encode_measured(&self.payload, &self.shared, &self.span_lens)
    }

    pub fn span_count(&self) -> usize {
        self.span_lens.len()
    }
}

/// Wraps `tracer_payloads` into as few `AgentPayload`s as possible, each of protobuf-encoded size
/// ≤ `max_bytes`, keeping the input order.
///
/// Too-large `TracerPayload`s are cut by chunks (each piece keeps the payload's header fields), and
/// too-large chunks by spans (each piece keeps priority, origin, tags and `droppedTrace`). The one
/// exception to the size bound: a single span that alone exceeds the limit (e.g. a giant meta
/// value) cannot be cut further and is not truncated here, so it goes out alone in an oversized
/// payload; the intake will most likely refuse it (413), which the client reports as a permanent
/// failure of that one payload. This keeps the function total and free of loops that make no
/// progress.
pub fn build_agent_payloads(
    info: &AgentInfo,
    tracer_payloads: Vec<model::TracerPayload>,
    max_bytes: usize,
) -> Vec<model::AgentPayload> {
    let tracer_payloads = tracer_payloads.into_iter().map(Into::into).collect();
    // Nothing is shared, so the measured payloads are complete.
    build_measured_payloads(info, tracer_payloads, max_bytes)
        .into_iter()
        .map(|m| m.payload)
        .collect()
}

/// [`build_agent_payloads`], keeping the span sizes it measured for encoding.
pub fn build_measured_payloads(
    info: &AgentInfo,
    tracer_payloads: Vec<TranslatedPayload>,
    max_bytes: usize,
) -> Vec<MeasuredPayload> {
    let envelope = model::AgentPayload {
        host_name: info.host_name.clone(),
        env: DEFAULT_ENV.to_string(),
        tracer_payloads: Vec::new(),
        tags: Default::default(),
        agent_version: info.agent_version.clone(),
        target_tps: TARGET_TPS,
        error_tps: ERROR_TPS,
        rare_sampler_enabled: false,
    };
    let budget = max_bytes.saturating_sub(envelope.header().encoded_len());

    // Each piece is measured once (a walk over every span's maps), and the sizes are kept.
    let measure = |tp: TranslatedPayload| {
        let mut span_lens = Vec::new();
        let shared_len = tp.shared.encoded().len();
        let size = field_len(
            5,
            measure_tracer_payload(&tp.payload, shared_len, &mut span_lens),
        );
        ((tp, span_lens), size)
    };
    let mut pieces = Vec::with_capacity(tracer_payloads.len());
    for tp in tracer_payloads {
        if tp.payload.chunks.is_empty() {
            // Nothing to deliver; an empty TracerPayload would only cost bytes.
            continue;
        }
        let (piece, size) = measure(tp);
        if size <= budget {
            pieces.push((piece, size));
        } else {
            let (
                TranslatedPayload {
                    payload,
                    shared,
                    key_filters,
                    resource_index,
                },
                _,
            ) = piece;
            let parts = split_tracer_payload(payload, shared.encoded().len(), budget);
            pieces.extend(parts.into_iter().map(|payload| {
                measure(TranslatedPayload {
                    payload,
                    shared: shared.clone(),
                    key_filters: key_filters.clone(),
                    resource_index,
                })
            }));
        }
    }

    pack(pieces, budget)
        .into_iter()
        .map(|group| {
            let mut span_lens = Vec::new();
            let mut tracer_payloads = Vec::with_capacity(group.len());
            let mut shared = Vec::with_capacity(group.len());
            for (tp, lens) in group {
                tracer_payloads.push(tp.payload);
                shared.push(tp.shared);
                span_lens.extend(lens);
            }
            MeasuredPayload {
                payload: model::AgentPayload {
                    tracer_payloads,
                    ..envelope.clone()
                },
                shared,
                span_lens,
            }
        })
        .collect()
}

/// Encoded size of a length-delimited field `tag` whose content is `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// The largest content size a length-delimited field may have so that the whole field (key,
/// length prefix, content) stays within `limit`. Tags used here are < 16, so the key is 1 byte.
fn content_limit(limit: usize) -> usize {
    limit.saturating_sub(1 + encoded_len_varint(limit as u64))
}

/// Cuts a `TracerPayload` into pieces whose encoded field size fits `limit`; each span will be
/// encoded with `shared_len` bytes of shared meta entries.
fn split_tracer_payload(
    mut header: model::TracerPayload,
    shared_len: usize,
    limit: usize,
) -> Vec<model::TracerPayload> {
    let chunks = std::mem::take(&mut header.chunks);
    let chunk_budget = content_limit(limit).saturating_sub(header.header().encoded_len());
    let chunk_size =
        |c: &model::TraceChunk| field_len(6, measure_chunk(c, shared_len, &mut Vec::new()));
    let mut parts = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let size = chunk_size(&chunk);
        if size <= chunk_budget {
            parts.push((chunk, size));
        } else {
            parts.extend(
                split_chunk(chunk, shared_len, chunk_budget)
                    .into_iter()
                    .map(|c| {
                        let size = chunk_size(&c);
                        (c, size)
                    }),
            );
        }
    }
    pack(parts, chunk_budget)
        .into_iter()
        .map(|group| model::TracerPayload {
            chunks: group,
            ..header.clone()
        })
        .collect()
}

/// Cuts a `TraceChunk` by spans into pieces whose encoded field size fits `limit`. Every piece
/// repeats the chunk's priority, origin, tags and dropped flag: the intake accepts partial chunks
/// of a trace (tracers flush long traces in parts too) and joins them by trace ID.
fn split_chunk(
    mut header: model::TraceChunk,
    shared_len: usize,
    limit: usize,
) -> Vec<model::TraceChunk> {
    let spans = std::mem::take(&mut header.spans);
    let span_budget = content_limit(limit).saturating_sub(header.header().encoded_len());
    let spans = spans
        .into_iter()
        .map(|s| {
            let size = field_len(3, s.encoded_len() + shared_len);
            (s, size)
        })
        .collect();
    pack(spans, span_budget)
        .into_iter()
        .map(|group| model::TraceChunk {
            spans: group,
            ..header.clone()
        })
        .collect()
}

/// Greedy, order-keeping packing of `(item, size)`s into groups whose summed size is ≤ `limit`.
/// An item larger than `limit` forms a group of its own; every item lands in exactly one group.
fn pack<T>(items: Vec<(T, usize)>, limit: usize) -> Vec<Vec<T>> {
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut used = 0usize;
    for (item, n) in items {
        if !current.is_empty() && used + n > limit {
            groups.push(std::mem::take(&mut current));
            used = 0;
        }
        used += n;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use libdd_trace_protobuf::pb;
    use std::collections::HashMap;
    use std::io::Read;

    fn info() -> AgentInfo {
        AgentInfo {
            host_name: "collector-host".into(),
            agent_version: "datadogexporter-kakehashi-0.1.0".into(),
        }
    }

    fn span(trace: u64, id: u64, meta_bytes: usize) -> model::Span {
        model::Span {
            service: "svc".into(),
            name: "op".into(),
            resource: "GET /x".into(),
            trace_id: trace,
            span_id: id,
            parent_id: 0,
            start: 1_700_000_000_000_000_000,
            duration: 1_000,
            meta: [("blob".into(), "x".repeat(meta_bytes).into())]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn chunk(spans: Vec<model::Span>) -> model::TraceChunk {
        model::TraceChunk {
            priority: 1,
            origin: "lambda".into(),
            spans,
            tags: HashMap::from([("_dd.otlp_sr".to_string(), "1.00".to_string())]),
            dropped_trace: false,
        }
    }

    fn tracer_payload(host: &str, chunks: Vec<model::TraceChunk>) -> model::TracerPayload {
        model::TracerPayload {
            container_id: "cid".into(),
            language_name: "go".into(),
            tracer_version: "otlp-1.0".into(),
            hostname: host.into(),
            env: "prod".into(),
            app_version: "1.2".into(),
            tags: HashMap::from([("_dd.tags.container".to_string(), "a:b".to_string())]),
            chunks,
            ..Default::default()
        }
    }

    fn span_ids(payloads: &[model::AgentPayload]) -> Vec<u64> {
        let mut ids: Vec<u64> = payloads
            .iter()
            .flat_map(|p| &p.tracer_payloads)
            .flat_map(|t| &t.chunks)
            .flat_map(|c| &c.spans)
            .map(|s| s.span_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn envelope_fields() {
        let out = build_agent_payloads(
            &info(),
            vec![tracer_payload("h", vec![chunk(vec![span(1, 1, 10)])])],
            MAX_PAYLOAD_BYTES,
        );
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.host_name, "collector-host");
        assert_eq!(p.env, "none");
        assert!(p.tags.is_empty());
        assert_eq!(p.agent_version, "datadogexporter-kakehashi-0.1.0");
        assert_eq!(p.target_tps, 10.0);
        assert_eq!(p.error_tps, 10.0);
        assert!(!p.rare_sampler_enabled);
        assert_eq!(p.tracer_payloads.len(), 1);
    }

    #[test]
    fn empty_input_and_empty_tracer_payloads_give_nothing() {
        assert!(build_agent_payloads(&info(), vec![], MAX_PAYLOAD_BYTES).is_empty());
        let out = build_agent_payloads(&info(), vec![tracer_payload("h", vec![])], 1000);
        assert!(out.is_empty());
    }

    #[test]
    fn small_payloads_are_packed_together() {
        let tps: Vec<_> = (0..5)
            .map(|i| tracer_payload("h", vec![chunk(vec![span(i, i, 10)])]))
            .collect();
        let out = build_agent_payloads(&info(), tps, MAX_PAYLOAD_BYTES);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].tracer_payloads.len(), 5);
    }

    #[test]
    fn big_tracer_payload_is_split_by_chunks_keeping_header() {
        // 10 chunks of ~1 kB in one TracerPayload, limit ~3.5 kB.
        let chunks = (0..10).map(|i| chunk(vec![span(i, i, 1000)])).collect();
        let tp = tracer_payload("host-a", chunks);
        let limit = 3500;
        let out = build_agent_payloads(&info(), vec![tp.clone()], limit);
        assert!(out.len() > 1);
        for p in &out {
            assert!(
                crate::encode::encode_agent_payload(p).len() <= limit,
                "{} > {limit}",
                crate::encode::encode_agent_payload(p).len()
            );
            for t in &p.tracer_payloads {
                let mut header = t.clone();
                header.chunks.clear();
                let mut want = tp.clone();
                want.chunks.clear();
                assert_eq!(header, want);
                // Chunks were not cut: each still holds its one span.
                assert!(t.chunks.iter().all(|c| c.spans.len() == 1));
            }
        }
        assert_eq!(span_ids(&out), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn big_chunk_is_split_by_spans_keeping_chunk_fields() {
        let spans = (0..20).map(|i| span(7, i, 500)).collect();
        let c = chunk(spans);
        let limit = 2000;
        let out = build_agent_payloads(&info(), vec![tracer_payload("h", vec![c])], limit);
        assert!(out.len() > 1);
        for p in &out {
            assert!(crate::encode::encode_agent_payload(p).len() <= limit);
            for c in p.tracer_payloads.iter().flat_map(|t| &t.chunks) {
                assert_eq!(c.priority, 1);
                assert_eq!(c.origin, "lambda");
                assert_eq!(c.tags.get("_dd.otlp_sr").map(String::as_str), Some("1.00"));
            }
        }
        assert_eq!(span_ids(&out), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_span_larger_than_the_limit_goes_alone_and_nothing_loops() {
        let spans = vec![span(1, 1, 10), span(1, 2, 5000), span(1, 3, 10)];
        let limit = 1000;
        let out = build_agent_payloads(
            &info(),
            vec![tracer_payload("h", vec![chunk(spans)])],
            limit,
        );
        assert_eq!(span_ids(&out), vec![1, 2, 3]);
        let oversized: Vec<_> = out
            .iter()
            .filter(|p| crate::encode::encode_agent_payload(p).len() > limit)
            .collect();
        assert_eq!(oversized.len(), 1);
        assert_eq!(span_ids(&[oversized[0].clone()]), vec![2]);
    }

    #[test]
    fn degenerate_limits_still_terminate_without_loss() {
        let tps = vec![
            tracer_payload("h", vec![chunk(vec![span(1, 1, 10), span(1, 2, 10)])]),
            tracer_payload("h", vec![chunk(vec![span(2, 3, 10)])]),
        ];
        for limit in [0, 1, 50, 200] {
            let out = build_agent_payloads(&info(), tps.clone(), limit);
            assert_eq!(span_ids(&out), vec![1, 2, 3], "limit {limit}");
        }
    }

    /// 10 000 spans, ~10 MB encoded, in a mix of shapes: many small TracerPayloads, one huge
    /// TracerPayload of many chunks, and one huge single chunk.
    #[test]
    fn ten_megabytes_no_span_lost_or_duplicated() {
        let mut tps = Vec::new();
        let mut id = 0u64;
        let mut next = |meta: usize, trace: u64| {
            id += 1;
            span(trace, id, meta)
        };
        // 4000 spans in 400 small TracerPayloads of one chunk each.
        for t in 0..400 {
            let spans = (0..10).map(|_| next(900, t)).collect();
            tps.push(tracer_payload("small", vec![chunk(spans)]));
        }
        // 3000 spans in one TracerPayload of 300 chunks.
        let chunks = (0..300)
            .map(|t| chunk((0..10).map(|_| next(1000, 1000 + t)).collect()))
            .collect();
        tps.push(tracer_payload("many-chunks", chunks));
        // 3000 spans in a single chunk.
        let spans = (0..3000).map(|_| next(1100, 5000)).collect();
        tps.push(tracer_payload("one-chunk", vec![chunk(spans)]));

        let total_in: usize = tps
            .iter()
            .map(|t| pb::TracerPayload::from(t.clone()).encoded_len())
            .sum();
        assert!(total_in > 9_000_000, "input is {total_in} bytes");

        let out = build_agent_payloads(&info(), tps, MAX_PAYLOAD_BYTES);
        assert!(out.len() >= 4);
        for p in &out {
            assert!(crate::encode::encode_agent_payload(p).len() <= MAX_PAYLOAD_BYTES);
        }
        assert_eq!(span_ids(&out), (1..=10_000).collect::<Vec<_>>());
    }

    /// Encoding with the sizes measured while cutting gives the same bytes as measuring again,
    /// for whole, cut-by-chunk, cut-by-span and oversized pieces.
    #[test]
    fn measured_encoding_is_the_reference_encoding() {
        let inputs = [
            (
                vec![tracer_payload("h", vec![chunk(vec![span(1, 1, 10)])])],
                MAX_PAYLOAD_BYTES,
            ),
            (
                (0..5)
                    .map(|i| tracer_payload("h", vec![chunk(vec![span(i, i, 10)])]))
                    .collect(),
                MAX_PAYLOAD_BYTES,
            ),
            (
                vec![tracer_payload(
                    "a",
                    (0..10).map(|i| chunk(vec![span(i, i, 1000)])).collect(),
                )],
                3500,
            ),
            (
                vec![tracer_payload(
                    "h",
                    vec![chunk((0..20).map(|i| span(7, i, 500)).collect())],
                )],
                2000,
            ),
            (
                vec![tracer_payload(
                    "h",
                    vec![chunk(vec![
                        span(1, 1, 10),
                        span(1, 2, 5000),
                        span(1, 3, 10),
                    ])],
                )],
                1000,
            ),
        ];
        for (tps, limit) in inputs {
            let translated = tps.iter().cloned().map(Into::into).collect();
            let measured = build_measured_payloads(&info(), translated, limit);
            let reference = build_agent_payloads(&info(), tps, limit);
            assert_eq!(measured.len(), reference.len());
            for (m, r) in measured.iter().zip(&reference) {
                assert_eq!(m.to_full(), *r);
                assert_eq!(m.encode(), crate::encode::encode_agent_payload(r));
                assert_eq!(
                    pb::AgentPayload::decode(&m.encode()[..]).unwrap(),
                    r.clone().into()
                );
                assert_eq!(m.span_count(), span_ids(std::slice::from_ref(r)).len());
            }
        }
    }

    #[test]
    fn gzip_round_trips() {
        let data = b"hello hello hello hello".repeat(100);
        let z = gzip(&data, DEFAULT_GZIP_LEVEL);
        assert!(z.len() < data.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // Out-of-range levels are clamped, not rejected.
        assert!(!gzip(&data, 42).is_empty());
    }

    #[test]
    fn pack_keeps_order_and_isolates_oversized() {
        let groups = pack([3, 3, 3, 10, 1, 1].map(|n| (n, n)).to_vec(), 6);
        assert_eq!(groups, vec![vec![3, 3], vec![3], vec![10], vec![1, 1]]);
    }
}
