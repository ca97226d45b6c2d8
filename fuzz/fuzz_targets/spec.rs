//! The architecture spec-string parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::spec(data);
});
