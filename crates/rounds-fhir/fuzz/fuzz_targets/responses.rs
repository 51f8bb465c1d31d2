//! Every response parser of rounds-fhir on arbitrary bytes, as if a server
//! had sent them: `cargo +nightly fuzz run responses` in crates/rounds-fhir.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rounds_fhir::fuzzing::parse_everything(data);
});
