//! Batched matrix multiply with transpose flags: a cache-blocked first version.
//!
//! Each output row block is computed as a sum of scaled rows of B (an "axpy" formulation the
//! compiler vectorises), four output rows at a time so every loaded row of B is used four times.
//! B is blocked in `KC × NC` tiles that stay in L2 while a row block sweeps them.

use rayon::prelude::*;

/// Describes `out[b] (=|+=) op(A[b]) · op(B[b])` for `b < batch`, where `op(A)` is `[m, k]` and
/// `op(B)` is `[k, n]`. With `trans_a` A is stored as `[k, m]`; with `trans_b` B is stored as
/// `[n, k]`. A batch stride of 0 reuses one matrix for every batch entry. `out` is contiguous
/// `[batch, m, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulSpec {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub a_batch_stride: usize,
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

const KC: usize = 256;
const NC: usize = 512;
const MR: usize = 4;
/// Below this many multiply-adds the whole product runs on the calling thread.
const PAR_MIN_MACS: usize = 1 << 17;

pub fn matmul(a: &[f32], b: &[f32], out: &mut [f32], spec: MatmulSpec) {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    assert_eq!(out.len(), batch * m * n, "matmul: output is [batch, m, n]");
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    for bi in 0..batch {
        let a_b = &a[bi * spec.a_batch_stride..];
        let b_b = &b[bi * spec.b_batch_stride..];
        let out_b = &mut out[bi * m * n..(bi + 1) * m * n];
        if !spec.accumulate {
            out_b.iter_mut().for_each(|v| *v = 0.0);
        }
        if k == 0 {
            continue;
        }
        // B as row-major [k, n]: transposed operands are repacked once per batch entry.
        let packed;
        let b_rows: &[f32] = if spec.trans_b {
            let mut p = vec![0.0; k * n];
            for j in 0..n {
                for p_ in 0..k {
                    p[p_ * n + j] = b_b[j * k + p_];
                }
            }
            packed = p;
            &packed
        } else {
            &b_b[..k * n]
        };
        let a_at = |i: usize, p: usize| if spec.trans_a { a_b[p * m + i] } else { a_b[i * k + p] };
        let row_block = |(blk, o): (usize, &mut [f32])| {
            let i0 = blk * MR;
            let rows = o.len() / n;
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                for jc in (0..n).step_by(NC) {
                    let nc = NC.min(n - jc);
                    if rows == MR {
                        let (o0, rest) = o.split_at_mut(n);
                        let (o1, rest) = rest.split_at_mut(n);
                        let (o2, o3) = rest.split_at_mut(n);
                        let (o0, o1, o2, o3) =
                            (&mut o0[jc..jc + nc], &mut o1[jc..jc + nc], &mut o2[jc..jc + nc], &mut o3[jc..jc + nc]);
                        for p in pc..pc + kc {
                            let br = &b_rows[p * n + jc..p * n + jc + nc];
                            let (a0, a1, a2, a3) = (a_at(i0, p), a_at(i0 + 1, p), a_at(i0 + 2, p), a_at(i0 + 3, p));
                            for j in 0..nc {
                                let bv = br[j];
                                o0[j] += a0 * bv;
                                o1[j] += a1 * bv;
                                o2[j] += a2 * bv;
                                o3[j] += a3 * bv;
                            }
                        }
                    } else {
                        for r in 0..rows {
                            let orow = &mut o[r * n + jc..r * n + jc + nc];
                            for p in pc..pc + kc {
                                let av = a_at(i0 + r, p);
                                let br = &b_rows[p * n + jc..p * n + jc + nc];
                                for j in 0..nc {
                                    orow[j] += av * br[j];
                                }
                            }
                        }
                    }
                }
            }
        };
        if m * n * k < PAR_MIN_MACS {
            out_b.chunks_mut(MR * n).enumerate().for_each(row_block);
        } else {
            out_b.par_chunks_mut(MR * n).enumerate().for_each(row_block);
        }
    }
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
}
