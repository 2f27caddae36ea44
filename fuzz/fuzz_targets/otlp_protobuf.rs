//! The OTLP protobuf ingest decoder over arbitrary bytes: never panics, and whatever decodes
//! re-encodes to something that decodes to the same value.
//! Run with `cargo fuzz run otlp_protobuf` from this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(decoded) = sextant_pipeline::decode_otlp_protobuf(bytes) {
        let again = sextant_model::otlp::TracesData::decode(decoded.encode_to_vec().as_slice())
            .expect("our own encoding decodes");
        // NaN doubles compare unequal to themselves; compare the encodings instead.
        assert_eq!(again.encode_to_vec(), decoded.encode_to_vec());
    }
});
