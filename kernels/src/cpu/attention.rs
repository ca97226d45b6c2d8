//! Multi-head scaled dot-product attention with a key padding mask, fused: for each batch
//! entry and head, the scores `q·kᵀ/√d`, their softmax over the attended keys and the weighted
//! sum of the values, read from and written to the `[batch, seq, heads·head_dim]` rows the
//! linear layers produce. The composition it replaces permuted q, k, v and the context into
//! `[batch, heads, seq, head_dim]` (four copies), and scaled, masked and normalised the scores
//! in three more passes over `[batch, heads, seq, seq]`.
//!
//! Per head, with `P = softmax(q·kᵀ·s + mask)`, `s = 1/√d`, `O = P·v`. Backward from `dO`:
//! `dv = Pᵀ·dO`, `dP = dO·vᵀ`, `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dq = dS·k·s`, `dk = dSᵀ·q·s`.
//! The softmax weights `P` are kept from the forward, as PyTorch's math path keeps them.
//!
//! Every inner loop is an axpy over contiguous floats (a transposed copy of the head's keys or
//! values makes the score rows axpys too), so it vectorises without reassociating a sum; the
//! loops are compiled for the widest vector unit the CPU has, chosen once at run time.

use super::exp::exp_in_place;
use super::{for_each_piece, worth_splitting, SyncPtr};

/// Below this many multiply-adds the batch entries run on the calling thread.
const PAR_MIN_MADDS: usize = 1 << 16;

/// The sizes of one attention call. `q`, `k`, `v`, the output and their gradients are
/// `[batch, seq, heads · head_dim]` (row-major, the heads side by side in each row), the key
/// mask `[batch, seq]` (0 = padding, not attended; anything else = attended) and the kept
/// softmax weights `[batch, heads, seq, seq]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl AttentionShape {
    /// Features per token, `heads · head_dim`.
    pub fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of `q`, `k`, `v` and the output.
    pub fn numel(&self) -> usize {
        self.batch * self.seq * self.hidden()
    }

    /// Elements of the kept softmax weights.
    pub fn probs_len(&self) -> usize {
        self.batch * self.heads * self.seq * self.seq
    }

    /// The score scale `1/√head_dim`.
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    /// Multiply-adds of the two products of the forward (each `seq² · head_dim` per head).
    pub fn madds(&self) -> usize {
        2 * self.probs_len() * self.head_dim
    }

    fn checked(&self, what: &str, lens: &[(&str, usize, usize)]) {
        assert!(self.head_dim > 0 && self.seq > 0, "{what}: a head has features and a sequence has tokens");
        for (name, got, want) in lens {
            assert_eq!(got, want, "{what}: `{name}` has the length its shape gives");
        }
    }
}

/// Forward: the context into `out` and the softmax weights into `probs`. A query whose keys
/// are all masked attends to nothing and gets a zero context (PyTorch gives NaN there).
pub fn attention(q: &[f32], k: &[f32], v: &[f32], mask: &[f32], s: AttentionShape, out: &mut [f32], probs: &mut [f32]) {
    let n = s.numel();
    let lens = [("q", q.len(), n), ("k", k.len(), n), ("v", v.len(), n), ("mask", mask.len(), s.batch * s.seq)];
    s.checked("attention", &lens);
    s.checked("attention", &[("out", out.len(), n), ("probs", probs.len(), s.probs_len())]);
    let per_batch = s.seq * s.hidden();
    let probs_ptr = SyncPtr(probs.as_mut_ptr());
    for_each_piece(out, per_batch, worth_splitting(s.madds(), PAR_MIN_MADDS), &|b, out_b| {
        let probs_len = s.heads * s.seq * s.seq;
        // SAFETY: batch entry `b` owns `probs[b·len .. (b+1)·len]`, inside `probs` (its length
        // was checked), and each `b` is handed to exactly one call; `probs` is borrowed
        // mutably for the whole function.
        let probs_b = unsafe { std::slice::from_raw_parts_mut(probs_ptr.get().add(b * probs_len), probs_len) };
        let batch = Batch {
            q: &q[b * per_batch..][..per_batch],
            k: &k[b * per_batch..][..per_batch],
            v: &v[b * per_batch..][..per_batch],
            mask: &mask[b * s.seq..][..s.seq],
            s,
        };
        widest(|| forward_batch(&batch, out_b, probs_b));
    });
}

/// Backward: `(dq, dk, dv)` from the forward's inputs, its kept `probs` and the upstream `dout`.
#[allow(clippy::too_many_arguments, reason = "the three gradients are three outputs")]
pub fn attention_backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    probs: &[f32],
    dout: &[f32],
    s: AttentionShape,
    [dq, dk, dv]: [&mut [f32]; 3],
) {
    let n = s.numel();
    let lens = [("q", q.len(), n), ("k", k.len(), n), ("v", v.len(), n), ("mask", mask.len(), s.batch * s.seq)];
    s.checked("attention_backward", &lens);
    let lens =
        [("probs", probs.len(), s.probs_len()), ("dout", dout.len(), n), ("dk", dk.len(), n), ("dv", dv.len(), n)];
    s.checked("attention_backward", &lens);
    let per_batch = s.seq * s.hidden();
    let (dk_ptr, dv_ptr) = (SyncPtr(dk.as_mut_ptr()), SyncPtr(dv.as_mut_ptr()));
    for_each_piece(dq, per_batch, worth_splitting(2 * s.madds(), PAR_MIN_MADDS), &|b, dq_b| {
        // SAFETY: as in `attention`: batch entry `b` owns its piece of `dk` and `dv`, both of
        // `numel` floats (checked), and each `b` is handed out once.
        let (dk_b, dv_b) = unsafe {
            (
                std::slice::from_raw_parts_mut(dk_ptr.get().add(b * per_batch), per_batch),
                std::slice::from_raw_parts_mut(dv_ptr.get().add(b * per_batch), per_batch),
            )
        };
        let probs_len = s.heads * s.seq * s.seq;
        let batch = Batch {
            q: &q[b * per_batch..][..per_batch],
            k: &k[b * per_batch..][..per_batch],
            v: &v[b * per_batch..][..per_batch],
            mask: &mask[b * s.seq..][..s.seq],
            s,
        };
        let (probs_b, dout_b) = (&probs[b * probs_len..][..probs_len], &dout[b * per_batch..][..per_batch]);
        widest(|| backward_batch(&batch, probs_b, dout_b, [&mut *dq_b, &mut *dk_b, &mut *dv_b]));
    });
}

/// One batch entry's inputs.
struct Batch<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    mask: &'a [f32],
    s: AttentionShape,
}

impl Batch<'_> {
    /// The keys this entry attends to.
    fn kept(&self) -> Vec<usize> {
        (0..self.s.seq).filter(|&j| self.mask[j] != 0.0).collect()
    }

    /// Head `h` of token `t` of `x` (one of this entry's `[seq, hidden]` tensors).
    fn head<'x>(&self, x: &'x [f32], t: usize, h: usize) -> &'x [f32] {
        &x[t * self.s.hidden() + h * self.s.head_dim..][..self.s.head_dim]
    }

    /// `dst[d·seq + j] = x[j, head h, d] · scale`: head `h` of `x` transposed, so that a score
    /// row is a sum of axpys over contiguous rows.
    fn transposed_head(&self, x: &[f32], h: usize, scale: f32, dst: &mut [f32]) {
        let t = self.s.seq;
        for j in 0..t {
            for (d, &v) in self.head(x, j, h).iter().enumerate() {
                dst[d * t + j] = v * scale;
            }
        }
    }
}

/// Head `h` of token `t` of a `[seq, hidden]` output.
fn head_mut(x: &mut [f32], s: AttentionShape, t: usize, h: usize) -> &mut [f32] {
    &mut x[t * s.hidden() + h * s.head_dim..][..s.head_dim]
}

/// `y += a · x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `row = Σ_d coeffs[d] · rows_t[d]`, the rows `seq` floats apart in `rows_t`.
#[inline(always)]
fn combine_rows(coeffs: &[f32], rows_t: &[f32], row: &mut [f32]) {
    row.fill(0.0);
    for (d, &c) in coeffs.iter().enumerate() {
        axpy(c, &rows_t[d * row.len()..][..row.len()], row);
    }
}

/// Softmax of `row` over the keys whose mask is nonzero, 0 elsewhere (all 0 when none is).
#[inline(always)]
fn masked_softmax_in_place(row: &mut [f32], mask: &[f32]) {
    let max = row.iter().zip(mask).filter(|(_, &m)| m != 0.0).map(|(&r, _)| r).fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    for (r, &m) in row.iter_mut().zip(mask) {
        *r = if m != 0.0 { *r - max } else { f32::NEG_INFINITY };
    }
    exp_in_place(row);
    let inv = 1.0 / row.iter().sum::<f32>();
    row.iter_mut().for_each(|r| *r *= inv);
}

#[inline(always)]
fn forward_batch(x: &Batch<'_>, out: &mut [f32], probs: &mut [f32]) {
    let (s, t) = (x.s, x.s.seq);
    let kept = x.kept();
    let mut kt = vec![0.0; s.head_dim * t];
    for h in 0..s.heads {
        x.transposed_head(x.k, h, s.scale(), &mut kt);
        for i in 0..t {
            let row = &mut probs[(h * t + i) * t..][..t];
            combine_rows(x.head(x.q, i, h), &kt, row);
            masked_softmax_in_place(row, x.mask);
            let o = head_mut(out, s, i, h);
            o.fill(0.0);
            for &j in &kept {
                axpy(row[j], x.head(x.v, j, h), o);
            }
        }
    }
}

#[inline(always)]
fn backward_batch(x: &Batch<'_>, probs: &[f32], dout: &[f32], [dq, dk, dv]: [&mut [f32]; 3]) {
    let (s, t) = (x.s, x.s.seq);
    let kept = x.kept();
    dq.fill(0.0);
    dk.fill(0.0);
    dv.fill(0.0);
    let (mut vt, mut ds) = (vec![0.0; s.head_dim * t], vec![0.0; t]);
    for h in 0..s.heads {
        x.transposed_head(x.v, h, 1.0, &mut vt);
        for i in 0..t {
            let p = &probs[(h * t + i) * t..][..t];
            let g = x.head(dout, i, h);
            for &j in &kept {
                axpy(p[j], g, head_mut(dv, s, j, h));
            }
            combine_rows(g, &vt, &mut ds);
            let row_dot: f32 = p.iter().zip(&ds).map(|(p, d)| p * d).sum();
            for (d, &p) in ds.iter_mut().zip(p) {
                *d = p * (*d - row_dot) * s.scale();
            }
            let qi = x.head(x.q, i, h);
            let dqi = head_mut(dq, s, i, h);
            for &j in &kept {
                axpy(ds[j], x.head(x.k, j, h), dqi);
            }
            for &j in &kept {
                axpy(ds[j], qi, head_mut(dk, s, j, h));
            }
        }
    }
}

/// Runs `f` compiled for the widest vector unit this CPU has (within the SIMD cap).
#[inline(always)]
fn widest(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        super::simd::Level::Avx512 => return unsafe { with_avx512(f) },
        // SAFETY: as above.
        super::simd::Level::Avx2 => return unsafe { with_avx2(f) },
        super::simd::Level::Baseline => {}
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn with_avx512(f: impl FnOnce()) {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2(f: impl FnOnce()) {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formula, one score at a time.
    fn reference(q: &[f32], k: &[f32], v: &[f32], mask: &[f32], s: AttentionShape) -> Vec<f32> {
        let (t, hid, dh) = (s.seq, s.hidden(), s.head_dim);
        let mut out = vec![0.0; s.numel()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..t {
                    let at = |x: &[f32], tok: usize, d: usize| x[(b * t + tok) * hid + h * dh + d];
                    let scores: Vec<f64> = (0..t)
                        .map(|j| (0..dh).map(|d| (at(q, i, d) * at(k, j, d)) as f64).sum::<f64>() / (dh as f64).sqrt())
                        .collect();
                    let keep = |j: usize| mask[b * t + j] != 0.0;
                    let max = (0..t).filter(|&j| keep(j)).map(|j| scores[j]).fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = (0..t).map(|j| if keep(j) { (scores[j] - max).exp() } else { 0.0 }).collect();
                    let sum: f64 = e.iter().sum();
                    for d in 0..dh {
                        let c: f64 = (0..t).map(|j| e[j] / sum * at(v, j, d) as f64).sum();
                        out[(b * t + i) * hid + h * dh + d] = c as f32;
                    }
                }
            }
        }
        out
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 8_388_608.0 - 1.0)
            .collect()
    }

    #[test]
    fn equals_the_formula_with_and_without_padding() {
        for s in [
            AttentionShape { batch: 1, seq: 1, heads: 1, head_dim: 1 },
            AttentionShape { batch: 2, seq: 5, heads: 3, head_dim: 4 },
            AttentionShape { batch: 3, seq: 17, heads: 2, head_dim: 8 },
        ] {
            let (q, k, v) = (pseudo_random(s.numel(), 1), pseudo_random(s.numel(), 2), pseudo_random(s.numel(), 3));
            let mut mask = vec![1.0; s.batch * s.seq];
            if s.seq > 2 {
                mask[s.seq - 1] = 0.0;
                mask[2 * s.seq - 2] = 0.0;
            }
            let (mut out, mut probs) = (vec![0.0; s.numel()], vec![0.0; s.probs_len()]);
            attention(&q, &k, &v, &mask, s, &mut out, &mut probs);
            for (got, want) in out.iter().zip(reference(&q, &k, &v, &mask, s)) {
                assert!((got - want).abs() < 1e-5, "{s:?}: {got} vs {want}");
            }
            for row in probs.chunks(s.seq) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn a_fully_masked_row_attends_to_nothing() {
        let s = AttentionShape { batch: 1, seq: 2, heads: 1, head_dim: 2 };
        let (mut out, mut probs) = (vec![9.0; 4], vec![9.0; 4]);
        attention(&[1.0; 4], &[1.0; 4], &[1.0; 4], &[0.0, 0.0], s, &mut out, &mut probs);
        assert_eq!((out, probs), (vec![0.0; 4], vec![0.0; 4]));
    }
}
