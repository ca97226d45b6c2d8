//! Binary cross-entropy on logits (PyTorch's `BCEWithLogitsLoss` with its mean reduction) and
//! its derivatives.
//!
//! Each element's loss is `max(x, 0) − x·y + ln(1 + e^(−|x|))`: the exponent is never positive,
//! so nothing overflows at large |x|, and `ln_1p` keeps the small tail `e^(−|x|)` that
//! `ln(1 + ·)` would round away. The derivative in `x` of both branches is `σ(x) − y`; in `y` it
//! is `−x`.

use super::{for_each_chunk, shares, worth_splitting, PAR_CHUNK, PAR_MIN_ELEMS};
use std::sync::atomic::{AtomicU64, Ordering};

/// Elements per partial sum of the forward. The partials are cut at the same places whether
/// the sum runs on one thread or many, so the loss is the same bits with any thread count.
const BLOCK: usize = PAR_CHUNK;

/// One element's loss, in f64 so that `max(x, 0) − x·y` (which cancels when `y ≈ 1`) and the
/// small soft-plus tail add without f32 rounding.
#[inline]
fn element_loss(x: f32, y: f32) -> f64 {
    let (x, y) = (f64::from(x), f64::from(y));
    x.max(0.0) - x * y + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^(−v))` with the exponent kept non-positive, so neither branch overflows.
#[inline]
fn sigmoid(v: f32) -> f32 {
    let e = (-v.abs()).exp();
    if v >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Mean over all elements of `max(x, 0) − x·y + ln(1 + e^(−|x|))`, summed in f64 (in fixed
/// blocks, split across threads when large). The mean of nothing is NaN, as in PyTorch.
pub fn bce_with_logits(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "bce_with_logits: logits and targets have the same length");
    let n = x.len();
    let blocks = n.div_ceil(BLOCK);
    let block_sum = |b: usize| -> f64 {
        let r = b * BLOCK..((b + 1) * BLOCK).min(n);
        x[r.clone()].iter().zip(&y[r]).map(|(&x, &y)| element_loss(x, y)).sum()
    };
    let total: f64 = if worth_splitting(n, PAR_MIN_ELEMS) {
        // Each block's partial has its own slot (f64 bits in an atomic, since shares only get
        // `&`), and the partials are added in block order afterwards.
        let partials: Vec<AtomicU64> = (0..blocks).map(|_| AtomicU64::new(0)).collect();
        let parts = shares::ranges(blocks, rayon::current_num_threads(), 1);
        shares::run_shares(parts.len(), &|p| {
            for b in parts[p].clone() {
                // `run_shares` returns only after every share finished (with acquire/release
                // on their states), so relaxed stores are seen by the loads below.
                partials[b].store(block_sum(b).to_bits(), Ordering::Relaxed);
            }
        });
        partials.iter().map(|p| f64::from_bits(p.load(Ordering::Relaxed))).sum()
    } else {
        (0..blocks).map(block_sum).sum()
    };
    (total / n as f64) as f32
}

/// `dx[i] = g · (σ(x[i]) − y[i]) / n` (n = `x.len()`): the gradient of the mean loss in the
/// logits, for the upstream gradient `g`, in one pass.
pub fn bce_with_logits_backward(x: &[f32], y: &[f32], g: f32, dx: &mut [f32]) {
    assert!(
        x.len() == dx.len() && y.len() == dx.len(),
        "bce_with_logits_backward: logits, targets and dx have the same length"
    );
    // `n as f32` once, as the GPU kernel receives it, so both scale by the same float.
    let s = g / dx.len() as f32;
    for_each_chunk(dx, |start, chunk| {
        let end = start + chunk.len();
        for ((o, &xv), &yv) in chunk.iter_mut().zip(&x[start..end]).zip(&y[start..end]) {
            *o = s * (sigmoid(xv) - yv);
        }
    });
}

/// `dy[i] = −g · x[i] / n` (n = `x.len()`): the gradient of the mean loss in the targets.
pub fn bce_with_logits_backward_targets(x: &[f32], g: f32, dy: &mut [f32]) {
    assert_eq!(x.len(), dy.len(), "bce_with_logits_backward_targets: logits and dy have the same length");
    let s = g / dy.len() as f32;
    for_each_chunk(dy, |start, chunk| {
        let x = &x[start..start + chunk.len()];
        for (o, &xv) in chunk.iter_mut().zip(x) {
            *o = -(s * xv);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// The loss of one element straight from the definition `−y ln σ(x) − (1 − y) ln(1 − σ(x))`,
    /// in f64 (fine for moderate x, where nothing overflows).
    fn naive(x: f32, y: f32) -> f64 {
        let s = 1.0 / (1.0 + (-f64::from(x)).exp());
        -f64::from(y) * s.ln() - (1.0 - f64::from(y)) * (1.0 - s).ln()
    }

    #[test]
    fn loss_matches_the_definition_and_is_exact_at_extreme_logits() {
        let x = [0.3f32, -1.7, 2.5, 0.0, -4.0];
        let y = [1.0f32, 0.0, 0.25, 0.5, 0.9];
        let want: f64 = x.iter().zip(&y).map(|(&a, &b)| naive(a, b)).sum::<f64>() / 5.0;
        assert_relative_eq!(bce_with_logits(&x, &y), want as f32, max_relative = 1e-6);
        // ±100: the naive form overflows or loses everything; this one is exact.
        assert_eq!(bce_with_logits(&[100.0], &[0.0]), 100.0);
        assert_eq!(bce_with_logits(&[-100.0], &[1.0]), 100.0);
        assert_eq!(bce_with_logits(&[100.0, -100.0], &[1.0, 0.0]), (-100f64).exp() as f32);
        assert_relative_eq!(bce_with_logits(&[0.0], &[1.0]), std::f32::consts::LN_2, max_relative = 1e-7);
        // The soft-plus tail is kept: ln(1 + e^-30) ≈ 9.4e-14, lost by ln(1 + ·) in f32.
        assert_relative_eq!(bce_with_logits(&[30.0], &[1.0]), (-30f64).exp() as f32, max_relative = 1e-6);
        assert!(bce_with_logits(&[], &[]).is_nan(), "the mean of nothing is NaN");
    }

    #[test]
    fn large_inputs_sum_the_same_on_any_thread_count() {
        // Past the split threshold and not a multiple of the block size.
        let n = PAR_MIN_ELEMS * 3 + 17;
        let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.2).collect();
        let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32 * 0.5).collect();
        let want: f64 = x.iter().zip(&y).map(|(&a, &b)| element_loss(a, b)).sum::<f64>() / n as f64;
        let got = bce_with_logits(&x, &y);
        assert_relative_eq!(got, want as f32, max_relative = 1e-6);
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one_thread.install(|| bce_with_logits(&x, &y)).to_bits(), got.to_bits());
    }

    #[test]
    fn gradients_are_sigmoid_minus_target_and_minus_logit_scaled_by_g_over_n() {
        let x = [0.3f32, -1.7, 100.0, -100.0, 0.0];
        let y = [1.0f32, 0.0, 0.25, 0.5, 0.9];
        let (g, n) = (3.0f32, 5.0f32);
        let mut dx = [0.0; 5];
        bce_with_logits_backward(&x, &y, g, &mut dx);
        for i in 0..5 {
            let s = 1.0 / (1.0 + (-f64::from(x[i])).exp());
            let want = f64::from(g) * (s - f64::from(y[i])) / f64::from(n);
            assert!((f64::from(dx[i]) - want).abs() < 1e-6, "dx[{i}] = {} vs {want}", dx[i]);
        }
        let mut dy = [0.0; 5];
        bce_with_logits_backward_targets(&x, g, &mut dy);
        for i in 0..5 {
            assert_relative_eq!(dy[i], -g * x[i] / n, max_relative = 1e-6);
        }
        // The derivative against central differences of the f64 loss, where it is smooth.
        let h = 1e-4;
        for (&xv, &yv) in x[..2].iter().zip(&y) {
            let numeric = (element_loss(xv + h, yv) - element_loss(xv - h, yv)) / (2.0 * f64::from(h));
            let mut d = [0.0];
            bce_with_logits_backward(&[xv], &[yv], 1.0, &mut d);
            assert!((f64::from(d[0]) - numeric).abs() < 1e-3, "{} vs {numeric}", d[0]);
        }
        // Empty: nothing to write, no panic.
        bce_with_logits_backward(&[], &[], 1.0, &mut []);
        bce_with_logits_backward_targets(&[], 1.0, &mut []);
    }
}
