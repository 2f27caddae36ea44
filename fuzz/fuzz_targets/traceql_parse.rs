//! The TraceQL parser over arbitrary text: parsing, validation and printing never panic, and a
//! parsed query prints as text that parses back to the same tree.
//! Run with `cargo fuzz run traceql_parse` from this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(query) = sextant_traceql::parse(text) else {
        return;
    };
    let _ = query.validate();
    let shown = query.to_string();
    let again = sextant_traceql::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?} does not parse: {e}"));
    assert_eq!(again, query, "{text:?} printed as {shown:?}");
});
