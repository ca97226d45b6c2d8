//! A graft model file from strange bytes: header, architecture metadata, strict loading.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = graft_nn::fuzzing::model_file(data);
});
