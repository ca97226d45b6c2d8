//! Loaders for the dataset files people have: IDX pairs (MNIST, Fashion-MNIST), `.npy` pairs,
//! `.npz` archives, and (in [`super::safetensors`]) `.safetensors` files.

use std::collections::BTreeMap;
use std::path::Path;

use super::convert::from_named_raw;
use super::dataset::Dataset;
use super::options::LoadOptions;
use crate::formats::{read_idx, read_npy, read_npz};
use crate::{NnError, Result};

/// Loads an IDX images file and its labels file (MNIST, Fashion-MNIST; gzipped or not).
///
/// u8 pixels are scaled to `[0, 1]`; labels become [`Targets::Classes`](super::Targets::Classes).
///
/// ```no_run
/// use graft_nn::data::{load_idx, LoadOptions};
/// let train = load_idx(
///     "fashion-mnist/train-images-idx3-ubyte.gz",
///     "fashion-mnist/train-labels-idx1-ubyte.gz",
///     &LoadOptions::chw(),
/// )?;
/// assert_eq!(train.x().shape(), &[60000, 1, 28, 28]);
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let x = read_idx(images)?;
    let y = read_idx(labels)?;
    from_named_raw(&x, &images.display().to_string(), &y, &labels.display().to_string(), options)
}

/// Loads inputs and targets from two `.npy` files (`np.save("x.npy", x)`, `np.save("y.npy", y)`).
///
/// ```no_run
/// use graft_nn::data::{load_npy, LoadOptions};
/// let data = load_npy("x.npy", "y.npy", &LoadOptions::default())?;
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_npy(x: impl AsRef<Path>, y: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
    let (x_path, y_path) = (x.as_ref(), y.as_ref());
    let (x, y) = (read_npy(x_path)?, read_npy(y_path)?);
    from_named_raw(&x, &x_path.display().to_string(), &y, &y_path.display().to_string(), options)
}

/// Loads a `.npz` archive holding inputs and targets under `options.x_key` / `options.y_key`
/// (`x` and `y` by default: `np.savez("data.npz", x=x, y=y)`).
///
/// ```no_run
/// use graft_nn::data::{load_npz, LoadOptions};
/// // Keras' mnist.npz
/// let train = load_npz("mnist.npz", &LoadOptions::flat().keys("x_train", "y_train"))?;
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_npz(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let arrays = read_npz(path)?;
    let x = pick(&arrays, &file, &options.x_key)?;
    let y = pick(&arrays, &file, &options.y_key)?;
    from_named_raw(x, &format!("{file}[{}]", options.x_key), y, &format!("{file}[{}]", options.y_key), options)
}

/// Loads a dataset file by its extension: `.npz` or `.safetensors` (both hold `x` and `y`).
/// IDX and `.npy` datasets come as two files: use [`load_idx`] or [`load_npy`].
pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("npz") => load_npz(path, options),
        Some("safetensors") => super::safetensors::load_safetensors(path, options),
        _ => Err(NnError::Data(format!(
            "{}: cannot tell the dataset format from the name — expected .npz or .safetensors; for IDX or .npy \
             pairs use load_idx or load_npy",
            path.display()
        ))),
    }
}

/// The array called `key`, or an error listing the names the file does hold.
pub(crate) fn pick<'a, V>(arrays: &'a BTreeMap<String, V>, file: &str, key: &str) -> Result<&'a V> {
    arrays.get(key).ok_or_else(|| missing_key(file, key, arrays.keys().map(String::as_str)))
}

pub(crate) fn missing_key<'a>(file: &str, key: &str, names: impl Iterator<Item = &'a str>) -> NnError {
    let names: Vec<&str> = names.collect();
    NnError::Data(format!(
        "{file} has no array named '{key}' (it holds: {}) — save the inputs as 'x' and the targets as 'y', or name \
         the arrays to read with LoadOptions::keys",
        if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
    ))
}
