//! A PyTorch-style state dict from strange bytes, strictly matched against a fixed CNN.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::state_dict(data);
});
