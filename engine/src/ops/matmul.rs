//! Matrix multiplication, 2-D and batched, with transpose flags instead of transposed copies.
//!
//! For `C = op(A) · op(B)` with upstream gradient `G`:
//! `∂A = G · op(B)ᵀ` (stored transposed again when A is), `∂B = op(A)ᵀ · G` (likewise),
//! each summed over batch entries where the operand was shared across the batch.

use super::{cpu_kernel, cpu_kernel_overwrite, frozen_weights};
#[cfg(feature = "gpu")]
use super::{ctx, gpu_kernel, mixed};
use crate::host_buffer::HostBuffer;
use crate::{Error, Result, Storage, Tensor};
use graft_kernels::cpu::{self, Epilogue, MatmulSpec};
#[cfg(feature = "gpu")]
use graft_kernels::gpu;
use graft_kernels::UnaryOp;
use std::sync::Arc;

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
        self.same_device("matmul", rhs)?;
        let plan = plan(self.shape(), rhs.shape(), trans_a, trans_b)?;
        let spec = plan.spec;
        let out = match (self.storage(), rhs.storage()) {
            (Storage::Cpu(a), Storage::Cpu(b)) => cpu_product(&a, &b, Epilogue::default(), rhs, spec),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(a), Storage::Gpu(b)) => {
                gpu_kernel("matmul", spec.flops(), || gpu::matmul(ctx(&a), &a, &b, spec))?
            }
            #[cfg(feature = "gpu")]
            _ => return Err(mixed("matmul", &[self, rhs])),
        };
        let (a, b) = (self.detach(), rhs.detach());
        Ok(Tensor::from_op(out, plan.out_shape, "matmul", &[self, rhs], move || {
            move |g: &Tensor, needs: &[bool]| {
                let da = needs[0].then(|| grad_a(&a, &b, g, trans_a, trans_b)).transpose()?;
                let db = needs[1].then(|| grad_b(&a, &b, g, trans_a, trans_b)).transpose()?;
                Ok(vec![da, db])
            }
        }))
    }

    /// A linear layer's forward pass, `self · weightᵀ + bias` (PyTorch's
    /// `torch.nn.functional.linear`): `self` is `[..., in]`, `weight` is `[out, in]` and `bias`
    /// `[out]`. On the CPU the bias is added inside the matrix product, while each output tile is
    /// in cache, instead of in a second pass over the output.
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
            Some(bias) => self.linear_impl(weight, Some(bias), false),
            None => self.matmul_t(weight, false, true),
        }
    }

    /// `relu(self · weightᵀ + bias)`: a linear layer followed by a ReLU, as `Sequential` runs
    /// that pair. On the CPU the ReLU is applied inside the matrix product with the bias, so
    /// neither costs a pass over the output, and the backward pass masks the gradient with the
    /// kept output (`∂z = g ⊙ [y > 0]`) before the linear layer's rule. On the GPU it is
    /// `linear` then `relu`. Same values as the two ops, bit for bit.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, -1.0], &[2, 2]).unwrap();
    /// assert_eq!(x.linear_relu(&w, None).unwrap().to_vec().unwrap(), vec![3.0, 0.0]);
    /// ```
    pub fn linear_relu(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.linear_impl(weight, bias, true)
    }

    fn linear_impl(&self, weight: &Tensor, bias: Option<&Tensor>, relu: bool) -> Result<Tensor> {
        let op = if relu { "linear_relu" } else { "linear" };
        if let Some(bias) = bias {
            if weight.rank() != 2 || bias.shape() != [weight.shape()[0]] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: weight.shape().to_vec(),
                    rhs: bias.shape().to_vec(),
                    hint: "the weight must be [out, in] and the bias [out]".into(),
                });
            }
            self.same_device(op, bias)?;
        }
        self.same_device(op, weight)?;
        let plan = plan(self.shape(), weight.shape(), false, true)?;
        let spec = plan.spec;
        let bias_storage = bias.map(|b| b.storage());
        let out = match (self.storage(), weight.storage(), &bias_storage) {
            (Storage::Cpu(x), Storage::Cpu(w), None | Some(Storage::Cpu(_))) => {
                let bias = match &bias_storage {
                    Some(Storage::Cpu(b)) => Some(&b[..]),
                    _ => None,
                };
                cpu_product(&x, &w, Epilogue { bias, relu }, weight, spec)
            }
            // The GPU matmul has no epilogue: a kernel per step.
            #[cfg(feature = "gpu")]
            _ => {
                let z = self.matmul_t(weight, false, true)?;
                let z = match bias {
                    Some(bias) => z.add(bias)?,
                    None => z,
                };
                return if relu { z.relu() } else { Ok(z) };
            }
        };
        let (x, w) = (self.detach(), weight.detach());
        let y = relu.then(|| Tensor::from_parts(out.clone(), plan.out_shape.clone(), None));
        let inputs: Vec<&Tensor> = [Some(self), Some(weight), bias].into_iter().flatten().collect();
        Ok(Tensor::from_op(out, plan.out_shape, op, &inputs, move || {
            move |g: &Tensor, needs: &[bool]| {
                let masked;
                let g = match &y {
                    Some(y) => {
                        masked = relu_mask(y, g)?;
                        &masked
                    }
                    None => g,
                };
                let dx = needs[0].then(|| grad_a(&x, &w, g, false, true)).transpose()?;
                let dw = needs[1].then(|| grad_b(&x, &w, g, false, true)).transpose()?;
                let mut grads = vec![dx, dw];
                if needs.len() > 2 {
                    grads.push(needs[2].then(|| g.sum_to(&[g.shape()[g.rank() - 1]])).transpose()?);
                }
                Ok(grads)
            }
        }))
    }
}

/// `g ⊙ [y > 0]`: the ReLU's backward rule from its output (`y > 0` exactly where its input
/// was), one pass with the ReLU op's own kernel.
fn relu_mask(y: &Tensor, g: &Tensor) -> Result<Tensor> {
    let n = y.numel();
    let dz = match (y.storage(), g.storage()) {
        (Storage::Cpu(y), Storage::Cpu(g)) => {
            cpu_kernel_overwrite("relu", n as u64, n, |o| cpu::unary_backward(UnaryOp::Relu, &y, &y, &g, o))
        }
        #[cfg(feature = "gpu")]
        _ => return Err(mixed("linear_relu", &[y, g])),
    };
    Tensor::from_storage(dz, y.shape())
}

/// `op(A) · op(B)` and its epilogue (bias, ReLU) on the CPU. A frozen weight read transposed is
/// multiplied through its kept transposed copy, which the GEMM reads without repacking (same
/// values, same result).
fn cpu_product(a: &[f32], b: &Arc<HostBuffer>, epilogue: Epilogue, rhs: &Tensor, spec: MatmulSpec) -> Storage {
    let frozen = spec.trans_b && spec.k > 0 && rhs.rank() == 2 && !rhs.requires_grad();
    let bt = frozen.then(|| frozen_weights::transposed(b, spec.n, spec.k)).flatten();
    let (b, spec): (&[f32], _) = match &bt {
        Some(bt) => (bt, MatmulSpec { trans_b: false, ..spec }),
        None => (b, spec),
    };
    let n_out = spec.batch * spec.m * spec.n;
    let kernel = |o: &mut [f32]| cpu::matmul_epilogue(a, b, epilogue, o, spec);
    // With k = 0 the product is all zeros (plus the bias); a zeroed buffer guarantees that
    // without relying on the GEMM's handling of an empty depth.
    if spec.k > 0 {
        cpu_kernel_overwrite("matmul", spec.flops(), n_out, kernel)
    } else {
        cpu_kernel("matmul", spec.flops(), n_out, kernel)
    }
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
