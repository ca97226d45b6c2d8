//! Stored arrays ([`RawArray`]) to a [`Dataset`]: scaling, layout, labels.

use super::dataset::{Dataset, Targets};
use super::options::{ImageLayout, LoadOptions, TargetKind};
use crate::formats::{DType, RawArray, RawData};
use crate::{Fix, NnError, Result};
use graft_engine::Tensor;

/// A u8 pixel as f32 in `[0, 1]`. The writer inverts exactly this expression, so u8 images
/// survive a save/load round trip bit for bit.
pub(crate) fn pixel_to_unit(b: u8) -> f32 {
    f32::from(b) / 255.0
}

impl Dataset {
    /// Builds a dataset from stored arrays: `x` (first axis = samples) and `y` (one target per
    /// sample), converted as `options` says. Loaders use this after reading their files.
    ///
    /// ```
    /// use graft_nn::data::{Dataset, LoadOptions, Targets};
    /// use graft_nn::formats::{RawArray, RawData};
    /// # fn main() -> graft_nn::Result<()> {
    /// let x = RawArray::new(vec![2, 2, 2], RawData::U8(vec![0, 255, 51, 0, 255, 255, 0, 0]))?;
    /// let y = RawArray::new(vec![2], RawData::U8(vec![3, 1]))?;
    /// let data = Dataset::from_raw(&x, &y, &LoadOptions::flat())?;
    /// assert_eq!(data.x().shape(), &[2, 4]);
    /// assert_eq!(data.x().to_vec()?[..3], [0.0, 1.0, 0.2]);
    /// assert_eq!(data.targets().as_classes(), Some(&[3, 1][..]));
    /// # Ok(()) }
    /// ```
    pub fn from_raw(x: &RawArray, y: &RawArray, options: &LoadOptions) -> Result<Dataset> {
        from_named_raw(x, "x", y, "y", options)
    }
}

/// [`Dataset::from_raw`] with the names of the arrays' sources for messages.
pub(crate) fn from_named_raw(
    x: &RawArray,
    x_name: &str,
    y: &RawArray,
    y_name: &str,
    options: &LoadOptions,
) -> Result<Dataset> {
    let (nx, ny) = (x.shape.first().copied(), y.shape.first().copied());
    let (Some(nx), Some(ny)) = (nx, ny) else {
        let which = if nx.is_none() { x_name } else { y_name };
        return Err(NnError::Data(format!(
            "{which} holds a single scalar, not one entry per sample — store arrays whose first axis is the sample"
        )));
    };
    if nx != ny {
        return Err(NnError::Data(format!(
            "{x_name} holds {nx} samples but {y_name} holds {ny} targets — pair each inputs file with its own \
             targets file (e.g. train-images with train-labels, t10k-images with t10k-labels)"
        )));
    }
    let inputs = inputs_tensor(x, x_name, options)?;
    let targets = targets_of(y, y_name, options.targets)?;
    Dataset::new(inputs, targets)
}

fn inputs_tensor(x: &RawArray, name: &str, options: &LoadOptions) -> Result<Tensor> {
    let mut values = match &x.data {
        RawData::U8(v) => v.iter().map(|&b| pixel_to_unit(b)).collect(),
        _ => x.to_f32(),
    };
    if let Some((mean, std)) = options.normalize {
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(NnError::Data(format!(
                "normalisation needs a finite mean and a positive std, got mean {mean}, std {std}"
            )));
        }
        let inv = 1.0 / std;
        values.iter_mut().for_each(|v| *v = (*v - mean) * inv);
    }
    let n = x.shape[0];
    let shape = match options.layout {
        ImageLayout::AsStored => x.shape.clone(),
        ImageLayout::Flat => vec![n, x.shape[1..].iter().product()],
        ImageLayout::Chw => match x.shape.len() {
            3 => vec![n, 1, x.shape[1], x.shape[2]],
            4 => x.shape.clone(),
            _ => {
                return Err(NnError::fixable(
                    format!("{name} has shape {:?}; the CHW layout needs images [n, h, w] or [n, c, h, w]", x.shape),
                    Fix::FlatLayout,
                ))
            }
        },
    };
    Ok(Tensor::from_vec(values, &shape)?)
}

fn is_integer(dtype: DType) -> bool {
    matches!(dtype, DType::U8 | DType::U16 | DType::U32 | DType::U64 | DType::I8 | DType::I16 | DType::I32 | DType::I64)
}

fn targets_of(y: &RawArray, name: &str, kind: TargetKind) -> Result<Targets> {
    let one_per_sample = y.shape.len() == 1 || (y.shape.len() == 2 && y.shape[1] == 1);
    let classes = match kind {
        TargetKind::Auto => is_integer(y.dtype()) && one_per_sample,
        TargetKind::Classes => true,
        TargetKind::Values => false,
    };
    if !classes {
        return Ok(Targets::Values(Tensor::from_vec(y.to_f32(), &y.shape)?));
    }
    if !one_per_sample {
        return Err(NnError::fixable(
            format!(
                "{name} has shape {:?}, but class labels are one integer per sample ([n] or [n, 1]); for one-hot \
                 rows store their argmax",
                y.shape
            ),
            Fix::TargetsAsValues,
        ));
    }
    let labels = y.to_labels().map_err(|e| NnError::Data(format!("{name}: {e}")))?;
    Ok(Targets::Classes(labels))
}
