//! Model files: `.safetensors` with graft's architecture in the header.
//!
//! A graft file holds every state-dict tensor (parameters and buffers, named as PyTorch names
//! them: `features.0.weight`, `1.running_mean`) as F32, and in the header's `__metadata__` the
//! architecture (`graft.spec`, in the [spec language](crate::spec)) and the format version
//! (`graft.format` = `"1"`), so [`load_model`] needs nothing but the file. A plain PyTorch
//! `state_dict` saved with `safetensors.torch.save_file` loads against an architecture given as
//! a spec string ([`load_model_with_spec`]) or built in code ([`load_state_dict`]).
//!
//! Loading is strict: every tensor of the model must be in the file with its shape (a
//! one-element tensor also fits a scalar, as exporters write PyTorch's `num_batches_tracked`
//! as `[]` or `[1]`), and the file must hold nothing else; otherwise one [`NnError::Model`] lists every missing,
//! unexpected, mis-shaped and unreadable tensor, and the model is left unchanged. F16, BF16,
//! F64 and integer tensors (PyTorch's int64 `num_batches_tracked`) are converted to f32.
//! Values are written into the model's existing tensors, so every clone and slice sharing
//! them sees the new values.
//!
//! Saving is atomic: the bytes go to a temporary file in the same directory, which is synced
//! to disk and then renamed over the target, so a crash leaves the old file or the new one,
//! never half of one.
//!
//! ```
//! use graft_nn::{load_model, parse_spec, save_model, Module};
//! let model = parse_spec("flatten,linear(4,3),relu,linear(3,2)", 7)?;
//! let path = std::env::temp_dir().join(format!("graft-doc-{}.safetensors", std::process::id()));
//! save_model(&model, &path)?;
//! let back = load_model(&path)?;
//! assert_eq!(back.spec(), model.spec());
//! assert_eq!(back.state_dict()[0].1.to_vec()?, model.state_dict()[0].1.to_vec()?);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), graft_nn::NnError>(())
//! ```

pub(crate) mod read;
mod strict;
mod summary;
pub(crate) mod write;

pub use summary::{FileSummary, TensorSummary};

use crate::module::Module;
use crate::sequential::Sequential;
use crate::spec::{parse_spec, Spec};
use crate::{NnError, Result};
use graft_engine::Tensor;
use std::path::Path;

/// Metadata key of the architecture spec.
pub const SPEC_KEY: &str = "graft.spec";
/// Metadata key of the file format version.
pub const FORMAT_KEY: &str = "graft.format";
/// The format version this graft writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// How [`load_state_dict`] maps a file onto a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The file stores dense kernels the Keras way, `[in, out]`, where graft (like PyTorch)
    /// uses `[out, in]`. With this option a 2-D `*.weight` tensor whose shape is the transpose
    /// of the model's is transposed while loading; a square one is transposed when it belongs
    /// to a `linear` layer of a `Sequential` tree (embedding tables, which Keras also stores
    /// `[num, dim]`, are left alone). Names must already follow graft's (`0.weight`, not
    /// `dense/kernel:0`), and convolution kernels are not remapped.
    pub keras_dense_transpose: bool,
}

/// Saves `model` atomically as a graft `.safetensors` file (F32 tensors, spec and format in
/// the metadata). On error nothing is written under `path`.
pub fn save_model(model: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let bytes = write::encode(model)?;
    write::write_atomic(path.as_ref(), &bytes)
}

/// The bytes [`save_model`] would write.
pub fn model_to_bytes(model: &dyn Module) -> Result<Vec<u8>> {
    write::encode(model)
}

/// Loads a graft model file: the architecture from its metadata, then the tensors (strictly).
///
/// Layers start in training mode, as freshly built ones do; call
/// [`set_training(false)`](Module::set_training) before inference.
pub fn load_model(path: impl AsRef<Path>) -> Result<Sequential> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    load_model_parsed(&bytes, &path.display().to_string(), &|part| bytes.release(part))
}

/// [`load_model`] on bytes already in memory; `label` names them in errors.
pub fn load_model_from_bytes(bytes: &[u8], label: &str) -> Result<Sequential> {
    load_model_parsed(bytes, label, &|_| {})
}

fn load_model_parsed(bytes: &[u8], label: &str, release: &dyn Fn(&[u8])) -> Result<Sequential> {
    let file = read::parse(bytes, label)?;
    let spec = file.metadata.get(SPEC_KEY).ok_or_else(|| {
        NnError::Model(format!(
            "{}: the file has no `{SPEC_KEY}` metadata, so it does not say its architecture (a PyTorch \
             state_dict?); load it with load_model_with_spec(path, \"<spec>\")",
            file.label
        ))
    })?;
    match file.metadata.get(FORMAT_KEY).map(String::as_str) {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(NnError::Model(format!(
                "{}: graft model format {v:?}; this graft reads format {FORMAT_VERSION:?} — use a newer graft",
                file.label
            )))
        }
        None => {
            return Err(NnError::Model(format!("{}: `{SPEC_KEY}` is present but `{FORMAT_KEY}` is not", file.label)))
        }
    }
    let parsed = Spec::parse(spec)
        .map_err(|e| NnError::Model(format!("{}: the stored architecture does not parse: {e}", file.label)))?;
    // The architecture is only text: refuse one that needs more values than the file holds
    // before allocating it (a 100-byte file must not make graft allocate gigabytes).
    let stored: u128 = file.tensors.values().map(|t| t.shape.iter().map(|&d| d as u128).product::<u128>()).sum();
    if parsed.num_elements() > stored {
        return Err(NnError::Model(format!(
            "{}: the stored architecture needs {} values but the file holds only {stored}; the file is damaged",
            file.label,
            parsed.num_elements()
        )));
    }
    let model = parsed.build(0);
    strict::load_into(&model, &file, LoadOptions::default(), release)?;
    Ok(model)
}

/// Builds `spec` and loads a plain state-dict file (e.g. PyTorch's) into it.
///
/// ```no_run
/// let cnn = graft_nn::load_model_with_spec(
///     "mnist_cnn.safetensors",
///     "features=[conv2d(1,32,3,padding=1),relu,maxpool2d(2),conv2d(32,64,3,padding=1),relu,maxpool2d(2)],\
///      flatten,classifier=[linear(3136,128),relu,linear(128,10)]",
/// )?;
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_model_with_spec(path: impl AsRef<Path>, spec: &str) -> Result<Sequential> {
    let model = parse_spec(spec, 0)?;
    load_state_dict(&model, path, LoadOptions::default())?;
    Ok(model)
}

/// Loads the tensors of a `.safetensors` file into `model`, strictly (see the [module](self)).
pub fn load_state_dict(model: &dyn Module, path: impl AsRef<Path>, options: LoadOptions) -> Result<()> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    let file = read::parse(&bytes, &path.display().to_string())?;
    strict::load_into(model, &file, options, &|part| bytes.release(part))
}

/// [`load_state_dict`] from the bytes of a `.safetensors` file.
pub fn load_state_dict_from_bytes(model: &dyn Module, bytes: &[u8], options: LoadOptions) -> Result<()> {
    let file = read::parse(bytes, "<safetensors bytes>")?;
    strict::load_into(model, &file, options, &|_| {})
}

/// Names, dtypes, shapes and metadata of a `.safetensors` file (values are not converted).
pub fn inspect(path: impl AsRef<Path>) -> Result<FileSummary> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    Ok(FileSummary::of(&read::parse(&bytes, &path.display().to_string())?))
}

/// Every tensor of a `.safetensors` file converted to f32, in natural name order (for
/// reference data and quick looks; models load with [`load_state_dict`]).
pub fn read_tensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    let file = read::parse(&bytes, &path.display().to_string())?;
    let mut out = Vec::with_capacity(file.tensors.len());
    for (name, raw) in &file.tensors {
        let values = raw.to_f32().map_err(|e| NnError::Model(format!("{}: tensor `{name}`: {e}", file.label)))?;
        out.push((name.clone(), Tensor::from_vec(values, &raw.shape)?));
    }
    out.sort_by(|a, b| read::natural_cmp(&a.0, &b.0));
    Ok(out)
}
