//! Datasets in `.safetensors` files: inputs `x` and targets `y` as named tensors.
//!
//! The writer keeps files small: inputs that are exactly u8 pixels scaled to `[0, 1]` (as every
//! loader makes them) are stored as u8 and come back bit for bit; other inputs are stored as
//! f32. Class labels are stored as i64 (what PyTorch uses), values as f32.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::convert::{from_named_raw, pixel_to_unit};
use super::dataset::{Dataset, Targets};
use super::loaders::pick;
use super::options::LoadOptions;
use crate::formats::elements::{decode, encode};
use crate::formats::half::f16_to_f32;
use crate::formats::{fileio, DType, RawArray, RawData};
use crate::{NnError, Result};

/// Loads a `.safetensors` file holding inputs and targets under `options.x_key` /
/// `options.y_key` (`x` and `y` by default). Every integer and float dtype is accepted (bf16
/// and f16 are widened to f32); u8 inputs are scaled to `[0, 1]`.
///
/// ```no_run
/// use graft_nn::data::{load_safetensors, LoadOptions};
/// let data = load_safetensors("tests/data/small.safetensors", &LoadOptions::chw())?;
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn load_safetensors(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = fileio::read(path)?;
    parse_safetensors(&bytes, &file, options)
}

/// Reads a dataset from the bytes of a `.safetensors` file; `name` is used in messages.
pub fn parse_safetensors(bytes: &[u8], name: &str, options: &LoadOptions) -> Result<Dataset> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        NnError::Data(format!(
            "{name}: not a readable .safetensors file ({e}) — the file is damaged or in another format; write it again"
        ))
    })?;
    let views: BTreeMap<String, TensorView<'_>> = st.tensors().into_iter().collect();
    let x = raw_of(pick(&views, name, &options.x_key)?, name, &options.x_key)?;
    let y = raw_of(pick(&views, name, &options.y_key)?, name, &options.y_key)?;
    from_named_raw(&x, &format!("{name}[{}]", options.x_key), &y, &format!("{name}[{}]", options.y_key), options)
}

fn raw_of(view: &TensorView<'_>, file: &str, key: &str) -> Result<RawArray> {
    let dtype = match view.dtype() {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::U16 => DType::U16,
        Dtype::F16 => DType::F16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::U64 => DType::U64,
        Dtype::BF16 => {
            let data = crate::formats::half::bf16_bytes_to_f32(view.data()).collect();
            return Ok(RawArray::new(view.shape().to_vec(), RawData::F32(data))?);
        }
        other => {
            return Err(NnError::Data(format!(
                "{file}[{key}] has dtype {other:?}, which graft cannot read — store it as u8, an integer type, f16, \
                 bf16, f32 or f64"
            )))
        }
    };
    let data = match dtype {
        DType::F16 => {
            RawData::F16(view.data().chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect())
        }
        _ => decode(view.data(), dtype, false),
    };
    Ok(RawArray::new(view.shape().to_vec(), data)?)
}

impl Dataset {
    /// The dataset as `.safetensors` bytes: `x` (u8 when every input is a u8 pixel scaled to
    /// `[0, 1]`, else f32) and `y` (i64 class labels or f32 values), with
    /// `__metadata__ = {"graft": "dataset"}`.
    ///
    /// ```
    /// use graft_nn::data::{parse_safetensors, Dataset, LoadOptions, Targets};
    /// use graft_engine::Tensor;
    /// # fn main() -> graft_nn::Result<()> {
    /// let x = Tensor::from_vec(vec![0.0, 1.0, 0.2, 0.4], &[2, 2])?;
    /// let data = Dataset::new(x, Targets::Classes(vec![1, 0]))?;
    /// let bytes = data.to_safetensors()?;
    /// let back = parse_safetensors(&bytes, "memory", &LoadOptions::default())?;
    /// assert_eq!(back.x().to_vec()?, data.x().to_vec()?);
    /// # Ok(()) }
    /// ```
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let x_values = self.x().to_vec()?;
        let x = match as_pixels(&x_values) {
            Some(pixels) => RawData::U8(pixels),
            None => RawData::F32(x_values),
        };
        let y = match self.targets() {
            Targets::Classes(c) => RawData::I64(
                c.iter()
                    .map(|&l| i64::try_from(l))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| NnError::Data("a class label is too large to store as i64".into()))?,
            ),
            Targets::Values(v) => RawData::F32(v.to_vec()?),
        };
        let y_shape = match self.targets() {
            Targets::Classes(c) => vec![c.len()],
            Targets::Values(v) => v.shape().to_vec(),
        };
        let mut x_bytes = Vec::new();
        encode(&x, false, &mut x_bytes);
        let mut y_bytes = Vec::new();
        encode(&y, false, &mut y_bytes);
        let views = [
            ("x", TensorView::new(dtype_of(&x), self.x().shape().to_vec(), &x_bytes)),
            ("y", TensorView::new(dtype_of(&y), y_shape, &y_bytes)),
        ];
        let mut tensors = Vec::with_capacity(2);
        for (name, view) in views {
            tensors.push((name, view.map_err(|e| NnError::Data(format!("cannot store '{name}': {e}")))?));
        }
        let metadata = Some(HashMap::from([("graft".to_string(), "dataset".to_string())]));
        safetensors::serialize(tensors, &metadata)
            .map_err(|e| NnError::Data(format!("cannot encode the dataset as safetensors: {e}")))
    }

    /// Writes the dataset as a `.safetensors` file (see [`Dataset::to_safetensors`]). The
    /// write is atomic: a crash never leaves a half-written file.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(fileio::write_atomic(path.as_ref(), &self.to_safetensors()?)?)
    }
}

/// The u8 pixels whose scaled values are exactly `values`, if every value is one.
fn as_pixels(values: &[f32]) -> Option<Vec<u8>> {
    values
        .iter()
        .map(|&v| {
            let q = (v * 255.0).round();
            if !(0.0..=255.0).contains(&q) {
                return None;
            }
            let b = q as u8;
            (pixel_to_unit(b).to_bits() == v.to_bits()).then_some(b)
        })
        .collect()
}

fn dtype_of(data: &RawData) -> Dtype {
    match data {
        RawData::U8(_) => Dtype::U8,
        RawData::I64(_) => Dtype::I64,
        _ => Dtype::F32,
    }
}
