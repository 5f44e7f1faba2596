//! OTLP protobuf bodies, decoded as the gRPC and HTTP receivers decode them (prost + id checks),
//! for each of the three signals; whatever decodes is re-encoded and counted, as the pipeline
//! would.
#![no_main]

use kakehashi_pdata::Signal;
use kakehashi_receiver_otlp::decode::decode_proto;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for signal in Signal::ALL {
        if let Ok(p) = decode_proto(signal, data) {
            let _ = p.item_count();
        }
    }
});
