//! Softmax and log-softmax along one axis, fused, with their backward rules.

use crate::AxisSplit;

/// Calls `f` with the `len` elements along the axis for every (outer, inner) position and the
/// matching `len` outputs. Along the last axis (`inner == 1`, what classifiers use) the lines
/// are contiguous and passed in place; otherwise each is gathered into a scratch line, and the
/// result scattered back.
fn per_line(split: AxisSplit, inputs: &[&[f32]], out: &mut [f32], f: impl Fn(&[&[f32]], &mut [f32]) + Sync) {
    debug_assert!(inputs.len() <= 2, "softmax kernels take x, or y and dy");
    let AxisSplit { len, inner, .. } = split;
    if len == 0 || inner == 0 {
        return;
    }
    if inner == 1 {
        super::for_each_row(out, len, |o, line_out| {
            let mut lines = [&[][..]; 2];
            for (line, src) in lines.iter_mut().zip(inputs) {
                *line = &src[o * len..][..len];
            }
            f(&lines[..inputs.len()], line_out);
        });
        return;
    }
    super::for_each_row(out, len * inner, |o, block| {
        let base = o * len * inner;
        let mut lines: Vec<Vec<f32>> = inputs.iter().map(|_| vec![0.0; len]).collect();
        let mut line_out = vec![0.0; len];
        for i in 0..inner {
            for (line, src) in lines.iter_mut().zip(inputs) {
                for j in 0..len {
                    line[j] = src[base + j * inner + i];
                }
            }
            let mut views = [&[][..]; 2];
            for (view, line) in views.iter_mut().zip(&lines) {
                *view = line;
            }
            f(&views[..inputs.len()], &mut line_out);
            for j in 0..len {
                block[j * inner + i] = line_out[j];
            }
        }
    });
}

/// Numerically stable softmax: the max is subtracted before exponentiating.
pub fn softmax(x: &[f32], split: AxisSplit, out: &mut [f32]) {
    per_line(split, &[x], out, |l, o| {
        let x = l[0];
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (o, &v) in o.iter_mut().zip(x) {
            *o = (v - max).exp();
            sum += *o;
        }
        o.iter_mut().for_each(|v| *v /= sum);
    });
}

/// `log_softmax(x) = (x - max) - ln Σ exp(x - max)`.
pub fn log_softmax(x: &[f32], split: AxisSplit, out: &mut [f32]) {
    per_line(split, &[x], out, |l, o| {
        let x = l[0];
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // Subtract the max first: `x - (max + ln Σ)` would lose digits when |x| is large.
        let log_sum = x.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
        for (o, &v) in o.iter_mut().zip(x) {
            *o = (v - max) - log_sum;
        }
    });
}

/// Softmax backward from its output `y`: `dx = y ⊙ (dy − Σ dy ⊙ y)`.
pub fn softmax_backward(y: &[f32], dy: &[f32], split: AxisSplit, dx: &mut [f32]) {
    per_line(split, &[y, dy], dx, |l, o| {
        let (y, dy) = (l[0], l[1]);
        let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
        for j in 0..o.len() {
            o[j] = y[j] * (dy[j] - dot);
        }
    });
}

/// Log-softmax backward from its output `y`: `dx = dy − exp(y) Σ dy`.
pub fn log_softmax_backward(y: &[f32], dy: &[f32], split: AxisSplit, dx: &mut [f32]) {
    per_line(split, &[y, dy], dx, |l, o| {
        let (y, dy) = (l[0], l[1]);
        let sum: f32 = dy.iter().sum();
        for j in 0..o.len() {
            o[j] = dy[j] - y[j].exp() * sum;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let x = [1000.0, 1001.0, 1002.0, 0.0, 0.0, 0.0];
        let mut out = [0.0; 6];
        softmax(&x, AxisSplit::new(&[2, 3], 1), &mut out);
        assert_relative_eq!(out[0], 0.090_030_57, epsilon = 1e-6);
        assert_relative_eq!(out[2], 0.665_240_94, epsilon = 1e-6);
        assert_relative_eq!(out[3], 1.0 / 3.0, epsilon = 1e-6);
        let mut ls = [0.0; 6];
        log_softmax(&x, AxisSplit::new(&[2, 3], 1), &mut ls);
        assert_relative_eq!(ls[2], 0.665_240_94f32.ln(), epsilon = 1e-5);
        // Along axis 0 of [3,2]: columns are independent.
        softmax(&[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], AxisSplit::new(&[3, 2], 0), &mut out);
        assert_relative_eq!(out[0], 1.0 / 3.0, epsilon = 1e-6);
        assert_relative_eq!(out[1], 1.0 / 3.0, epsilon = 1e-6);
    }
}
