//! Matrix multiplication, 2-D and batched, with transpose flags instead of transposed copies.
//!
//! For `C = op(A) · op(B)` with upstream gradient `G`:
//! `∂A = G · op(B)ᵀ` (stored transposed again when A is), `∂B = op(A)ᵀ · G` (likewise),
//! each summed over batch entries where the operand was shared across the batch.

use crate::{Error, Result, Tensor};
use graft_kernels::cpu::MatmulSpec;

impl Tensor {
    /// `self · rhs` over the last two axes. Leading (batch) axes must match, or one side may be
    /// a plain matrix shared by every batch entry.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
    /// assert_eq!(a.matmul(&b).unwrap().to_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.matmul_t(rhs, false, false)
    }

    /// `op(self) · op(rhs)` where `op` transposes the last two axes when its flag is set, read
    /// in place (no transposed copy is made). `x.matmul_t(&w, false, true)` is PyTorch's
    /// `x @ w.T`, the Linear layer's product.
    pub fn matmul_t(&self, rhs: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
        self.product("matmul", rhs, trans_a, trans_b, None, false)
    }

    /// A linear layer's forward pass, `self · weightᵀ + bias` (PyTorch's
    /// `torch.nn.functional.linear`): `self` is `[..., in]`, `weight` is `[out, in]` and `bias`
    /// `[out]`. The back end adds the bias to each output tile of the product (on the CPU while
    /// the tile is in cache, instead of in a second pass over the output).
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0], &[2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![10.0, 20.0], &[2]).unwrap();
    /// assert_eq!(x.linear(&w, Some(&b)).unwrap().to_vec().unwrap(), vec![13.0, 22.0]);
    /// ```
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        match bias {
            Some(_) => self.product("linear", weight, false, true, bias, false),
            None => self.matmul_t(weight, false, true),
        }
    }

    /// `relu(self · weightᵀ + bias)`: a linear layer followed by a ReLU, as `Sequential` runs
    /// that pair. The back end applies the ReLU to each output tile with the bias (on the CPU
    /// inside the GEMM, so neither costs a pass over the output), and the backward pass masks
    /// the gradient with the kept output (`∂z = g ⊙ [y > 0]`) before the linear layer's rule.
    /// Same values as the two ops, bit for bit.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, -1.0], &[2, 2]).unwrap();
    /// assert_eq!(x.linear_relu(&w, None).unwrap().to_vec().unwrap(), vec![3.0, 0.0]);
    /// ```
    pub fn linear_relu(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.product("linear_relu", weight, false, true, bias, true)
    }

    /// Every matrix product (`matmul`, `matmul_t`, `linear`, `linear_relu`): the shape checks,
    /// one dispatch to the back end, and the backward rule.
    fn product(
        &self,
        op: &'static str,
        rhs: &Tensor,
        trans_a: bool,
        trans_b: bool,
        bias: Option<&Tensor>,
        relu: bool,
    ) -> Result<Tensor> {
        if let Some(bias) = bias {
            if rhs.rank() != 2 || bias.shape() != [rhs.shape()[0]] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: rhs.shape().to_vec(),
                    rhs: bias.shape().to_vec(),
                    hint: "the weight must be [out, in] and the bias [out]".into(),
                });
            }
        }
        let plan = plan(self.shape(), rhs.shape(), trans_a, trans_b)?;
        // A 2-D operand that does not require grad (a frozen weight) may be kept transposed.
        let frozen_b = rhs.rank() == 2 && !rhs.requires_grad();
        let bias_storage = bias.map(Tensor::storage);
        let out = self.storage().matmul(op, &rhs.storage(), plan.spec, bias_storage.as_ref(), relu, frozen_b)?;
        let (a, b) = (self.detach(), rhs.detach());
        let y = relu.then(|| Tensor::from_parts(out.clone(), plan.out_shape.clone(), None));
        let inputs: Vec<&Tensor> = [Some(self), Some(rhs), bias].into_iter().flatten().collect();
        Ok(Tensor::from_op(out, plan.out_shape, op, &inputs, move || {
            move |g: &Tensor, needs: &[bool]| {
                let masked;
                let g = match &y {
                    Some(y) => {
                        masked = relu_mask(op, y, g)?;
                        &masked
                    }
                    None => g,
                };
                let da = needs[0].then(|| grad_a(&a, &b, g, trans_a, trans_b)).transpose()?;
                let db = needs[1].then(|| grad_b(&a, &b, g, trans_a, trans_b)).transpose()?;
                let mut grads = vec![da, db];
                if needs.len() > 2 {
                    grads.push(needs[2].then(|| g.sum_to(&[g.shape()[g.rank() - 1]])).transpose()?);
                }
                Ok(grads)
            }
        }))
    }
}

/// `g ⊙ [y > 0]`: the ReLU's backward rule from its output (`y > 0` exactly where its input
/// was), one pass counted as the ReLU op's backward.
fn relu_mask(op: &'static str, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    Tensor::from_storage(y.storage().relu_mask(op, &g.storage())?, y.shape())
}

fn grad_a(a: &Tensor, b: &Tensor, g: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    let d = if ta { b.matmul_t(g, tb, true)? } else { g.matmul_t(b, false, !tb)? };
    d.sum_to(a.shape())
}

fn grad_b(a: &Tensor, b: &Tensor, g: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    // A batched input against a shared matrix (a Linear layer on [batch, seq, features]): fold
    // the batch into the rows so ∂B is one product instead of a product per entry plus a sum.
    if b.rank() == 2 && a.rank() > 2 && !ta {
        let k = a.shape()[a.rank() - 1];
        let n = g.shape()[g.rank() - 1];
        let rows = a.numel() / k;
        let (a2, g2) = (a.reshape(&[rows, k])?, g.reshape(&[rows, n])?);
        return if tb { g2.matmul_t(&a2, true, false) } else { a2.matmul_t(&g2, true, false) };
    }
    let d = if tb { g.matmul_t(a, true, ta)? } else { a.matmul_t(g, !ta, false)? };
    d.sum_to(b.shape())
}

struct Plan {
    spec: MatmulSpec,
    out_shape: Vec<usize>,
}

fn plan(a: &[usize], b: &[usize], ta: bool, tb: bool) -> Result<Plan> {
    let mismatch = |hint: String| Error::ShapeMismatch { op: "matmul", lhs: a.to_vec(), rhs: b.to_vec(), hint };
    if a.len() < 2 || b.len() < 2 {
        return Err(mismatch("both operands need at least 2 axes; reshape a vector to [1, n] or [n, 1]".into()));
    }
    let (ra, rb) = (a.len(), b.len());
    let (m, ka) = if ta { (a[ra - 1], a[ra - 2]) } else { (a[ra - 2], a[ra - 1]) };
    let (kb, n) = if tb { (b[rb - 1], b[rb - 2]) } else { (b[rb - 2], b[rb - 1]) };
    if ka != kb {
        return Err(mismatch(format!("inner dimensions differ: {ka} vs {kb}")));
    }
    let k = ka;
    let (a_batch, b_batch) = (&a[..ra - 2], &b[..rb - 2]);
    let (na, nb): (usize, usize) = (a_batch.iter().product(), b_batch.iter().product());
    let base = MatmulSpec {
        batch: 1,
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
        a_batch_stride: m * k,
        b_batch_stride: k * n,
        accumulate: false,
    };
    let with_mn = |batch: &[usize]| [batch, &[m, n]].concat();
    if b_batch.is_empty() && !ta {
        // Fold A's batch into its rows: one large product.
        return Ok(Plan { spec: MatmulSpec { m: m * na, ..base }, out_shape: with_mn(a_batch) });
    }
    if a_batch == b_batch {
        return Ok(Plan { spec: MatmulSpec { batch: na, ..base }, out_shape: with_mn(a_batch) });
    }
    if a_batch.is_empty() {
        return Ok(Plan { spec: MatmulSpec { batch: nb, a_batch_stride: 0, ..base }, out_shape: with_mn(b_batch) });
    }
    if b_batch.is_empty() {
        return Ok(Plan { spec: MatmulSpec { batch: na, b_batch_stride: 0, ..base }, out_shape: with_mn(a_batch) });
    }
    Err(mismatch(format!("batch axes {a_batch:?} and {b_batch:?} differ")))
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    #[test]
    fn matmul_matches_hand_computed_values() {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let b = Tensor::from_vec(vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0], &[3, 2]).unwrap();
        assert_eq!(a.matmul(&b).unwrap().to_vec().unwrap(), vec![58.0, 64.0, 139.0, 154.0]);
        // Transposes read in place give the same as explicit transposes.
        let via_flags = b.matmul_t(&a, true, true).unwrap();
        let explicit = b.t().unwrap().matmul(&a.t().unwrap()).unwrap();
        assert_eq!(via_flags.to_vec().unwrap(), explicit.to_vec().unwrap());
        let err = a.matmul(&a).unwrap_err().to_string();
        assert!(err.contains("matmul") && err.contains("[2, 3]") && err.contains("inner dimensions differ"), "{err}");
    }

    #[test]
    fn a_frozen_weights_kept_transposed_copy_gives_identical_results_and_follows_updates() {
        let mut rng = Rng::new(9);
        let w = Tensor::randn(&[37, 300], 0.0, 1.0, &mut rng);
        assert!(!w.requires_grad(), "a frozen weight");
        for rows in [1, 32, 100] {
            let x = Tensor::randn(&[rows, 300], 0.0, 1.0, &mut rng);
            // The first call packs W; the second makes the copy; the third uses it.
            let runs: Vec<Vec<f32>> = (0..3).map(|_| x.matmul_t(&w, false, true).unwrap().to_vec().unwrap()).collect();
            assert_eq!(runs[0], runs[1], "{rows} rows");
            assert_eq!(runs[0], runs[2], "{rows} rows: bit-identical with the kept copy");
        }
        // An in-place update changes the buffer's version: the stale copy is never used.
        let x = Tensor::randn(&[8, 300], 0.0, 1.0, &mut rng);
        for _ in 0..3 {
            x.matmul_t(&w, false, true).unwrap();
        }
        w.add_scaled_(&Tensor::ones(&[37, 300]), 0.5).unwrap();
        let fresh = Tensor::from_vec(w.to_vec().unwrap(), &[37, 300]).unwrap();
        for _ in 0..3 {
            let got = x.matmul_t(&w, false, true).unwrap().to_vec().unwrap();
            assert_eq!(got, x.matmul_t(&fresh, false, true).unwrap().to_vec().unwrap());
        }
        // A trainable weight is never copied, and its gradient is unaffected by all this.
        let wt = w.deep_clone().unwrap().requires_grad_(true).unwrap();
        x.matmul_t(&wt, false, true).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(wt.grad().unwrap().shape(), &[37, 300]);
    }

    #[test]
    fn matmul_passes_the_gradient_check_in_every_configuration() {
        let mut rng = Rng::new(5);
        let opts = GradCheck::default();
        let mut r = |s: &[usize]| Tensor::randn(s, 0.0, 1.0, &mut rng);
        let cases: Vec<(Tensor, Tensor, bool, bool)> = vec![
            (r(&[3, 4]), r(&[4, 5]), false, false),
            (r(&[4, 3]), r(&[4, 5]), true, false),
            (r(&[3, 4]), r(&[5, 4]), false, true),
            (r(&[4, 3]), r(&[5, 4]), true, true),
            (r(&[1, 1]), r(&[1, 1]), false, false),
            (r(&[2, 3, 4]), r(&[4, 2]), false, false),
            (r(&[2, 3, 4]), r(&[2, 4]), false, true),
            (r(&[2, 4, 3]), r(&[4, 2]), true, false),
            (r(&[2, 3, 4]), r(&[2, 4, 5]), false, false),
            (r(&[3, 4]), r(&[2, 4, 5]), false, false),
            (r(&[2, 2, 3, 4]), r(&[2, 2, 5, 4]), false, true),
        ];
        for (a, b, ta, tb) in cases {
            check_gradients(|t| t[0].matmul_t(&t[1], ta, tb), &[a.clone(), b.clone()], opts)
                .unwrap_or_else(|e| panic!("{:?} {:?} {ta} {tb}: {e}", a.shape(), b.shape()));
        }
    }

    #[test]
    fn linear_adds_the_bias_inside_the_product_and_passes_the_gradient_check() {
        let mut rng = Rng::new(11);
        let mut r = |s: &[usize]| Tensor::randn(s, 0.0, 1.0, &mut rng);
        // Plain, batched ([2, 3, 4] folds into 6 rows), one row, and a depth over several blocks.
        for (x_shape, out, k) in
            [(vec![5, 4], 3, 4), (vec![2, 3, 4], 3, 4), (vec![1, 7], 2, 7), (vec![3, 1500], 17, 1500)]
        {
            let (x, w, b) = (r(&x_shape), r(&[out, k]), r(&[out]));
            let fused = x.linear(&w, Some(&b)).unwrap();
            let unfused = x.matmul_t(&w, false, true).unwrap().add(&b).unwrap();
            assert_eq!(fused.shape(), unfused.shape());
            for (f, u) in fused.to_vec().unwrap().iter().zip(unfused.to_vec().unwrap()) {
                assert!((f - u).abs() <= 1e-5 * (1.0 + u.abs()), "{x_shape:?}: {f} vs {u}");
            }
            if k < 100 {
                let inputs = [x, w, b];
                check_gradients(|t| t[0].linear(&t[1], Some(&t[2])), &inputs, GradCheck::default())
                    .unwrap_or_else(|e| panic!("{x_shape:?}: {e}"));
            }
        }
        // Without a bias it is the plain product; a frozen weight takes its transposed copy.
        let (x, w, b) = (r(&[4, 300]), r(&[37, 300]), r(&[37]));
        assert_eq!(
            x.linear(&w, None).unwrap().to_vec().unwrap(),
            x.matmul_t(&w, false, true).unwrap().to_vec().unwrap()
        );
        let runs: Vec<Vec<f32>> = (0..3).map(|_| x.linear(&w, Some(&b)).unwrap().to_vec().unwrap()).collect();
        assert!(runs[0] == runs[1] && runs[0] == runs[2], "bit-identical with the kept copy");
        // A bias of the wrong length is refused with the shapes named.
        let err = x.linear(&w, Some(&r(&[36]))).unwrap_err().to_string();
        assert!(err.contains("linear") && err.contains("[36]") && err.contains("bias"), "{err}");
    }

    #[test]
    fn linear_relu_equals_linear_then_relu_and_passes_the_gradient_check() {
        let mut rng = Rng::new(12);
        let mut r = |s: &[usize]| Tensor::randn(s, 0.0, 1.0, &mut rng);
        for (x_shape, out, k) in [(vec![5, 4], 3, 4), (vec![2, 3, 4], 3, 4), (vec![3, 1500], 17, 1500)] {
            let (x, w, b) = (r(&x_shape), r(&[out, k]), r(&[out]));
            for bias in [Some(&b), None] {
                let fused = x.linear_relu(&w, bias).unwrap();
                let unfused = x.linear(&w, bias).unwrap().relu().unwrap();
                assert_eq!(fused.shape(), unfused.shape());
                assert_eq!(fused.to_vec().unwrap(), unfused.to_vec().unwrap(), "{x_shape:?}: bit for bit");
            }
        }
        // Finite differences need every pre-activation clear of the ReLU's kink, with and
        // without the bias: draw (deterministically) until one set of operands has that.
        let clear = |t: &[Tensor]| {
            [Some(&t[2]), None]
                .iter()
                .all(|b| t[0].linear(&t[1], *b).unwrap().to_vec().unwrap().iter().all(|v| v.abs() > 0.05))
        };
        for x_shape in [vec![5, 4], vec![2, 3, 4]] {
            let inputs = (0..)
                .map(|_| [r(&x_shape), r(&[3, 4]), r(&[3])])
                .find(|t| clear(t))
                .expect("some draw clears the kink");
            check_gradients(|t| t[0].linear_relu(&t[1], Some(&t[2])), &inputs, GradCheck::default())
                .unwrap_or_else(|e| panic!("{x_shape:?}: {e}"));
            check_gradients(|t| t[0].linear_relu(&t[1], None), &inputs[..2], GradCheck::default())
                .unwrap_or_else(|e| panic!("{x_shape:?} without bias: {e}"));
        }
        // A frozen weight and input: only the bias gets a gradient, through the mask.
        let (x, w, b) = (r(&[6, 5]), r(&[4, 5]), r(&[4]));
        b.set_requires_grad(true).unwrap();
        x.linear_relu(&w, Some(&b)).unwrap().sum_all().unwrap().backward().unwrap();
        let y = x.linear_relu(&w, Some(&b)).unwrap().to_vec().unwrap();
        let want: Vec<f32> = (0..4).map(|j| (0..6).filter(|&i| y[i * 4 + j] > 0.0).count() as f32).collect();
        assert_eq!(b.grad().unwrap().to_vec().unwrap(), want);
        assert!(x.linear_relu(&w, Some(&r(&[3]))).unwrap_err().to_string().contains("linear_relu"));
    }
}
