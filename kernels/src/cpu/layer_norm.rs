//! LayerNorm over the last axis, fused: each row's mean and variance and the normalised,
//! scaled and shifted output in two passes over the row (which stays in L1), instead of nine
//! elementwise kernels over the whole tensor; and its backward in one pass per row plus one
//! column pass for the weight and bias gradients.
//!
//! For a row `x` of `n` features: `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased, as PyTorch),
//! `r = 1/√(σ² + ε)`, `x̂ = (x − μ)·r`, `y = x̂·w + b`. Backward with `g = dy·w`:
//! `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dw = Σ_rows dy·x̂`, `db = Σ_rows dy`.

use super::{for_each_piece, worth_splitting, PAR_MIN_ELEMS};

/// Rows per parallel task (a few hundred KiB of rows at BERT's widths).
const ROWS_PER_TASK: usize = 64;
/// Columns per task of the weight and bias gradients.
const COLS_PER_TASK: usize = 64;

/// `y = layer_norm(x)·w + b` for consecutive rows of `n` floats of `x`; `mean` and `rstd`
/// receive each row's mean and `1/√(σ² + ε)` for the backward.
pub fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, y: &mut [f32], mean: &mut [f32], rstd: &mut [f32]) {
    let n = w.len();
    assert!(n > 0 && b.len() == n && x.len() == y.len(), "layer_norm: x, y and the rows of n agree");
    let rows = x.len() / n;
    assert!(x.len().is_multiple_of(n) && mean.len() == rows && rstd.len() == rows, "layer_norm: stats per row");
    let parallel = worth_splitting(x.len(), PAR_MIN_ELEMS);
    let row = |r: usize| &x[r * n..][..n];
    for_each_piece(mean, ROWS_PER_TASK, parallel, &|t, means| {
        for (i, m) in means.iter_mut().enumerate() {
            *m = row(t * ROWS_PER_TASK + i).iter().sum::<f32>() / n as f32;
        }
    });
    let means = &*mean;
    for_each_piece(rstd, ROWS_PER_TASK, parallel, &|t, rstds| {
        for (i, s) in rstds.iter_mut().enumerate() {
            let r = t * ROWS_PER_TASK + i;
            let var = row(r).iter().map(|&v| (v - means[r]) * (v - means[r])).sum::<f32>() / n as f32;
            *s = 1.0 / (var + eps).sqrt();
        }
    });
    let (mean, rstd) = (&*mean, &*rstd);
    for_each_piece(y, n * ROWS_PER_TASK, parallel, &|t, out| {
        for (i, o) in out.chunks_exact_mut(n).enumerate() {
            let r = t * ROWS_PER_TASK + i;
            let (mean, rstd) = (mean[r], rstd[r]);
            for (((o, &v), &w), &b) in o.iter_mut().zip(row(r)).zip(w).zip(b) {
                *o = (v - mean) * rstd * w + b;
            }
        }
    });
}

/// The input gradient of [`layer_norm`] from its row statistics and the upstream `dy`.
pub fn layer_norm_backward_input(x: &[f32], w: &[f32], mean: &[f32], rstd: &[f32], dy: &[f32], dx: &mut [f32]) {
    let n = w.len();
    assert!(n > 0 && x.len() == dx.len() && dy.len() == dx.len(), "layer_norm_backward: x, dy and dx agree");
    assert!(mean.len() == x.len() / n && rstd.len() == mean.len(), "layer_norm_backward: stats per row");
    for_each_piece(dx, n * ROWS_PER_TASK, worth_splitting(x.len(), PAR_MIN_ELEMS), &|t, out| {
        for (i, o) in out.chunks_exact_mut(n).enumerate() {
            let r = t * ROWS_PER_TASK + i;
            let (mean, rstd) = (mean[r], rstd[r]);
            let (x, dy) = (&x[r * n..][..n], &dy[r * n..][..n]);
            let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
            for ((&v, &d), &w) in x.iter().zip(dy).zip(w) {
                let g = d * w;
                sum_g += g;
                sum_gx += g * (v - mean) * rstd;
            }
            let (mean_g, mean_gx) = (sum_g / n as f32, sum_gx / n as f32);
            for (((o, &v), &d), &w) in o.iter_mut().zip(x).zip(dy).zip(w) {
                let xhat = (v - mean) * rstd;
                *o = rstd * (d * w - mean_g - xhat * mean_gx);
            }
        }
    });
}

/// The weight gradient `Σ_rows dy·x̂` (`n` floats) of [`layer_norm`].
pub fn layer_norm_backward_weight(x: &[f32], mean: &[f32], rstd: &[f32], dy: &[f32], dw: &mut [f32]) {
    let n = dw.len();
    assert!(n > 0 && x.len() == dy.len() && mean.len() == x.len() / n, "layer_norm_backward: shapes agree");
    for_each_piece(dw, COLS_PER_TASK, worth_splitting(x.len(), PAR_MIN_ELEMS), &|t, cols| {
        let c0 = t * COLS_PER_TASK;
        cols.fill(0.0);
        for (r, (&m, &s)) in mean.iter().zip(rstd).enumerate() {
            let (x, dy) = (&x[r * n + c0..][..cols.len()], &dy[r * n + c0..][..cols.len()]);
            for ((o, &v), &d) in cols.iter_mut().zip(x).zip(dy) {
                *o += d * ((v - m) * s);
            }
        }
    });
}

/// The bias gradient `Σ_rows dy` (`n` floats) of [`layer_norm`].
pub fn layer_norm_backward_bias(dy: &[f32], db: &mut [f32]) {
    let n = db.len();
    assert!(n > 0 && dy.len().is_multiple_of(n), "layer_norm_backward: dy is rows of n");
    for_each_piece(db, COLS_PER_TASK, worth_splitting(dy.len(), PAR_MIN_ELEMS), &|t, cols| {
        let c0 = t * COLS_PER_TASK;
        cols.fill(0.0);
        for row in dy.chunks_exact(n) {
            for (o, &d) in cols.iter_mut().zip(&row[c0..]) {
                *o += d;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The composition the fused kernel replaces, in f64.
    fn reference(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
        let n = w.len();
        x.chunks(n)
            .flat_map(|row| {
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                let rstd = 1.0 / (var + eps as f64).sqrt();
                row.iter()
                    .zip(w)
                    .zip(b)
                    .map(move |((&v, &w), &b)| ((v as f64 - mean) * rstd * w as f64 + b as f64) as f32)
            })
            .collect()
    }

    #[test]
    fn matches_the_composition_on_small_and_parallel_sizes() {
        for (rows, n) in [(1, 1), (3, 5), (130, 384), (200, 7)] {
            let x: Vec<f32> = (0..rows * n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.03).collect();
            let w: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 * 0.01).collect();
            let b: Vec<f32> = (0..n).map(|j| j as f32 * -0.02).collect();
            let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
            layer_norm(&x, &w, &b, 1e-5, &mut y, &mut mean, &mut rstd);
            for (g, r) in y.iter().zip(reference(&x, &w, &b, 1e-5)) {
                assert!((g - r).abs() < 2e-5, "{rows}x{n}: {g} vs {r}");
            }
            let dy: Vec<f32> = (0..x.len()).map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.1).collect();
            let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
            layer_norm_backward_weight(&x, &mean, &rstd, &dy, &mut dw);
            layer_norm_backward_bias(&dy, &mut db);
            for j in 0..n {
                let col: f32 = (0..rows).map(|r| dy[r * n + j]).sum();
                assert!((db[j] - col).abs() < 1e-4 * (1.0 + col.abs()), "db[{j}]");
            }
            assert!(dw.iter().all(|v| v.is_finite()));
        }
    }
}
