use crate::module::{ModeFlag, Module};
use graft_engine::{grad_enabled, no_grad, Error, Result, Tensor};

/// Batch normalisation over the channel axis 1 of `[n, c]` (`BatchNorm1d`, also `[n, c, l]`)
/// or `[n, c, h, w]` (`BatchNorm2d`), with PyTorch's semantics: training mode normalises with
/// the batch's statistics (biased variance) and updates the running statistics with
/// `running = (1 − momentum)·running + momentum·batch` (unbiased variance); eval mode uses the
/// running statistics. Its state dict matches PyTorch's: `weight`, `bias`, `running_mean`,
/// `running_var`, `num_batches_tracked`.
pub struct BatchNorm {
    spatial_dims: usize,
    pub eps: f32,
    pub momentum: f32,
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub num_batches_tracked: Tensor,
    training: ModeFlag,
}

impl BatchNorm {
    /// `BatchNorm1d(num_features)` with PyTorch's defaults (eps 1e-5, momentum 0.1).
    pub fn new_1d(num_features: usize) -> Self {
        BatchNorm::new(1, num_features, 1e-5, 0.1)
    }

    /// `BatchNorm2d(num_features)` with PyTorch's defaults.
    pub fn new_2d(num_features: usize) -> Self {
        BatchNorm::new(2, num_features, 1e-5, 0.1)
    }

    /// `spatial_dims` is 1 for `BatchNorm1d`, 2 for `BatchNorm2d`.
    pub fn new(spatial_dims: usize, num_features: usize, eps: f32, momentum: f32) -> Self {
        let c = [num_features];
        BatchNorm {
            spatial_dims,
            eps,
            momentum,
            weight: Tensor::ones(&c).requires_grad_(true).expect("fresh tensors are leaves"),
            bias: Tensor::zeros(&c).requires_grad_(true).expect("fresh tensors are leaves"),
            running_mean: Tensor::zeros(&c),
            running_var: Tensor::ones(&c),
            num_batches_tracked: Tensor::scalar(0.0),
            training: ModeFlag::new(true),
        }
    }

    pub fn num_features(&self) -> usize {
        self.weight.numel()
    }

    /// Eval mode's map `y = x · scale + shift` per channel: `scale = weight / √(running_var + ε)`,
    /// `shift = bias − running_mean · scale` (differentiable in `weight` and `bias`).
    fn eval_affine(&self) -> Result<(Tensor, Tensor)> {
        let scale = self.weight.div(&self.running_var.add_scalar(self.eps)?.sqrt()?)?;
        let shift = self.bias.sub(&self.running_mean.mul(&scale)?)?;
        Ok((scale, shift))
    }

    /// Eval mode's `(scale, shift)` as constants, for a preceding convolution to apply in its
    /// epilogue ([`Tensor::conv2d_fused`](graft_engine::Tensor::conv2d_fused)); `None` when
    /// this layer cannot be folded: in training mode (batch statistics), as a 1-d BatchNorm, or
    /// when gradients are being recorded and its `weight` or `bias` requires one.
    pub fn frozen_affine(&self) -> Result<Option<(Tensor, Tensor)>> {
        let trainable = self.weight.requires_grad() || self.bias.requires_grad();
        if self.training.get() || self.spatial_dims != 2 || (trainable && grad_enabled()) {
            return Ok(None);
        }
        no_grad(|| self.eval_affine()).map(Some)
    }

    /// `x` viewed as `[n, c, s]` (s = spatial positions).
    fn as_ncs(&self, x: &Tensor) -> Result<Tensor> {
        let ok_rank = if self.spatial_dims == 2 { x.rank() == 4 } else { x.rank() == 2 || x.rank() == 3 };
        if !ok_rank || x.shape()[1] != self.num_features() {
            let want = if self.spatial_dims == 2 { "[n, c, h, w]" } else { "[n, c] or [n, c, l]" };
            return Err(Error::ShapeMismatch {
                op: "batch_norm",
                lhs: x.shape().to_vec(),
                rhs: vec![self.num_features()],
                hint: format!("expects {want} with c = {}", self.num_features()),
            });
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        x.reshape(&[n, c, x.numel() / (n * c).max(1)])
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let xs = self.as_ncs(x)?;
        let c = self.num_features();
        let per_channel = |t: &Tensor| t.reshape(&[1, c, 1]);
        let y = if self.training.get() {
            let count = xs.numel() / c;
            if count < 2 {
                return Err(Error::BadShape {
                    op: "batch_norm",
                    shape: x.shape().to_vec(),
                    reason: "training mode needs more than one value per channel; use a larger batch or eval mode"
                        .into(),
                });
            }
            let mean = xs.mean(2, true)?.mean(0, true)?;
            let centred = xs.sub(&mean)?;
            let var = centred.square()?.mean(2, true)?.mean(0, true)?;
            no_grad(|| -> Result<()> {
                let m = self.momentum;
                let unbiased = var.mul_scalar(count as f32 / (count - 1) as f32)?.reshape(&[c])?;
                let rm = self.running_mean.mul_scalar(1.0 - m)?.add(&mean.reshape(&[c])?.mul_scalar(m)?)?;
                let rv = self.running_var.mul_scalar(1.0 - m)?.add(&unbiased.mul_scalar(m)?)?;
                self.running_mean.set_data(&rm)?;
                self.running_var.set_data(&rv)?;
                self.num_batches_tracked.set_data(&self.num_batches_tracked.add_scalar(1.0)?)
            })?;
            centred
                .div(&var.add_scalar(self.eps)?.sqrt()?)?
                .mul(&per_channel(&self.weight)?)?
                .add(&per_channel(&self.bias)?)?
        } else {
            // Fold the statistics into one scale and shift: two passes over the batch.
            let (scale, shift) = self.eval_affine()?;
            xs.mul(&per_channel(&scale)?)?.add(&per_channel(&shift)?)?
        };
        y.reshape(x.shape())
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone()), ("bias".into(), self.bias.clone())]
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
            ("num_batches_tracked".into(), self.num_batches_tracked.clone()),
        ]
    }
    fn set_training(&self, training: bool) {
        self.training.set(training)
    }
    fn as_batch_norm(&self) -> Option<&BatchNorm> {
        Some(self)
    }
    fn is_training(&self) -> bool {
        self.training.get()
    }
    fn spec(&self) -> String {
        let mut s = format!("batchnorm{}d({}", self.spatial_dims, self.num_features());
        if self.eps != 1e-5 {
            s += &format!(",eps={}", self.eps);
        }
        if self.momentum != 0.1 {
            s += &format!(",momentum={}", self.momentum);
        }
        s + ")"
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        let bn = BatchNorm {
            spatial_dims: self.spatial_dims,
            eps: self.eps,
            momentum: self.momentum,
            weight: self.weight.deep_clone()?,
            bias: self.bias.deep_clone()?,
            running_mean: self.running_mean.deep_clone()?,
            running_var: self.running_var.deep_clone()?,
            num_batches_tracked: self.num_batches_tracked.deep_clone()?,
            training: ModeFlag::new(self.training.get()),
        };
        Ok(Box::new(bn))
    }
}
