//! 2-D convolution (PyTorch layouts: input `[n, c, h, w]`, weight `[o, c/groups, kh, kw]`).
//!
//! Derivatives: ∂x = col2im(Wᵀ · G) per image; ∂W = Σₙ G · im2col(xₙ)ᵀ; ∂b = Σ G over images and
//! positions. With `groups` channel groups each rule holds group by group: output channel `oc`
//! of group `oc / (o/groups)` reads, and sends gradient to, only that group's `c/groups` input
//! channels.

use crate::autograd::grad_enabled;
use crate::backend::ConvEpilogueOf;
use crate::{Error, Result, Tensor};
use graft_kernels::cpu::Conv2dGeometry;
pub use graft_kernels::cpu::ConvActivation;

/// Stride and zero padding of a convolution, per spatial axis `(h, w)`, and its channel groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between kernel positions.
    pub stride: (usize, usize),
    /// Zeros added on each side.
    pub padding: (usize, usize),
    /// PyTorch's `groups`: the input and output channels are cut into this many groups, and each
    /// output channel sees only its group's inputs. 1 is a plain convolution; `groups = c` a
    /// depthwise one (weight `[o, 1, kh, kw]`).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions { stride: (1, 1), padding: (0, 0), groups: 1 }
    }
}

impl Conv2dOptions {
    /// Square stride and padding, one group.
    pub fn square(stride: usize, padding: usize) -> Self {
        Conv2dOptions { stride: (stride, stride), padding: (padding, padding), groups: 1 }
    }

    /// The same options with `groups` channel groups.
    pub fn with_groups(self, groups: usize) -> Self {
        Conv2dOptions { groups, ..self }
    }
}

impl Tensor {
    /// Cross-correlation of `self` (`[n, c, h, w]`) with `weight` (`[o, c/groups, kh, kw]`), as
    /// PyTorch's `conv2d` without bias (see [`Tensor::conv2d_bias`] for the fused bias). `c` and
    /// `o` must both be multiples of `opts.groups`.
    pub fn conv2d(&self, weight: &Tensor, opts: Conv2dOptions) -> Result<Tensor> {
        self.conv2d_bias(weight, None, opts)
    }

    /// [`Tensor::conv2d`] plus a per-output-channel `bias` (`[o]`), PyTorch's
    /// `conv2d(x, w, b)`. The back end adds the bias with the convolution and sums its gradient
    /// with the weight gradient (on the CPU inside the same passes, which saves two passes over
    /// the output compared with a broadcast `add`).
    pub fn conv2d_bias(&self, weight: &Tensor, bias: Option<&Tensor>, opts: Conv2dOptions) -> Result<Tensor> {
        self.conv2d_fused(weight, Conv2dEpilogue { bias, ..Default::default() }, opts)
    }

    /// `act(conv2d(self, weight) · scale[oc] + bias[oc])` as one op: on the CPU the scale, bias
    /// and activation are applied to each image's output while it is still in cache, so a
    /// convolution followed by eval-mode BatchNorm (its statistics folded into `scale` and
    /// `bias`) and a ReLU6 costs one pass over the output instead of four. The GPU runs the
    /// same steps as separate kernels.
    ///
    /// Gradients flow to the input, the weight and the bias; `scale` is a constant (eval
    /// BatchNorm's folded statistics) and must not require grad while gradients are recorded.
    ///
    /// ```
    /// use graft_engine::{Conv2dEpilogue, Conv2dOptions, ConvActivation, Tensor};
    /// let x = Tensor::from_vec(vec![1.0, -2.0, 3.0, 4.0], &[1, 1, 2, 2])?;
    /// let w = Tensor::from_vec(vec![1.0], &[1, 1, 1, 1])?;
    /// let (scale, bias) = (Tensor::from_vec(vec![2.0], &[1])?, Tensor::from_vec(vec![1.0], &[1])?);
    /// let epi = Conv2dEpilogue { bias: Some(&bias), scale: Some(&scale), act: ConvActivation::Relu6 };
    /// let y = x.conv2d_fused(&w, epi, Conv2dOptions::default())?;
    /// assert_eq!(y.to_vec()?, vec![3.0, 0.0, 6.0, 6.0]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn conv2d_fused(&self, weight: &Tensor, epi: Conv2dEpilogue<'_>, opts: Conv2dOptions) -> Result<Tensor> {
        let g = geometry(self.shape(), weight.shape(), opts)?;
        for (name, t) in [("bias", epi.bias), ("scale", epi.scale)] {
            if let Some(t) = t.filter(|t| t.shape() != [g.o]) {
                return Err(Error::ShapeMismatch {
                    op: "conv2d",
                    lhs: weight.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    hint: format!("the {name} needs one value per output channel: shape [{}]", g.o),
                });
            }
        }
        if let Some(scale) = epi.scale.filter(|s| s.requires_grad() && grad_enabled()) {
            return Err(Error::BadShape {
                op: "conv2d",
                shape: scale.shape().to_vec(),
                reason: "the fused scale is a constant and cannot receive a gradient; detach it, or use \
                         conv2d_bias followed by mul to train it"
                    .into(),
            });
        }
        let (oh, ow) = (g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
        let out_shape = vec![g.n, g.o, oh, ow];
        let (bias_storage, scale_storage) = (epi.bias.map(Tensor::storage), epi.scale.map(Tensor::storage));
        let storage_epi = ConvEpilogueOf { bias: bias_storage.as_ref(), scale: scale_storage.as_ref(), act: epi.act };
        let out = self.storage().conv2d(&weight.storage(), storage_epi, &g)?;
        let (x, w) = (self.detach(), weight.detach());
        let y = (epi.act != ConvActivation::Identity).then(|| Tensor::from_parts(out.clone(), out_shape.clone(), None));
        let scale = epi.scale.map(|s| s.detach().reshape(&[1, g.o, 1, 1])).transpose()?;
        let inputs: Vec<&Tensor> = [self, weight].into_iter().chain(epi.bias).collect();
        let (with_bias, act) = (epi.bias.is_some(), epi.act);
        Ok(Tensor::from_op(out, out_shape, "conv2d", &inputs, move || {
            move |dy: &Tensor, needs: &[bool]| {
                // Back through the activation (its mask is the same from the output), then the
                // scale, to the convolution's own output.
                let mut g_conv = match (&y, act.unary_op()) {
                    (Some(y), Some(op)) => {
                        Tensor::from_storage(y.storage().unary_backward(op, &y.storage(), &dy.storage())?, y.shape())?
                    }
                    _ => dy.clone(),
                };
                // The bias is added after the scale: its gradient is the unscaled one's sum.
                let mut db_scaled = None;
                if let Some(scale) = &scale {
                    if with_bias && needs[2] {
                        db_scaled = Some(g_conv.sum_to(&[1, g.o, 1, 1])?.reshape(&[g.o])?);
                    }
                    g_conv = g_conv.mul(scale)?;
                }
                let asked = [needs[0], needs[1], with_bias && needs[2] && db_scaled.is_none()];
                let (dx, dw, db) = x.storage().conv2d_backward(&w.storage(), &g_conv.storage(), &g, asked)?;
                let mut grads = vec![
                    dx.map(|s| Tensor::from_storage(s, x.shape())).transpose()?,
                    dw.map(|s| Tensor::from_storage(s, w.shape())).transpose()?,
                ];
                if with_bias {
                    let db = db.map(|d| Tensor::from_storage(d, &[g.o])).transpose()?;
                    grads.push(db_scaled.or(db));
                }
                Ok(grads)
            }
        }))
    }
}

/// What [`Tensor::conv2d_fused`] applies to each output channel `oc`:
/// `act(conv · scale[oc] + bias[oc])`. The default is the plain convolution.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conv2dEpilogue<'a> {
    /// `[o]`, added last; it receives a gradient.
    pub bias: Option<&'a Tensor>,
    /// `[o]`, multiplying the convolution; a constant.
    pub scale: Option<&'a Tensor>,
    pub act: ConvActivation,
}

fn geometry(x: &[usize], w: &[usize], opts: Conv2dOptions) -> Result<Conv2dGeometry> {
    let mismatch = |hint: String| Error::ShapeMismatch { op: "conv2d", lhs: x.to_vec(), rhs: w.to_vec(), hint };
    if x.len() != 4 || w.len() != 4 {
        return Err(mismatch("input must be [n, c, h, w] and weight [o, c/groups, kh, kw]".into()));
    }
    check_groups(x, w, opts.groups).map_err(mismatch)?;
    if opts.stride.0 == 0 || opts.stride.1 == 0 {
        return Err(mismatch("stride must be at least 1".into()));
    }
    let g = Conv2dGeometry {
        n: x[0],
        c: x[1],
        h: x[2],
        w: x[3],
        o: w[0],
        kh: w[2],
        kw: w[3],
        stride: opts.stride,
        padding: opts.padding,
        groups: opts.groups,
    };
    if g.out_h().is_none() || g.out_w().is_none() {
        return Err(mismatch(format!(
            "the {}x{} kernel is larger than the padded {}x{} input",
            g.kh,
            g.kw,
            g.h + 2 * g.padding.0,
            g.w + 2 * g.padding.1
        )));
    }
    Ok(g)
}

/// Why `groups` does not fit input `x` and weight `w` (both 4-D), as a hint saying the fix.
fn check_groups(x: &[usize], w: &[usize], groups: usize) -> std::result::Result<(), String> {
    let (c, o) = (x[1], w[0]);
    if groups == 0 {
        return Err("groups must be at least 1 (1 is a plain convolution, c a depthwise one)".into());
    }
    if groups == 1 {
        if w[1] != c {
            return Err(format!("input has {c} channels but the weight expects {}", w[1]));
        }
        return Ok(());
    }
    if !c.is_multiple_of(groups) || !o.is_multiple_of(groups) {
        return Err(format!(
            "groups={groups} must divide both the {c} input channels and the weight's {o} output channels"
        ));
    }
    if w[1] != c / groups {
        return Err(format!(
            "with groups={groups} the weight must be [o, c/groups, kh, kw] = [{o}, {}, kh, kw] for {c} input \
             channels, but its second dimension is {}",
            c / groups,
            w[1]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Conv2dOptions;
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    #[test]
    fn conv2d_passes_the_gradient_check() {
        let mut rng = Rng::new(7);
        for (xs, ws, stride, padding) in [
            ([1, 1, 4, 4], [1, 1, 3, 3], (1, 1), (0, 0)),
            ([2, 3, 5, 4], [2, 3, 3, 2], (2, 1), (1, 0)),
            ([1, 2, 3, 3], [3, 2, 1, 1], (1, 1), (1, 1)),
        ] {
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let opts = Conv2dOptions { stride, padding, groups: 1 };
            check_gradients(|t| t[0].conv2d(&t[1], opts), &[x, w], GradCheck::default())
                .unwrap_or_else(|e| panic!("{xs:?} {ws:?}: {e}"));
        }
    }

    #[test]
    fn conv2d_with_fused_bias_passes_the_gradient_check_and_matches_a_broadcast_add() {
        let mut rng = Rng::new(8);
        // 9 images: more than one weight-gradient group, the last one partial.
        for (xs, ws, stride, padding) in
            [([9, 2, 5, 4], [3, 2, 3, 2], (1, 2), (1, 1)), ([2, 1, 4, 4], [2, 1, 2, 2], (2, 2), (0, 0))]
        {
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let b = Tensor::randn(&[ws[0]], 0.0, 1.0, &mut rng);
            let opts = Conv2dOptions { stride, padding, groups: 1 };
            check_gradients(
                |t| t[0].conv2d_bias(&t[1], Some(&t[2]), opts),
                &[x.clone(), w.clone(), b.clone()],
                GradCheck::default(),
            )
            .unwrap_or_else(|e| panic!("{xs:?} {ws:?}: {e}"));
            let fused = x.conv2d_bias(&w, Some(&b), opts).unwrap().to_vec().unwrap();
            let composed = x.conv2d(&w, opts).unwrap().add(&b.reshape(&[1, ws[0], 1, 1]).unwrap()).unwrap();
            for (f, c) in fused.iter().zip(composed.to_vec().unwrap()) {
                assert!((f - c).abs() <= 1e-6 * (1.0 + c.abs()), "{f} vs {c}");
            }
        }
        let err = Tensor::zeros(&[1, 1, 3, 3])
            .conv2d_bias(&Tensor::zeros(&[2, 1, 2, 2]), Some(&Tensor::zeros(&[3])), Conv2dOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("one value per output channel: shape [2]"), "{err}");
    }

    #[test]
    fn conv2d_fused_passes_the_gradient_check_and_matches_its_composition() {
        use super::{Conv2dEpilogue, ConvActivation};
        let mut rng = Rng::new(9);
        // A plain (im2col + GEMM), a 1×1 (no im2col) and a depthwise stride-2 convolution.
        for (xs, ws, opts) in [
            ([3, 2, 5, 4], [3, 2, 3, 2], Conv2dOptions::square(1, 1)),
            ([2, 3, 3, 3], [4, 3, 1, 1], Conv2dOptions::default()),
            ([2, 3, 6, 5], [3, 1, 3, 3], Conv2dOptions::square(2, 1).with_groups(3)),
        ] {
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let b = Tensor::randn(&[ws[0]], 0.5, 1.0, &mut rng);
            let scale = Tensor::randn(&[ws[0]], 1.0, 2.0, &mut rng);
            for act in [ConvActivation::Identity, ConvActivation::Relu, ConvActivation::Relu6] {
                let fused = |t: &[Tensor]| {
                    let epi = Conv2dEpilogue { bias: Some(&t[2]), scale: Some(&scale), act };
                    t[0].conv2d_fused(&t[1], epi, opts)
                };
                check_gradients(fused, &[x.clone(), w.clone(), b.clone()], GradCheck::default())
                    .unwrap_or_else(|e| panic!("{xs:?} {ws:?} {act:?}: {e}"));
                let got = fused(&[x.clone(), w.clone(), b.clone()]).unwrap().to_vec().unwrap();
                let per_channel = |t: &Tensor| t.reshape(&[1, ws[0], 1, 1]).unwrap();
                let z = x.conv2d(&w, opts).unwrap().mul(&per_channel(&scale)).unwrap().add(&per_channel(&b)).unwrap();
                let want = match act {
                    ConvActivation::Identity => z,
                    ConvActivation::Relu => z.relu().unwrap(),
                    ConvActivation::Relu6 => z.relu6().unwrap(),
                };
                for (f, c) in got.iter().zip(want.to_vec().unwrap()) {
                    assert!((f - c).abs() <= 1e-5 * (1.0 + c.abs()), "{xs:?} {act:?}: {f} vs {c}");
                }
            }
        }
        let trained = Tensor::ones(&[2]).requires_grad_(true).unwrap();
        let short = Tensor::ones(&[3]);
        for (scale, want) in [
            (&trained, "cannot receive a gradient"),
            (&short, "the scale needs one value per output channel: shape [2]"),
        ] {
            let epi = Conv2dEpilogue { scale: Some(scale), ..Default::default() };
            let err = Tensor::zeros(&[1, 1, 3, 3])
                .conv2d_fused(&Tensor::zeros(&[2, 1, 2, 2]), epi, Conv2dOptions::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn grouped_and_depthwise_conv2d_pass_the_gradient_check() {
        let mut rng = Rng::new(9);
        // (input, weight, stride, padding, groups): depthwise with multipliers 1 and 2, grouped,
        // odd sizes, strides 1 and 2 with padding 1, and 9 images for a partial image group.
        for (xs, ws, stride, padding, groups) in [
            ([2, 3, 5, 7], [3, 1, 3, 3], (1, 1), (1, 1), 3),
            ([2, 3, 7, 5], [6, 1, 3, 3], (2, 2), (1, 1), 3),
            ([1, 4, 5, 5], [6, 2, 3, 3], (2, 2), (1, 1), 2),
            ([9, 4, 5, 3], [6, 2, 3, 2], (1, 2), (1, 0), 2),
            ([1, 6, 4, 4], [6, 3, 1, 1], (1, 1), (0, 0), 2),
            ([2, 2, 6, 5], [4, 1, 2, 3], (2, 1), (0, 1), 2),
        ] {
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let b = Tensor::randn(&[ws[0]], 0.0, 1.0, &mut rng);
            let opts = Conv2dOptions { stride, padding, groups };
            check_gradients(|t| t[0].conv2d_bias(&t[1], Some(&t[2]), opts), &[x, w, b], GradCheck::default())
                .unwrap_or_else(|e| panic!("{xs:?} {ws:?} groups={groups}: {e}"));
        }
    }

    #[test]
    fn grouped_conv2d_is_the_concatenation_of_its_groups() {
        let mut rng = Rng::new(10);
        let x = Tensor::randn(&[2, 4, 6, 5], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[6, 2, 3, 3], 0.0, 1.0, &mut rng);
        let opts = Conv2dOptions::square(2, 1);
        let grouped = x.conv2d(&w, opts.with_groups(2)).unwrap().to_vec().unwrap();
        let halves: Vec<Vec<f32>> = (0..2)
            .map(|gi| {
                let xg = x.narrow(1, 2 * gi, 2).unwrap();
                let wg = w.narrow(0, 3 * gi, 3).unwrap();
                xg.conv2d(&wg, opts).unwrap().to_vec().unwrap()
            })
            .collect();
        // Per image: the first group's 3 output planes, then the second's.
        let plane = grouped.len() / (2 * 6);
        for (i, &got) in grouped.iter().enumerate() {
            let (n, oc, q) = (i / (6 * plane), i / plane % 6, i % plane);
            let want = halves[oc / 3][(n * 3 + oc % 3) * plane + q];
            assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "[{i}]: {got} vs {want}");
        }
    }

    #[test]
    fn conv2d_refuses_groups_that_do_not_fit_and_says_the_fix() {
        let conv = |xs: &[usize], ws: &[usize], groups| {
            let opts = Conv2dOptions::default().with_groups(groups);
            Tensor::zeros(xs).conv2d(&Tensor::zeros(ws), opts).unwrap_err().to_string()
        };
        let msg = conv(&[1, 4, 5, 5], &[4, 1, 3, 3], 0);
        assert!(msg.contains("conv2d") && msg.contains("groups must be at least 1"), "{msg}");
        let msg = conv(&[1, 6, 5, 5], &[6, 2, 3, 3], 4);
        assert!(msg.contains("[1, 6, 5, 5]") && msg.contains("groups=4 must divide both the 6 input"), "{msg}");
        let msg = conv(&[1, 4, 5, 5], &[6, 1, 3, 3], 4);
        assert!(msg.contains("weight's 6 output channels"), "{msg}");
        let msg = conv(&[1, 4, 5, 5], &[4, 4, 3, 3], 2);
        assert!(msg.contains("[4, 2, kh, kw]") && msg.contains("second dimension is 4"), "{msg}");
    }

    #[test]
    fn conv2d_flops_count_each_output_once_per_input_channel_of_its_group() {
        let g = super::geometry(&[2, 8, 5, 5], &[16, 2, 3, 3], Conv2dOptions::square(1, 1).with_groups(4)).unwrap();
        assert_eq!(g.flops(), 2 * 2 * 16 * 5 * 5 * 2 * 3 * 3);
    }

    #[test]
    fn conv2d_refuses_mismatched_channels_with_both_shapes() {
        let err =
            Tensor::zeros(&[1, 3, 5, 5]).conv2d(&Tensor::zeros(&[4, 2, 3, 3]), Conv2dOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("conv2d") && msg.contains("[1, 3, 5, 5]") && msg.contains("3 channels"), "{msg}");
        let small = Tensor::zeros(&[1, 1, 2, 2]).conv2d(&Tensor::zeros(&[1, 1, 3, 3]), Conv2dOptions::default());
        assert!(small.unwrap_err().to_string().contains("larger than the padded"));
    }
}
