//! Model files: `.safetensors` with graft's architecture in the header.
//!
//! A graft file holds every state-dict tensor (parameters and buffers, named as PyTorch names
//! them: `features.0.weight`, `1.running_mean`) as F32, and in the header's `__metadata__` the
//! architecture (`graft.spec`, in the [spec language](crate::spec)) and the format version
//! (`graft.format` = `"1"`), so [`load_model`] needs nothing but the file. A plain PyTorch
//! `state_dict` saved with `safetensors.torch.save_file` loads against an architecture given as
//! a spec string ([`load_model_with_spec`]) or built in code ([`load_state_dict`]).
//!
//! # PyTorch files
//!
//! The functions that take a state-dict file ([`load_state_dict`], [`load_model_with_spec`],
//! [`inspect`], [`read_tensors`]) also read PyTorch's own `torch.save(model.state_dict(), path)`
//! files (`.pth`, `.pt`, `.bin`, zip or legacy layout), told from `.safetensors` by their
//! first bytes, whatever their name. They are read by a restricted unpickler that runs no
//! code and refuses any object a state dict does not need (see [`crate::formats::pth`]), then
//! loaded exactly like a `.safetensors` state dict: strictly, by name, with dtype conversion.
//!
//! # Keras files
//!
//! A Keras model's weights saved to `.safetensors` (`{v.path: v.numpy() for v in
//! model.weights}`) load against a spec too, in Keras layout ([`LoadOptions::keras`], or by
//! default when the names are Keras names, [`WeightLayout::Detect`]):
//!
//! - Names: `dense/kernel`, `dense_1/bias`, `dense_2/kernel:0`, `dense.kernel`, with a prefix
//!   all names share (`sequential/`) dropped. They map by layer name when every one then names
//!   a tensor of the model (`hidden1/kernel` → `hidden1.weight` of the spec
//!   `flatten,hidden1=linear(784,100),relu,…`); otherwise by Keras' automatic names in creation
//!   order: `dense`, `dense_1`, … `dense_10` (numeric order) onto the model's `linear` layers
//!   in order, `conv2d`, … onto its `conv2d` layers, `batch_normalization`, … onto its
//!   batch norms (also `embedding` and `layer_normalization`). Other names are refused, listed,
//!   with the fix: name the spec's layers like the Keras layers.
//! - Leaves: `kernel` → `weight`, `bias` → `bias`, `gamma` → `weight`, `beta` → `bias`,
//!   `moving_mean` → `running_mean`, `moving_variance` → `running_var`, `embeddings` →
//!   `weight`. Keras keeps no `num_batches_tracked`: the model's stays. Dropout seed states
//!   (`seed_generator_state`, in `model.variables`) are not weights and are skipped.
//! - Layouts: every Dense kernel `[in, out]` is transposed to `[out, in]`, square ones included
//!   (their shape cannot show their layout, so transposing only the shapes that clash would
//!   load a wrong model), and every Conv2D kernel `[kh, kw, in, out]` becomes
//!   `[out, in, kh, kw]`. Each kernel must have exactly the Keras shape of its layer: one
//!   already in graft's layout is refused, as the file then mixes layouts.
//! - Keras' BatchNormalization defaults differ from PyTorch's: write
//!   `batchnorm2d(c,eps=0.001,momentum=0.01)`. Keras convolutions run on NHWC images, graft's on
//!   NCHW: feed graft the same images transposed, and mind that a `Flatten` after a convolution
//!   orders the features differently.
//!
//! A file of PyTorch/graft names in which some 2-D weight has the model's transposed shape is
//! refused with [`Fix::KerasLayout`] (it looks like Keras layout, in which every Dense kernel
//! must be transposed, not only the non-square ones); one read in Keras layout whose kernels all
//! have graft's own shapes, with [`Fix::TorchLayout`]. A file with both kinds of names is
//! refused as ambiguous.
//!
//! Loading is strict: every tensor of the model must be in the file with its shape (a
//! one-element tensor also fits a scalar, as exporters write PyTorch's `num_batches_tracked`
//! as `[]` or `[1]`), and the file must hold nothing else; otherwise one error lists every
//! missing, unexpected, mis-shaped and unreadable tensor ([`NnError::Model`], or
//! [`NnError::Fixable`] when a layout setting mends it), and the model is left unchanged. F16, BF16,
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

mod keras;
pub(crate) mod read;
mod strict;
mod summary;
pub(crate) mod write;

pub use summary::{FileFormat, FileSummary, TensorSummary};

use crate::module::Module;
use crate::sequential::Sequential;
use crate::spec::{parse_spec, Spec};
use crate::{Fix, NnError, Result};
use graft_engine::Tensor;
use std::path::Path;

/// Metadata key of the architecture spec.
pub const SPEC_KEY: &str = "graft.spec";
/// Metadata key of the file format version.
pub const FORMAT_KEY: &str = "graft.format";
/// The format version this graft writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// How a file stores Dense and Conv2D kernels, and so how its tensors map onto a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WeightLayout {
    /// Tell from the tensor names: Keras names (`dense/kernel`, `dense_1/bias:0`,
    /// `sequential/batch_normalization/gamma`) are read in [`Keras`](WeightLayout::Keras)
    /// layout, PyTorch/graft names (`0.weight`, `features.1.running_var`) in
    /// [`Torch`](WeightLayout::Torch) layout; a file with both kinds is refused as ambiguous.
    #[default]
    Detect,
    /// Keras layout: Dense kernels `[in, out]` and Conv2D kernels `[kh, kw, in, out]`, every
    /// one rearranged to graft's `[out, in]` / `[out, in, kh, kw]` (square ones too, whose
    /// shape cannot show their layout). Keras names are mapped onto the model's layers (see
    /// the [module](self)); a file with PyTorch/graft names has its `linear` and `conv2d`
    /// weights rearranged and is refused when they already have the model's shapes.
    Keras,
    /// PyTorch/graft layout: tensors load by name, as stored, whatever the names look like (a
    /// PyTorch module may call a parameter `gamma`); a refusal of a file with Keras names
    /// names [`Fix::KerasLayout`].
    Torch,
}

/// How [`load_state_dict`] maps a file onto a model. The default detects the layout from the
/// tensor names ([`WeightLayout::Detect`]).
///
/// ```
/// use graft_nn::model_file::{LoadOptions, WeightLayout};
/// assert_eq!(LoadOptions::default().layout, WeightLayout::Detect);
/// assert_eq!(LoadOptions::keras().layout, WeightLayout::Keras);
/// assert_eq!(LoadOptions::torch().layout, WeightLayout::Torch);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LoadOptions {
    /// How the file stores its kernels.
    pub layout: WeightLayout,
}

impl LoadOptions {
    /// Detect the layout from the tensor names (the default).
    pub const fn detect() -> Self {
        LoadOptions { layout: WeightLayout::Detect }
    }

    /// Read the file in Keras layout: every Dense kernel transposed from `[in, out]`, every
    /// Conv2D kernel rearranged from `[kh, kw, in, out]`.
    pub const fn keras() -> Self {
        LoadOptions { layout: WeightLayout::Keras }
    }

    /// Read the file as a PyTorch/graft state dict: by name, as stored.
    pub const fn torch() -> Self {
        LoadOptions { layout: WeightLayout::Torch }
    }
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
        NnError::fixable(
            format!(
                "{}: the file has no `{SPEC_KEY}` metadata, so it does not say its architecture (a PyTorch or \
                 Keras state_dict?)",
                file.label
            ),
            Fix::GiveSpec,
        )
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
    strict::load_into(&model, &file, LoadOptions::torch(), release)?;
    Ok(model)
}

/// Builds `spec` and loads a plain state-dict file (PyTorch's, or Keras' with the layout
/// detected from the names; see [`load_model_with_spec_options`]) into it.
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
    load_model_with_spec_options(path, spec, LoadOptions::default())
}

/// Builds `spec` and loads a plain state-dict file into it, in the layout `options` says.
///
/// A Keras model `Sequential([Input((784,)), Dense(100, relu), Dense(10)])`, its weights saved
/// as `{v.path: v.numpy() for v in model.weights}` with `safetensors.numpy.save_file`:
///
/// ```no_run
/// use graft_nn::{load_model_with_spec_options, model_file::LoadOptions};
/// let mlp = load_model_with_spec_options(
///     "keras_mlp.safetensors",
///     "linear(784,100),relu,linear(100,10)",
///     LoadOptions::keras(),
/// )?;
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_model_with_spec_options(path: impl AsRef<Path>, spec: &str, options: LoadOptions) -> Result<Sequential> {
    let model = parse_spec(spec, 0)?;
    load_state_dict(&model, path, options)?;
    Ok(model)
}

/// Loads the tensors of a state-dict file (`.safetensors`, or a PyTorch `.pth`/`.pt`/`.bin`)
/// into `model`, strictly and in the layout `options` says (see the [module](self)).
///
/// ```no_run
/// use graft_nn::{load_state_dict, model_file::LoadOptions, parse_spec};
/// let model = parse_spec("features=[conv2d(1,4,3,padding=1),batchnorm2d(4),relu,maxpool2d(2)],flatten,\
///                         classifier=[linear(16,2)]", 0)?;
/// load_state_dict(&model, "cnn.pth", LoadOptions::default())?; // torch.save(model.state_dict(), "cnn.pth")
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_state_dict(model: &dyn Module, path: impl AsRef<Path>, options: LoadOptions) -> Result<()> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    let file = read::parse(&bytes, &path.display().to_string())?;
    strict::load_into(model, &file, options, &|part| bytes.release(part))
}

/// [`load_state_dict`] in PyTorch layout, skipping the file tensors named in `ignored`.
pub(crate) fn load_state_dict_ignoring(model: &dyn Module, path: &Path, ignored: &[&str]) -> Result<()> {
    let bytes = read::read_file(path)?;
    let file = read::parse(&bytes, &path.display().to_string())?;
    strict::load_torch_ignoring(model, &file, ignored, &|part| bytes.release(part))
}

/// [`load_state_dict`] from the bytes of a `.safetensors` or PyTorch `.pth` file.
pub fn load_state_dict_from_bytes(model: &dyn Module, bytes: &[u8], options: LoadOptions) -> Result<()> {
    let label = if crate::formats::is_pth(bytes) { "<pth bytes>" } else { "<safetensors bytes>" };
    let file = read::parse(bytes, label)?;
    strict::load_into(model, &file, options, &|_| {})
}

/// Names, dtypes, shapes and metadata of a `.safetensors` or PyTorch `.pth` file (values are
/// not converted).
pub fn inspect(path: impl AsRef<Path>) -> Result<FileSummary> {
    let path = path.as_ref();
    let bytes = read::read_file(path)?;
    Ok(FileSummary::of(&read::parse(&bytes, &path.display().to_string())?))
}

/// Every tensor of a `.safetensors` or PyTorch `.pth` file converted to f32, in natural name order (for
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
