//! The NumPy .npy reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::npy(data);
});
