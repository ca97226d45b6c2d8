//! Batched matrix multiply with transpose flags: the public entry point and its description.
//!
//! The work is done by the packed, cache-blocked GEMM in `cpu::gemm`; this file only states the
//! contract and checks the slices against it.

/// Describes `out[b] (=|+=) op(A[b]) · op(B[b])` for `b < batch`, where `op(A)` is `[m, k]` and
/// `op(B)` is `[k, n]`. With `trans_a` A is stored as `[k, m]`; with `trans_b` B is stored as
/// `[n, k]`. A batch stride of 0 reuses one matrix for every batch entry. `out` is contiguous
/// `[batch, m, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulSpec {
    /// Number of products.
    pub batch: usize,
    /// Rows of `op(A)` and of the output.
    pub m: usize,
    /// Columns of `op(B)` and of the output.
    pub n: usize,
    /// The shared dimension: columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// A is stored `[k, m]` and read transposed.
    pub trans_a: bool,
    /// B is stored `[n, k]` and read transposed.
    pub trans_b: bool,
    /// Floats between consecutive A matrices (0: one A for every batch entry).
    pub a_batch_stride: usize,
    /// Floats between consecutive B matrices (0: one B for every batch entry).
    pub b_batch_stride: usize,
    /// Add into `out` instead of overwriting it.
    pub accumulate: bool,
}

impl MatmulSpec {
    /// A plain (untransposed, unbatched, overwriting) `[m, k] · [k, n]`.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        MatmulSpec {
            batch: 1,
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
            a_batch_stride: m * k,
            b_batch_stride: k * n,
            accumulate: false,
        }
    }

    /// Multiply-adds performed, times two.
    pub fn flops(&self) -> u64 {
        2 * (self.batch * self.m * self.n * self.k) as u64
    }
}

/// `out[b] (=|+=) op(A[b]) · op(B[b])` for every batch entry, as described by `spec`.
///
/// Runs the packed SIMD GEMM in [`super::gemm`](self) with the best micro-kernel this CPU has
/// (AVX-512F, AVX2+FMA or portable, detected once). Large products use rayon's global pool
/// (so `RAYON_NUM_THREADS` is honoured); small ones stay on the calling thread.
///
/// # Panics
/// If `out` is not `batch * m * n` long, or `a` / `b` are too short for the shapes and batch
/// strides in `spec`.
pub fn matmul(a: &[f32], b: &[f32], out: &mut [f32], spec: MatmulSpec) {
    product(a, b, Epilogue::default(), out, spec);
}

/// [`matmul`] plus `bias` (one float per output column) added to every output row:
/// `out[b] (=|+=) op(A[b]) · op(B[b]) + bias`, PyTorch's `addmm` / a linear layer's forward.
/// The bias is added to each output tile while it is in cache, so it costs no extra pass over
/// the output.
///
/// # Panics
/// As [`matmul`], and if `bias` does not hold `n` floats.
///
/// ```
/// use graft_kernels::cpu::{matmul_bias, MatmulSpec};
/// // [[1, 2]] · [[1, 0], [0, 1]] + [10, 20]
/// let mut out = [0.0; 2];
/// matmul_bias(&[1.0, 2.0], &[1.0, 0.0, 0.0, 1.0], &[10.0, 20.0], &mut out, MatmulSpec::new(1, 2, 2));
/// assert_eq!(out, [11.0, 22.0]);
/// ```
pub fn matmul_bias(a: &[f32], b: &[f32], bias: &[f32], out: &mut [f32], spec: MatmulSpec) {
    matmul_epilogue(a, b, Epilogue { bias: Some(bias), relu: false }, out, spec);
}

/// What a product does to each output tile right after computing it, while the tile is in
/// cache: a linear layer's bias, then its ReLU. Either saves a pass over the whole output.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// One float per output column, added to every output row.
    pub bias: Option<&'a [f32]>,
    /// Then `max(x, 0)` on the finished sum (NaN passes through, as the ReLU op does).
    pub relu: bool,
}

/// [`matmul`] followed by `epilogue` on every output: `out[b] = relu?(op(A[b]) · op(B[b])
/// (+ prior out when accumulating) + bias)`.
///
/// # Panics
/// As [`matmul`], and if a bias does not hold `n` floats.
///
/// ```
/// use graft_kernels::cpu::{matmul_epilogue, Epilogue, MatmulSpec};
/// // relu([[1, -2]] · I + [0, 1])
/// let mut out = [0.0; 2];
/// let epilogue = Epilogue { bias: Some(&[0.0, 1.0]), relu: true };
/// matmul_epilogue(&[1.0, -2.0], &[1.0, 0.0, 0.0, 1.0], epilogue, &mut out, MatmulSpec::new(1, 2, 2));
/// assert_eq!(out, [1.0, 0.0]);
/// ```
pub fn matmul_epilogue(a: &[f32], b: &[f32], epilogue: Epilogue, out: &mut [f32], spec: MatmulSpec) {
    if let Some(bias) = epilogue.bias {
        assert_eq!(bias.len(), spec.n, "matmul: the bias has one float per output column");
    }
    product(a, b, epilogue, out, spec);
}

fn product(a: &[f32], b: &[f32], epilogue: Epilogue, out: &mut [f32], spec: MatmulSpec) {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    assert_eq!(out.len(), batch * m * n, "matmul: output is [batch, m, n]");
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    // The kernels read through raw pointers, so every batch entry's extent is checked here.
    let need = |stride: usize, len: usize| (batch - 1) * stride + len;
    assert!(a.len() >= need(spec.a_batch_stride, m * k), "matmul: A is too short for {spec:?}");
    assert!(b.len() >= need(spec.b_batch_stride, k * n), "matmul: B is too short for {spec:?}");
    super::gemm::gemm(a, b, epilogue, out, spec);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], s: MatmulSpec) -> Vec<f32> {
        let mut out = vec![0.0; s.batch * s.m * s.n];
        for bi in 0..s.batch {
            for i in 0..s.m {
                for j in 0..s.n {
                    let mut acc = 0.0f64;
                    for p in 0..s.k {
                        let av = if s.trans_a {
                            a[bi * s.a_batch_stride + p * s.m + i]
                        } else {
                            a[bi * s.a_batch_stride + i * s.k + p]
                        };
                        let bv = if s.trans_b {
                            b[bi * s.b_batch_stride + j * s.k + p]
                        } else {
                            b[bi * s.b_batch_stride + p * s.n + j]
                        };
                        acc += av as f64 * bv as f64;
                    }
                    out[bi * s.m * s.n + i * s.n + j] = acc as f32;
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_with_every_transpose_and_awkward_sizes() {
        for &(batch, m, n, k) in
            &[(1, 1, 1, 1), (2, 3, 5, 7), (1, 17, 13, 300), (3, 5, 600, 9), (1, 64, 64, 64), (2, 1, 7, 1)]
        {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                let a: Vec<f32> = (0..batch * m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
                let b: Vec<f32> = (0..batch * k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
                let spec = MatmulSpec {
                    batch,
                    m,
                    n,
                    k,
                    trans_a: ta,
                    trans_b: tb,
                    a_batch_stride: m * k,
                    b_batch_stride: k * n,
                    accumulate: false,
                };
                let mut out = vec![0.0; batch * m * n];
                matmul(&a, &b, &mut out, spec);
                let want = naive(&a, &b, spec);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{spec:?}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn accumulate_adds_and_zero_stride_reuses_b() {
        let a = [1.0, 2.0, 3.0, 4.0]; // two [1,2] rows as batch 2
        let b = [1.0, 1.0]; // [2,1], shared
        let spec = MatmulSpec {
            batch: 2,
            m: 1,
            n: 1,
            k: 2,
            trans_a: false,
            trans_b: false,
            a_batch_stride: 2,
            b_batch_stride: 0,
            accumulate: true,
        };
        let mut out = [10.0, 20.0];
        matmul(&a, &b, &mut out, spec);
        assert_eq!(out, [13.0, 27.0]);
    }

    #[test]
    fn a_rows_result_does_not_depend_on_how_many_rows_share_the_product() {
        // 784-deep rows, as a frozen layer computes them in a training batch of 8 or 32 and in
        // a feature-cache batch of 256: every row must come out bit-identical.
        let (k, n) = (784, 100);
        let a: Vec<f32> = (0..256 * k).map(|i| ((i * 37 % 1009) as f32 - 500.0) / 500.0).collect();
        let b: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 997) as f32 - 498.0) / 498.0).collect();
        let product = |rows: usize| {
            let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(rows, n, k) };
            let mut out = vec![0.0; rows * n];
            matmul(&a[..rows * k], &b, &mut out, spec);
            out
        };
        let all = product(256);
        for rows in [1, 8, 32, 65, 200] {
            assert_eq!(product(rows), all[..rows * n], "{rows} rows");
        }
    }
}
