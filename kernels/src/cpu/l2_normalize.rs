//! L2 normalisation of rows (PyTorch's `F.normalize(x, p=2, dim=-1, eps)`):
//! `y = x / max(‖x‖, eps)`, and its gradient: with `n = ‖x‖`, `dx = (g − y·(y·g)) / n` where
//! `n > eps`, `dx = g / eps` where the norm is clamped (the denominator is then a constant).

use super::for_each_row;

/// Forward over consecutive rows of `len` floats; `norms` receives each row's `‖x‖`.
pub fn l2_normalize(x: &[f32], len: usize, eps: f32, y: &mut [f32], norms: &mut [f32]) {
    assert!(len > 0 && x.len() == y.len() && x.len() == norms.len() * len, "l2_normalize: rows of len");
    for (n, row) in norms.iter_mut().zip(x.chunks_exact(len)) {
        *n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
    }
    let norms = &*norms;
    for_each_row(y, len, |r, out| {
        let inv = 1.0 / norms[r].max(eps);
        out.iter_mut().zip(&x[r * len..][..len]).for_each(|(o, &v)| *o = v * inv);
    });
}

/// Backward from the forward's output `y`, its row norms and the upstream `g`.
pub fn l2_normalize_backward(y: &[f32], norms: &[f32], g: &[f32], eps: f32, dx: &mut [f32]) {
    assert!(!norms.is_empty() && y.len() == dx.len() && g.len() == dx.len(), "l2_normalize_backward: sizes agree");
    let len = y.len() / norms.len();
    for_each_row(dx, len, |r, d| {
        let (y, g) = (&y[r * len..][..len], &g[r * len..][..len]);
        if norms[r] > eps {
            let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
            let inv = 1.0 / norms[r];
            d.iter_mut().zip(y.iter().zip(g)).for_each(|(d, (&y, &g))| *d = (g - y * dot) * inv);
        } else {
            let inv = 1.0 / eps;
            d.iter_mut().zip(g).for_each(|(d, &g)| *d = g * inv);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_get_unit_norm_and_small_rows_are_divided_by_eps() {
        let (mut y, mut n) = ([0.0; 4], [0.0; 2]);
        l2_normalize(&[3.0, 4.0, 0.0, 1e-13], 2, 1e-12, &mut y, &mut n);
        assert_eq!(n, [5.0, 1e-13]);
        assert_eq!(y[..2], [0.6, 0.8]);
        assert!((y[3] - 0.1).abs() < 1e-6);
        let mut dx = [0.0; 4];
        l2_normalize_backward(&y, &n, &[1.0, 0.0, 0.0, 1.0], 1e-12, &mut dx);
        // d(x/‖x‖)/dx₀ at (3, 4): (1 − 0.36)/5 and −0.48/5.
        assert!((dx[0] - 0.128).abs() < 1e-6 && (dx[1] + 0.096).abs() < 1e-6);
        assert_eq!(dx[3], 1e12);
    }
}
