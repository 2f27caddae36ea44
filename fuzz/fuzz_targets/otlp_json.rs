//! The OTLP/JSON ingest decoder over arbitrary bytes: never panics (deep nesting, huge numbers,
//! odd ids and encodings included).
//! Run with `cargo fuzz run otlp_json` from this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(decoded) = sextant_pipeline::decode_otlp_json(bytes) {
        // What decodes is a valid span model: it must survive a protobuf round trip.
        let encoded = decoded.encode_to_vec();
        sextant_model::otlp::TracesData::decode(encoded.as_slice()).expect("re-encoding decodes");
    }
});
