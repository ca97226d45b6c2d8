//! PyTorch `.pth` files from strange bytes: the restricted unpickler, both layouts, views,
//! and a strict load into a fixed CNN.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::pth(data);
});
