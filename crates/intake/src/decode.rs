//! Request bodies: `Content-Encoding` (identity, gzip, zstd, deflate) with a cap on the
//! decompressed size, and the payload decoders.

use std::io::Read;

use libdd_trace_protobuf::pb;
use prost::Message;

/// Why a body was refused: `TooLarge` → 413, `Bad` → 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    Bad(String),
    TooLarge(String),
}

impl Reject {
    pub fn status(&self) -> u16 {
        match self {
            Reject::Bad(_) => 400,
            Reject::TooLarge(_) => 413,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Reject::Bad(r) | Reject::TooLarge(r) => r,
        }
    }
}

/// Decompresses `body` according to `encoding` (a `Content-Encoding` value; `None` = identity),
/// refusing output larger than `max_out` bytes. The output is never allocated beyond
/// `max_out + 1` bytes, whatever the body claims, so a compression bomb costs nothing.
///
/// An unknown encoding is `Bad` (400), like any other body the intake cannot read.
pub fn decompress(body: &[u8], encoding: Option<&str>, max_out: usize) -> Result<Vec<u8>, Reject> {
    let enc = encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match enc.as_str() {
        "" | "identity" => {
            if body.len() > max_out {
                return Err(too_large(max_out));
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), "gzip", max_out),
        // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2).
        "deflate" => read_capped(flate2::read::ZlibDecoder::new(body), "deflate", max_out),
        "zstd" => {
            let dec = zstd::stream::read::Decoder::with_buffer(body)
                .map_err(|e| Reject::Bad(format!("invalid zstd body: {e}")))?;
            read_capped(dec, "zstd", max_out)
        }
        other => Err(Reject::Bad(format!(
            "unsupported Content-Encoding {other:?} (expected gzip, zstd, deflate or identity)"
        ))),
    }
}

fn too_large(max_out: usize) -> Reject {
    Reject::TooLarge(format!(
        "decompressed body exceeds the limit of {max_out} bytes"
    ))
}

fn read_capped(r: impl Read, what: &str, max_out: usize) -> Result<Vec<u8>, Reject> {
    let mut out = Vec::new();
    let mut limited = r.take(max_out as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| Reject::Bad(format!("invalid {what} body: {e}")))?;
    if out.len() > max_out {
        return Err(too_large(max_out));
    }
    Ok(out)
}

/// Decodes an `AgentPayload` and refuses one without any span. Protobuf decoding alone accepts
/// many other messages (unknown fields are skipped: a `StatsPayload` decodes as an empty
/// `AgentPayload`), and the exporter never sends an empty payload, so "no span" means "not
/// what the exporter sends".
pub fn agent_payload(raw: &[u8]) -> Result<pb::AgentPayload, Reject> {
    let p = pb::AgentPayload::decode(raw)
        .map_err(|e| Reject::Bad(format!("invalid AgentPayload protobuf: {e}")))?;
    let spans = p
        .tracer_payloads
        .iter()
        .flat_map(|tp| &tp.chunks)
        .map(|c| c.spans.len())
        .sum::<usize>();
    if spans == 0 {
        let reason = if p.idx_tracer_payloads.is_empty() {
            "AgentPayload holds no spans (tracerPayloads is empty): not a trace payload"
        } else {
            "AgentPayload holds only idxTracerPayloads (the v1 span format), which this intake does not read"
        };
        return Err(Reject::Bad(reason.into()));
    }
    Ok(p)
}

pub fn stats_payload(raw: &[u8]) -> Result<pb::StatsPayload, Reject> {
    rmp_serde::from_slice::<pb::StatsPayload>(raw)
        .map_err(|e| Reject::Bad(format!("invalid StatsPayload msgpack: {e}")))
}

pub fn json(raw: &[u8]) -> Result<serde_json::Value, Reject> {
    serde_json::from_slice(raw).map_err(|e| Reject::Bad(format!("invalid JSON: {e}")))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
