//! OTLP/JSON bodies through the HTTP receiver's JSON decoder (snake_case and enum-name
//! normalisation, hex ids, id-length checks), for each of the three signals.
#![no_main]

use kakehashi_pdata::Signal;
use kakehashi_receiver_otlp::decode::decode_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for signal in Signal::ALL {
        if let Ok(p) = decode_json(signal, data) {
            let _ = p.item_count();
        }
    }
});
