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
//! The batch entries are spread over the threads; each splits its heads apart in cache
//! (`[heads, seq, head_dim]`, a few hundred KiB at BERT's sizes, with the score scale folded
//! into the queries) and runs the products per head through the packed GEMM on its own thread,
//! so the permuted copies, scores and weights never make a round trip through memory as whole
//! tensors.

use super::exp::exp_in_place;
use super::gemm::{gemm_with, Config, Isa, Threads};
use super::{for_each_piece, worth_splitting, Epilogue, MatmulSpec, SyncPtr};

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
        let batch = Batch::entry([q, k, v], mask, s, b);
        forward_batch(&batch, out_b, probs_b);
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
        let batch = Batch::entry([q, k, v], mask, s, b);
        let (probs_b, dout_b) = (&probs[b * probs_len..][..probs_len], &dout[b * per_batch..][..per_batch]);
        backward_batch(&batch, probs_b, dout_b, [dq_b, dk_b, dv_b]);
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

impl<'a> Batch<'a> {
    /// Batch entry `b` of the whole batch's `[q, k, v]` and `mask`.
    fn entry([q, k, v]: [&'a [f32]; 3], mask: &'a [f32], s: AttentionShape, b: usize) -> Self {
        let per_batch = s.seq * s.hidden();
        let part = |x: &'a [f32]| &x[b * per_batch..][..per_batch];
        Batch { q: part(q), k: part(k), v: part(v), mask: &mask[b * s.seq..][..s.seq], s }
    }
}

/// One batch entry's `[seq, heads·head_dim]` tensor as `[heads, seq, head_dim]`, times `scale`:
/// the heads apart, in cache, for the per-head products.
fn split_heads(x: &[f32], s: AttentionShape, scale: f32) -> Vec<f32> {
    let (t, dh) = (s.seq, s.head_dim);
    let mut out = vec![0.0; x.len()];
    for (j, row) in x.chunks_exact(s.hidden()).enumerate() {
        for (h, head) in row.chunks_exact(dh).enumerate() {
            out[(h * t + j) * dh..][..dh].iter_mut().zip(head).for_each(|(o, &v)| *o = v * scale);
        }
    }
    out
}

/// The inverse of [`split_heads`] (without a scale): `[heads, seq, head_dim]` into `dst`
/// `[seq, heads·head_dim]`.
fn merge_heads(x: &[f32], s: AttentionShape, dst: &mut [f32]) {
    let (t, dh) = (s.seq, s.head_dim);
    for (j, row) in dst.chunks_exact_mut(s.hidden()).enumerate() {
        for (h, head) in row.chunks_exact_mut(dh).enumerate() {
            head.copy_from_slice(&x[(h * t + j) * dh..][..dh]);
        }
    }
}

/// `out[h] = op(a[h]) · op(b[h])` for every head, `op(a)` `[m, k]` and `op(b)` `[k, n]`: the
/// packed GEMM on this thread (the batch entries are already spread over the threads).
fn per_head(a: &[f32], b: &[f32], out: &mut [f32], heads: usize, [m, n, k]: [usize; 3], [ta, tb]: [bool; 2]) {
    let spec = MatmulSpec {
        batch: heads,
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
        a_batch_stride: m * k,
        b_batch_stride: k * n,
        accumulate: false,
    };
    let config = Config { isa: Isa::best(), blocking: None, threads: Threads::Single };
    gemm_with(a, b, Epilogue::default(), out, spec, config);
}

/// Lanes of the reductions below: independent partial results, so the loops vectorise (a
/// single running sum or maximum would be one long dependency chain).
const LANES: usize = 16;

/// `fold(Σ or max)` of `f(i)` over `0..n` in [`LANES`] partial results.
#[inline(always)]
fn lane_fold(n: usize, init: f32, f: impl Fn(usize) -> f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let full = n / LANES * LANES;
    for i0 in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = op(*a, f(i0 + l));
        }
    }
    let tail = (full..n).fold(init, |a, i| op(a, f(i)));
    acc.into_iter().fold(tail, op)
}

/// The larger of two floats as one vector instruction computes it (`f32::max`'s NaN rules
/// cost a compare and blend per element; scores are never NaN unless the inputs are).
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

/// Softmax of `row` plus `additive` (0 at attended keys, −∞ at padding): 0 at padding, and all
/// 0 when every key is padding.
#[inline(always)]
fn masked_softmax_in_place(row: &mut [f32], additive: &[f32]) {
    row.iter_mut().zip(additive).for_each(|(r, &a)| *r += a);
    let max = lane_fold(row.len(), f32::NEG_INFINITY, |j| row[j], larger);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    row.iter_mut().for_each(|r| *r -= max);
    exp_in_place(row);
    let inv = 1.0 / lane_fold(row.len(), 0.0, |j| row[j], |a, b| a + b);
    row.iter_mut().for_each(|r| *r *= inv);
}

/// The key mask as the additive row the scores take.
fn additive_mask(mask: &[f32]) -> Vec<f32> {
    mask.iter().map(|&m| if m != 0.0 { 0.0 } else { f32::NEG_INFINITY }).collect()
}

/// Runs `$body` (which calls `#[inline(always)]` loops) compiled for the widest vector unit
/// this CPU has within the SIMD cap, each variant a `target_feature` function of its own.
macro_rules! widest {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $body
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $body
                match super::simd::level() {
                    // SAFETY: `simd::level` never exceeds what this CPU reported.
                    super::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    super::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    super::simd::Level::Baseline => {}
                }
            }
            $body
        }
    };
}

widest! {
    /// [`masked_softmax_in_place`] on every row of `probs` (rows as long as `additive`).
    fn softmax_rows(probs: &mut [f32], additive: &[f32]) {
        probs.chunks_exact_mut(additive.len()).for_each(|row| masked_softmax_in_place(row, additive))
    }
}

widest! {
    /// `ds ← P ⊙ (ds − rowsum(P ⊙ ds)) · scale` row by row: the softmax backward from
    /// `ds = ∂P`, scaled back through the scores' scale.
    fn softmax_backward_rows(ds: &mut [f32], probs: &[f32], t: usize, scale: f32) {
        for (d, p) in ds.chunks_exact_mut(t).zip(probs.chunks_exact(t)) {
            let row_dot = lane_fold(t, 0.0, |j| p[j] * d[j], |a, b| a + b);
            d.iter_mut().zip(p).for_each(|(d, &p)| *d = p * (*d - row_dot) * scale);
        }
    }
}

fn forward_batch(x: &Batch<'_>, out: &mut [f32], probs: &mut [f32]) {
    let (s, t, dh) = (x.s, x.s.seq, x.s.head_dim);
    let (q, k, v) = (split_heads(x.q, s, s.scale()), split_heads(x.k, s, 1.0), split_heads(x.v, s, 1.0));
    per_head(&q, &k, probs, s.heads, [t, t, dh], [false, true]);
    softmax_rows(probs, &additive_mask(x.mask));
    let mut context = q;
    per_head(probs, &v, &mut context, s.heads, [t, dh, t], [false, false]);
    merge_heads(&context, s, out);
}

fn backward_batch(x: &Batch<'_>, probs: &[f32], dout: &[f32], [dq, dk, dv]: [&mut [f32]; 3]) {
    let (s, t, dh) = (x.s, x.s.seq, x.s.head_dim);
    let (q, k, v, g) =
        (split_heads(x.q, s, 1.0), split_heads(x.k, s, 1.0), split_heads(x.v, s, 1.0), split_heads(dout, s, 1.0));
    let mut grad = vec![0.0; q.len()];
    // dv = Pᵀ·dO
    per_head(probs, &g, &mut grad, s.heads, [t, dh, t], [true, false]);
    merge_heads(&grad, s, dv);
    // dS = P ⊙ (dO·vᵀ − rowsum(P ⊙ dO·vᵀ)) · scale
    let mut ds = vec![0.0; probs.len()];
    per_head(&g, &v, &mut ds, s.heads, [t, t, dh], [false, true]);
    softmax_backward_rows(&mut ds, probs, t, s.scale());
    // dq = dS·k, dk = dSᵀ·q
    per_head(&ds, &k, &mut grad, s.heads, [t, dh, t], [false, false]);
    merge_heads(&grad, s, dq);
    per_head(&ds, &q, &mut grad, s.heads, [t, dh, t], [true, false]);
    merge_heads(&grad, s, dk);
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
