//! Max and average 2-D pooling over `[n, c, h, w]`.
//!
//! Derivatives: max → g routed to the position that won each window; avg → g/(kh·kw) spread
//! over each window (padding counts, as PyTorch's default `count_include_pad=True`).

use crate::{Error, Result, Tensor};
use graft_kernels::cpu::Pool2dGeometry;

/// Window, stride and padding of a pooling op, per spatial axis `(h, w)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dOptions {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dOptions {
    /// A square `k × k` window with stride `k` and no padding (PyTorch's default stride).
    pub fn square(k: usize) -> Self {
        Pool2dOptions { kernel: (k, k), stride: (k, k), padding: (0, 0) }
    }
}

impl Tensor {
    /// Max pooling; PyTorch's `max_pool2d` in floor mode.
    pub fn max_pool2d(&self, opts: Pool2dOptions) -> Result<Tensor> {
        let (g, out_shape) = geometry("max_pool2d", self.shape(), opts)?;
        let n_out: usize = out_shape.iter().product();
        let flops = (n_out * opts.kernel.0 * opts.kernel.1) as u64;
        let (out, idx) = self.storage().max_pool2d(&g, flops, n_out)?;
        // The winners' positions, kept on the input's device for the backward kernel.
        let winners = Tensor::from_parts(idx, out_shape.clone(), None);
        let in_shape = self.shape().to_vec();
        Ok(Tensor::from_op(out, out_shape, "max_pool2d", &[self], move || {
            move |dy: &Tensor, _: &[bool]| {
                let n_in: usize = in_shape.iter().product();
                let dx = dy.storage().max_pool2d_backward(&winners.storage(), &g, n_in)?;
                Ok(vec![Some(Tensor::from_storage(dx, &in_shape)?)])
            }
        }))
    }

    /// Average pooling; PyTorch's `avg_pool2d` with `count_include_pad=True`.
    pub fn avg_pool2d(&self, opts: Pool2dOptions) -> Result<Tensor> {
        let (g, out_shape) = geometry("avg_pool2d", self.shape(), opts)?;
        let n_out: usize = out_shape.iter().product();
        let flops = (n_out * opts.kernel.0 * opts.kernel.1) as u64;
        let out = self.storage().avg_pool2d(&g, flops, n_out)?;
        let in_shape = self.shape().to_vec();
        Ok(Tensor::from_op(out, out_shape, "avg_pool2d", &[self], move || {
            move |dy: &Tensor, _: &[bool]| {
                let n_in: usize = in_shape.iter().product();
                let dx = dy.storage().avg_pool2d_backward(&g, flops, n_in)?;
                Ok(vec![Some(Tensor::from_storage(dx, &in_shape)?)])
            }
        }))
    }
}

fn geometry(op: &'static str, x: &[usize], opts: Pool2dOptions) -> Result<(Pool2dGeometry, Vec<usize>)> {
    let bad = |reason: String| Error::BadShape { op, shape: x.to_vec(), reason };
    if x.len() != 4 {
        return Err(bad("pooling needs a [n, c, h, w] input".into()));
    }
    if opts.stride.0 == 0 || opts.stride.1 == 0 || opts.kernel.0 == 0 || opts.kernel.1 == 0 {
        return Err(bad("kernel and stride must be at least 1".into()));
    }
    if 2 * opts.padding.0 > opts.kernel.0 || 2 * opts.padding.1 > opts.kernel.1 {
        return Err(bad(format!("padding {:?} must be at most half the kernel {:?}", opts.padding, opts.kernel)));
    }
    let g = Pool2dGeometry {
        planes: x[0] * x[1],
        h: x[2],
        w: x[3],
        kh: opts.kernel.0,
        kw: opts.kernel.1,
        stride: opts.stride,
        padding: opts.padding,
    };
    match (g.out_h(), g.out_w()) {
        (Some(oh), Some(ow)) => Ok((g, vec![x[0], x[1], oh, ow])),
        _ => Err(bad(format!("the {:?} window is larger than the padded input", opts.kernel))),
    }
}

#[cfg(test)]
mod tests {
    use super::Pool2dOptions;
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    #[test]
    fn pooling_passes_the_gradient_check() {
        let mut rng = Rng::new(8);
        // Distinct values keep the max away from ties, where it is not differentiable.
        let x = Tensor::from_vec((0..2 * 2 * 5 * 5).map(|_| rng.uniform(-1.0, 1.0)).collect(), &[2, 2, 5, 5]).unwrap();
        for opts in [Pool2dOptions::square(2), Pool2dOptions { kernel: (3, 2), stride: (1, 2), padding: (1, 1) }] {
            check_gradients(|t| t[0].max_pool2d(opts), std::slice::from_ref(&x), GradCheck::default()).unwrap();
            check_gradients(|t| t[0].avg_pool2d(opts), std::slice::from_ref(&x), GradCheck::default()).unwrap();
        }
    }

    #[test]
    fn pooling_refuses_bad_windows() {
        let x = Tensor::zeros(&[1, 1, 2, 2]);
        assert!(x.max_pool2d(Pool2dOptions::square(3)).unwrap_err().to_string().contains("larger than the padded"));
        assert!(Tensor::zeros(&[4, 4])
            .avg_pool2d(Pool2dOptions::square(2))
            .unwrap_err()
            .to_string()
            .contains("[n, c, h, w]"));
    }
}
