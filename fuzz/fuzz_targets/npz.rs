//! The NumPy .npz reader (zip + npy), and the .safetensors dataset reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::npz(data);
});
