//! Masked mean over the tokens of a sequence (sentence-transformers' mean pooling): for
//! `h` `[batch, seq, hidden]` and weights `mask` `[batch, seq]`,
//! `out[b] = Σ_t mask[b,t]·h[b,t] / max(Σ_t mask[b,t], 1e-9)`, and its input gradient
//! `dh[b,t] = mask[b,t]·g[b] / max(Σ_t mask[b,t], 1e-9)`.

use super::for_each_row;

/// The smallest token count divided by, as sentence-transformers clamps it (a row without
/// tokens pools to 0).
pub const MASKED_MEAN_MIN_COUNT: f32 = 1e-9;

/// `1 / max(Σ mask, 1e-9)` of a batch entry's mask.
fn inverse_count(mask: &[f32]) -> f32 {
    1.0 / mask.iter().sum::<f32>().max(MASKED_MEAN_MIN_COUNT)
}

/// Forward: `out` is `[batch, hidden]`, `[batch, seq, hidden] = [out.len() / hidden, mask.len() / batch, hidden]`.
pub fn masked_mean(h: &[f32], mask: &[f32], hidden: usize, out: &mut [f32]) {
    assert!(hidden > 0 && out.len().is_multiple_of(hidden), "masked_mean: out is [batch, hidden]");
    let batch = out.len() / hidden;
    assert!(batch > 0 && mask.len().is_multiple_of(batch), "masked_mean: mask is [batch, seq]");
    let seq = mask.len() / batch;
    assert_eq!(h.len(), batch * seq * hidden, "masked_mean: h is [batch, seq, hidden]");
    for_each_row(out, hidden, |b, o| {
        let m = &mask[b * seq..][..seq];
        o.fill(0.0);
        for (t, &w) in m.iter().enumerate() {
            if w != 0.0 {
                for (o, &x) in o.iter_mut().zip(&h[(b * seq + t) * hidden..][..hidden]) {
                    *o += w * x;
                }
            }
        }
        let inv = inverse_count(m);
        o.iter_mut().for_each(|o| *o *= inv);
    });
}

/// Backward: `dh` `[batch, seq, hidden]` from the upstream `g` `[batch, hidden]`.
pub fn masked_mean_backward(mask: &[f32], g: &[f32], hidden: usize, dh: &mut [f32]) {
    assert!(hidden > 0 && g.len().is_multiple_of(hidden), "masked_mean_backward: g is [batch, hidden]");
    let batch = g.len() / hidden;
    assert!(batch > 0 && mask.len() * hidden == dh.len(), "masked_mean_backward: dh is [batch, seq, hidden]");
    let seq = mask.len() / batch;
    for_each_row(dh, seq * hidden, |b, d| {
        let m = &mask[b * seq..][..seq];
        let (inv, g) = (inverse_count(m), &g[b * hidden..][..hidden]);
        for (d, &w) in d.chunks_exact_mut(hidden).zip(m) {
            let c = w * inv;
            d.iter_mut().zip(g).for_each(|(d, &g)| *d = c * g);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_the_weighted_tokens_and_spreads_the_gradient_back() {
        // Two entries of three tokens of two features; the first keeps two tokens, the second none.
        let h: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mask = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let mut out = [9.0; 4];
        masked_mean(&h, &mask, 2, &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0]);
        let mut dh = [9.0; 12];
        masked_mean_backward(&mask, &[2.0, 4.0, 1.0, 1.0], 2, &mut dh);
        assert_eq!(dh, [1.0, 2.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
