//! gzip for request bodies, reusing one deflate state per thread and level.
//!
//! A fresh deflate state is ~300 KB of tables that the compressor zeroes and touches on every
//! request; at the seed config's 100-span batches that set-up cost, and the page faults of the
//! fresh memory, were a third of the time spent in gzip (docs/performance.md). `reset` keeps the
//! tables, so only the first body of each thread and level pays for them.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;

/// The gzip member header: deflate, no name, no mtime, unknown OS; byte 8 (XFL) is set per level.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// XFL as Go's compress/gzip writes it: 4 for the fastest level, 2 for the best.
fn xfl(level: u32) -> u8 {
    match level {
        1 => 4,
        9 => 2,
        _ => 0,
    }
}

thread_local! {
    /// Raw-deflate states by level (index 0–9), created on first use.
    static STATES: RefCell<[Option<Compress>; 10]> = const { RefCell::new([const { None }; 10]) };
}

/// gzip at `level` (0–9, clamped), as sent with `Content-Encoding: gzip`.
pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let level = level.min(9);
    STATES.with(|states| {
        let mut states = states.borrow_mut();
        let state = states[level as usize]
            .get_or_insert_with(|| Compress::new(Compression::new(level), false));
        state.reset();
        encode(state, bytes, xfl(level))
    })
}

fn encode(state: &mut Compress, bytes: &[u8], xfl: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    out[8] = xfl;
    let mut input = bytes;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let before = state.total_in();
        // Compressing into a Vec cannot fail; the stream ends with `StreamEnd`.
        let status = state
            .compress_vec(input, &mut out, FlushCompress::Finish)
            .unwrap_or(Status::StreamEnd);
        input = &input[(state.total_in() - before) as usize..];
        if status == Status::StreamEnd {
            break;
        }
    }
    let mut crc = Crc::new();
    crc.update(bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(z)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    #[test]
    fn round_trips_and_reuses_state_cleanly() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let small = b"hello hello hello hello".repeat(100);
        // Alternate sizes on one thread: a reset state must not leak the previous stream.
        for data in [&big[..], &small[..], b"", &big[..], &small[..]] {
            let z = gzip(data, 1);
            assert_eq!(gunzip(&z), data);
        }
        assert!(gzip(&small, 1).len() < small.len());
    }

    #[test]
    fn every_level_decodes_with_go_header_flags() {
        let data = b"{\"k\":\"v\"}".repeat(500);
        for (level, flag) in [(0, 0), (1, 4), (6, 0), (9, 2)] {
            let z = gzip(&data, level);
            assert_eq!(z[8], flag, "level {level}");
            assert_eq!(gunzip(&z), data, "level {level}");
        }
    }

    #[test]
    fn out_of_range_level_is_clamped() {
        let data = b"abc".repeat(10);
        assert_eq!(gunzip(&gzip(&data, 42)), data);
    }
}
