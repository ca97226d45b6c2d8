//! The IDX reader (plain and gzip).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::idx(data);
});
