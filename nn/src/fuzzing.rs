//! Entry points for the fuzz targets in `fuzz/` and for replaying their corpus in the normal
//! test suite (`nn/tests/fuzz_corpus.rs`). Each takes untrusted bytes and must return, never
//! panic, hang or allocate without bound; the result is only whether the input was accepted.

use crate::data::{parse_safetensors, LoadOptions};
use crate::formats::{parse_idx, parse_npy, parse_npz, parse_pth};
use crate::model_file::{load_model_from_bytes, load_state_dict_from_bytes, LoadOptions as ModelLoadOptions};
use crate::spec::{parse_spec, Spec};

/// A graft model file: header, `graft.spec` metadata, strict load.
pub fn model_file(data: &[u8]) -> bool {
    load_model_from_bytes(data, "fuzz.safetensors").is_ok()
}

/// The small CNN of the PyTorch fixtures' shape, which fuzzed state dicts are matched against.
const CNN_SPEC: &str =
    "features=[conv2d(1,4,3,padding=1),batchnorm2d(4),relu,maxpool2d(2)],flatten,classifier=[linear(16,2)]";

/// A state dict matched strictly against the small CNN of the PyTorch fixtures' shape.
pub fn state_dict(data: &[u8]) -> bool {
    let model = parse_spec(CNN_SPEC, 0).expect("the fixed spec is valid");
    let keras = data.first().is_some_and(|b| b & 1 == 1);
    let options = if keras { ModelLoadOptions::keras() } else { ModelLoadOptions::default() };
    load_state_dict_from_bytes(&model, data, options).is_ok()
}

/// The spec parser; specs small enough to build are built.
pub fn spec(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    match Spec::parse(text) {
        Ok(spec) if spec.num_elements() <= 1 << 16 => {
            let _ = spec.build(0);
            true
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// The IDX reader.
pub fn idx(data: &[u8]) -> bool {
    parse_idx(data, "fuzz.idx").is_ok()
}

/// The `.npy` reader.
pub fn npy(data: &[u8]) -> bool {
    parse_npy(data, "fuzz.npy").is_ok()
}

/// The `.npz` reader, and the same bytes as a `.safetensors` dataset.
pub fn npz(data: &[u8]) -> bool {
    let a = parse_npz(data, "fuzz.npz").is_ok();
    let b = parse_safetensors(data, "fuzz.safetensors", &LoadOptions::default()).is_ok();
    a || b
}

/// The PyTorch `.pth` reader (restricted unpickler, zip and legacy layouts, strided views), and
/// the same bytes loaded strictly into the small CNN.
pub fn pth(data: &[u8]) -> bool {
    let parsed = parse_pth(data, "fuzz.pth").is_ok();
    let model = parse_spec(CNN_SPEC, 0).expect("the fixed spec is valid");
    let loaded = load_state_dict_from_bytes(&model, data, ModelLoadOptions::default()).is_ok();
    parsed || loaded
}
