//! Snappy-compressed OTLP/gRPC requests (`grpc-encoding: snappy`), which otelcol's gRPC server
//! accepts (configgrpc registers a snappy codec) and tonic does not: the request's messages are
//! decompressed here and handed to tonic uncompressed.

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Limited};
use std::io::Read;
use tonic::codegen::StdError;
use tonic::Status;

/// The request body with every compressed message inflated (snappy's framing format, as the
/// Go codec writes it) and marked uncompressed, within grpc-go's message size limit.
pub(crate) async fn decompress_frames<B>(body: B, limit: usize) -> Result<Bytes, Status>
where
    B: tonic::codegen::Body<Data = Bytes> + Send,
    B::Error: Into<StdError>,
{
    // Compressed data can be a little larger than what it holds; the inflated size is checked
    // per message below.
    let cap = limit.saturating_add(limit / 8).saturating_add(64 * 1024);
    let raw = Limited::new(body, cap)
        .collect()
        .await
        .map_err(|e| {
            Status::resource_exhausted(format!("grpc: received message larger than max: {e}"))
        })?
        .to_bytes();
    let mut rest = &raw[..];
    let mut out = BytesMut::new();
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(Status::internal("grpc: malformed message frame"));
        }
        let compressed = rest[0] == 1;
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let data = rest
            .get(5..5 + len)
            .ok_or_else(|| Status::internal("grpc: truncated message frame"))?;
        rest = &rest[5 + len..];
        let message = if compressed {
            let mut inflated = Vec::new();
            snap::read::FrameDecoder::new(data)
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| {
                    Status::internal(format!(
                        "grpc: failed to decompress the received message: {e}"
                    ))
                })?;
            if inflated.len() > limit {
                return Err(Status::resource_exhausted(format!(
                    "grpc: received message after decompression larger than max ({} vs. {limit})",
                    inflated.len()
                )));
            }
            Bytes::from(inflated)
        } else {
            Bytes::copy_from_slice(data)
        };
        out.put_u8(0);
        out.put_u32(message.len() as u32);
        out.put_slice(&message);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::io::Write;

    fn frame(flag: u8, data: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(data.len() as u32).to_be_bytes());
        f.extend_from_slice(data);
        f
    }

    fn snappy(data: &[u8]) -> Vec<u8> {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(data).unwrap();
        w.into_inner().unwrap()
    }

    #[tokio::test]
    async fn compressed_messages_are_inflated_and_marked_plain() {
        let body = [frame(1, &snappy(b"hello")), frame(0, b"raw")].concat();
        let got = decompress_frames(Full::new(Bytes::from(body)), 1024)
            .await
            .unwrap();
        assert_eq!(
            &got[..],
            &[frame(0, b"hello"), frame(0, b"raw")].concat()[..]
        );
    }

    #[tokio::test]
    async fn oversize_and_corrupt_messages_are_refused() {
        let big = frame(1, &snappy(&[0u8; 4096]));
        let e = decompress_frames(Full::new(Bytes::from(big)), 1024)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        let corrupt = frame(1, b"not snappy");
        let e = decompress_frames(Full::new(Bytes::from(corrupt)), 1024)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Internal);
    }
}
