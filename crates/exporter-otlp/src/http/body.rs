//! Encoding and compressing a request body.

use super::config::{Encoding, HttpCompression};
use kakehashi_pdata::Payload;
use std::io::Write;

pub fn content_type(enc: Encoding) -> &'static str {
    match enc {
        Encoding::Proto => "application/x-protobuf",
        Encoding::Json => "application/json",
    }
}

/// OTLP/JSON comes from opentelemetry-proto's serde: lowerCamelCase keys, hex trace/span ids,
/// 64-bit integers as decimal strings and enums as integers, as the OTLP spec requires; doubles
/// as otelcol writes them ([`super::json`]).
pub fn encode(payload: &Payload, enc: Encoding) -> Result<Vec<u8>, String> {
    use prost::Message;
    match enc {
        Encoding::Proto => Ok(match payload {
            Payload::Traces(r) => r.encode_to_vec(),
            Payload::Metrics(r) => r.encode_to_vec(),
            Payload::Logs(r) => r.encode_to_vec(),
        }),
        Encoding::Json => {
            super::json::encode(payload).map_err(|e| format!("failed to marshal the request: {e}"))
        }
    }
}

pub fn compress(data: Vec<u8>, c: HttpCompression, level: i32) -> Result<Vec<u8>, String> {
    let flate_level = || {
        if level <= 0 {
            flate2::Compression::default()
        } else {
            flate2::Compression::new(level as u32)
        }
    };
    let io = |e: std::io::Error| format!("failed to compress the request: {e}");
    match c {
        HttpCompression::None => Ok(data),
        HttpCompression::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate_level());
            w.write_all(&data).map_err(io)?;
            w.finish().map_err(io)
        }
        HttpCompression::Zlib | HttpCompression::Deflate => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate_level());
            w.write_all(&data).map_err(io)?;
            w.finish().map_err(io)
        }
        HttpCompression::Zstd => zstd::encode_all(data.as_slice(), level.max(0)).map_err(io),
    }
}
