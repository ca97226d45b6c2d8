//! [`Dataset`]: inputs and targets held as tensors, with subsets, splits and seeded batches.

use super::batches::Batches;
use crate::{NnError, Result};
use graft_engine::{Rng, Tensor};

/// What a model is trained to predict for each sample.
#[derive(Clone, Debug)]
pub enum Targets {
    /// Integer class labels, one per sample (for cross-entropy and accuracy).
    Classes(Vec<usize>),
    /// Real-valued targets whose first axis is the sample (for MSE, or BCE with 0/1 values).
    Values(Tensor),
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class labels, when these are classes.
    pub fn as_classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(c) => Some(c),
            Targets::Values(_) => None,
        }
    }

    /// The target values, when these are values.
    pub fn as_values(&self) -> Option<&Tensor> {
        match self {
            Targets::Classes(_) => None,
            Targets::Values(v) => Some(v),
        }
    }

    /// The targets of samples `indices`, in that order. Indices must be in range.
    pub fn subset(&self, indices: &[usize]) -> Result<Targets> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(NnError::Data(format!("sample index {bad} is out of range for {n} targets")));
        }
        Ok(match self {
            Targets::Classes(c) => Targets::Classes(indices.iter().map(|&i| c[i]).collect()),
            Targets::Values(v) => Targets::Values(v.index_select(0, indices)?),
        })
    }

    /// Short description for messages: `class labels` or `values of shape [n, 1]`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Targets::Classes(_) => "class labels".into(),
            Targets::Values(v) => format!("values of shape {:?}", v.shape()),
        }
    }
}

/// Samples for training or evaluation: inputs `x` whose first axis is the sample, and one
/// target per sample.
///
/// ```
/// use graft_engine::{Rng, Tensor};
/// use graft_nn::data::{Dataset, Targets};
/// # fn main() -> graft_nn::Result<()> {
/// let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[5, 2])?;
/// let data = Dataset::new(x, Targets::Classes(vec![0, 1, 0, 1, 1]))?;
/// let (train, val) = data.train_val_split(0.2, 7)?;
/// assert_eq!((train.len(), val.len()), (4, 1));
/// let mut rng = Rng::new(0);
/// let sizes: Vec<usize> = train.batches(3, Some(&mut rng))?.map(|b| b.map(|b| b.len())).collect::<Result<_, _>>()?;
/// assert_eq!(sizes, vec![3, 1]); // the last, partial batch is kept
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Dataset {
    x: Tensor,
    targets: Targets,
}

impl Dataset {
    /// Pairs inputs with targets; their sample counts (first axes) must agree.
    pub fn new(x: Tensor, targets: Targets) -> Result<Dataset> {
        if x.rank() == 0 {
            return Err(NnError::Data(
                "dataset inputs need a first axis for the samples; got a 0-d tensor — reshape it to [n, ...]".into(),
            ));
        }
        if let Targets::Values(v) = &targets {
            if v.rank() == 0 {
                return Err(NnError::Data(
                    "dataset targets need a first axis for the samples; got a 0-d tensor — reshape it to [n, ...]"
                        .into(),
                ));
            }
        }
        let n = x.shape()[0];
        if targets.len() != n {
            return Err(NnError::Data(format!(
                "the inputs hold {n} samples (shape {:?}) but there are {} targets — give one target per sample",
                x.shape(),
                targets.len()
            )));
        }
        Ok(Dataset { x, targets })
    }

    /// The inputs, `[n, ...]`.
    pub fn x(&self) -> &Tensor {
        &self.x
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// A copy with the inputs (and value targets) on `device`, so batches are cut there and
    /// training reads nothing back per step. Class labels stay on the host.
    pub fn to_device(&self, device: &graft_engine::Device) -> Result<Dataset> {
        let targets = match &self.targets {
            Targets::Values(v) => Targets::Values(v.to_device(device)?),
            classes => classes.clone(),
        };
        Dataset::new(self.x.to_device(device)?, targets)
    }

    /// The inputs and targets, taken apart.
    pub fn into_parts(self) -> (Tensor, Targets) {
        (self.x, self.targets)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one sample's input (`[1, 28, 28]` for Fashion-MNIST in CHW layout).
    pub fn sample_shape(&self) -> &[usize] {
        &self.x.shape()[1..]
    }

    /// One more than the largest class label (`None` for value targets or no samples).
    pub fn num_classes(&self) -> Option<usize> {
        self.targets.as_classes()?.iter().max().map(|&m| m + 1)
    }

    /// The samples `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let targets = self.targets.subset(indices)?;
        Ok(Dataset { x: self.x.index_select(0, indices)?, targets })
    }

    /// The first `at` samples and the rest, in order.
    pub fn split(&self, at: usize) -> Result<(Dataset, Dataset)> {
        let n = self.len();
        if at > n {
            return Err(NnError::Data(format!("cannot split {n} samples at {at}; choose a point in 0..={n}")));
        }
        let head: Vec<usize> = (0..at).collect();
        let tail: Vec<usize> = (at..n).collect();
        Ok((self.subset(&head)?, self.subset(&tail)?))
    }

    /// A seeded random split into `(train, validation)`, with `round(n · val_fraction)`
    /// samples in the validation part. The same seed gives the same split.
    pub fn train_val_split(&self, val_fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..=1.0).contains(&val_fraction) {
            return Err(NnError::Data(format!(
                "the validation fraction must be in [0, 1], got {val_fraction} — e.g. 0.1 for 10%"
            )));
        }
        let n = self.len();
        let n_val = ((n as f64) * f64::from(val_fraction)).round() as usize;
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(seed).shuffle(&mut order);
        let (val, train) = order.split_at(n_val.min(n));
        Ok((self.subset(train)?, self.subset(val)?))
    }

    /// Batches of `batch_size` samples, in order or shuffled by `shuffle`; the last batch holds
    /// the remainder (it is kept, as PyTorch's `drop_last=False`). Each call with the same
    /// generator state gives the same order, and advances the generator, so successive epochs
    /// differ.
    pub fn batches(&self, batch_size: usize, shuffle: Option<&mut Rng>) -> Result<Batches<'_>> {
        if batch_size == 0 {
            return Err(NnError::Data("the batch size must be at least 1".into()));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(rng) = shuffle {
            rng.shuffle(&mut order);
        }
        Ok(Batches::new(self, order, batch_size))
    }
}
