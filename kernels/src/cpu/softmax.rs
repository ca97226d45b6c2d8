//! Softmax and log-softmax along one axis, fused, with their backward rules. Exponentials are
//! taken a group of rows at a time by the vectorised [`exp_in_place`].

use super::exp::exp_in_place;
use crate::AxisSplit;

/// Floats of the last-axis rows handled together: small enough to stay in L1 across a group's
/// passes, large enough that the vectorised `exp` pass over the group runs long vectors even
/// when rows are short (a classifier's 10 logits).
const GROUP_FLOATS: usize = 1024;

/// Calls `f(inputs, outputs)` on whole lines along the axis: consecutive `len`-element lines of
/// each input and the matching lines of `out`. Along the last axis (`inner == 1`, what
/// classifiers use) lines are contiguous and passed in place, several rows per call; otherwise
/// each line is gathered into a scratch line, and the result scattered back.
fn per_lines(split: AxisSplit, inputs: &[&[f32]], out: &mut [f32], f: impl Fn(&[&[f32]], &mut [f32]) + Sync) {
    debug_assert!(inputs.len() <= 2, "softmax kernels take x, or y and dy");
    let AxisSplit { len, inner, .. } = split;
    if len == 0 || inner == 0 {
        return;
    }
    if inner == 1 {
        let group = (GROUP_FLOATS / len).max(1) * len;
        let parallel = super::worth_splitting(out.len(), super::PAR_MIN_ELEMS);
        super::for_each_piece(out, group, parallel, &|g, rows_out| {
            let mut rows = [&[][..]; 2];
            for (rows, src) in rows.iter_mut().zip(inputs) {
                *rows = &src[g * group..][..rows_out.len()];
            }
            f(&rows[..inputs.len()], rows_out);
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

/// `out = x - max(x)` row by row, over consecutive rows of `len`.
fn shift_by_row_max(x: &[f32], out: &mut [f32], len: usize) {
    for (o, x) in out.chunks_exact_mut(len).zip(x.chunks_exact(len)) {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        o.iter_mut().zip(x).for_each(|(o, &v)| *o = v - max);
    }
}

/// Numerically stable softmax: the max is subtracted before exponentiating.
pub fn softmax(x: &[f32], split: AxisSplit, out: &mut [f32]) {
    let len = split.len;
    per_lines(split, &[x], out, |l, o| {
        shift_by_row_max(l[0], o, len);
        exp_in_place(o);
        for o in o.chunks_exact_mut(len) {
            let sum: f32 = o.iter().sum();
            o.iter_mut().for_each(|v| *v /= sum);
        }
    });
}

/// `log_softmax(x) = (x - max) - ln Σ exp(x - max)`.
pub fn log_softmax(x: &[f32], split: AxisSplit, out: &mut [f32]) {
    let len = split.len;
    per_lines(split, &[x], out, |l, o| {
        let x = l[0];
        shift_by_row_max(x, o, len);
        exp_in_place(o);
        for (o, x) in o.chunks_exact_mut(len).zip(x.chunks_exact(len)) {
            let log_sum = o.iter().sum::<f32>().ln();
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // Subtract the max first: `x - (max + ln Σ)` would lose digits when |x| is large.
            o.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - max) - log_sum);
        }
    });
}

/// Softmax backward from its output `y`: `dx = y ⊙ (dy − Σ dy ⊙ y)`.
pub fn softmax_backward(y: &[f32], dy: &[f32], split: AxisSplit, dx: &mut [f32]) {
    let len = split.len;
    per_lines(split, &[y, dy], dx, |l, o| {
        for ((o, y), dy) in o.chunks_exact_mut(len).zip(l[0].chunks_exact(len)).zip(l[1].chunks_exact(len)) {
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            for j in 0..len {
                o[j] = y[j] * (dy[j] - dot);
            }
        }
    });
}

/// Log-softmax backward from its output `y`: `dx = dy − exp(y) Σ dy`.
pub fn log_softmax_backward(y: &[f32], dy: &[f32], split: AxisSplit, dx: &mut [f32]) {
    let len = split.len;
    per_lines(split, &[y, dy], dx, |l, o| {
        o.copy_from_slice(l[0]);
        exp_in_place(o);
        for (o, dy) in o.chunks_exact_mut(len).zip(l[1].chunks_exact(len)) {
            let sum: f32 = dy.iter().sum();
            o.iter_mut().zip(dy).for_each(|(o, &g)| *o = g - *o * sum);
        }
    });
}

/// Mean cross-entropy of `[rows, classes]` logits against one class per row, from their
/// log-softmax `lsm` (see [`log_softmax`]): `−(1/rows) Σᵢ lsm[i, labelᵢ]`, summed in `f64`.
/// The caller has checked that `lsm` holds `labels.len()` rows and every label is a class.
pub fn cross_entropy(lsm: &[f32], labels: &[usize]) -> f32 {
    let classes = lsm.len() / labels.len().max(1);
    let picked: f64 = labels.iter().enumerate().map(|(i, &l)| f64::from(lsm[i * classes + l])).sum();
    (-picked / labels.len() as f64) as f32
}

/// Cross-entropy backward from the log-softmax `lsm` of the logits:
/// `dx = scale · (softmax − one_hot(labels))`, where `softmax = exp(lsm)` and `scale` is the
/// loss gradient over the row count. One pass, where the composed rule takes five kernels.
pub fn cross_entropy_backward(lsm: &[f32], labels: &[usize], scale: f32, dx: &mut [f32]) {
    assert_eq!(lsm.len(), dx.len(), "cross_entropy_backward: dx has the logits' length");
    let classes = lsm.len() / labels.len().max(1);
    super::for_each_chunk(dx, |start, chunk| {
        chunk.copy_from_slice(&lsm[start..start + chunk.len()]);
        exp_in_place(chunk);
        chunk.iter_mut().for_each(|v| *v *= scale);
    });
    for (row, &l) in dx.chunks_exact_mut(classes).zip(labels) {
        row[l] -= scale;
    }
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

    /// Row by row in `f64`, with libm's `exp`: the reference for the grouped, vectorised kernels.
    fn reference(x: &[f32], len: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut soft, mut log) = (Vec::new(), Vec::new());
        for row in x.chunks(len) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
            soft.extend(row.iter().map(|&v| ((v as f64 - max).exp() / sum) as f32));
            log.extend(row.iter().map(|&v| ((v as f64 - max) - sum.ln()) as f32));
        }
        (soft, log)
    }

    #[test]
    fn grouped_rows_match_the_row_by_row_reference() {
        // Rows shorter than a group (several per group, a partial last group, split across
        // threads when large), a row longer than a group, and a single element.
        for (rows, len) in [(300, 7), (4096, 10), (3, 1500), (5, 1)] {
            let x: Vec<f32> = (0..rows * len).map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0).collect();
            let split = AxisSplit::new(&[rows, len], 1);
            let (soft_ref, log_ref) = reference(&x, len);
            let (mut soft, mut log) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            softmax(&x, split, &mut soft);
            log_softmax(&x, split, &mut log);
            for i in 0..x.len() {
                assert_relative_eq!(soft[i], soft_ref[i], epsilon = 1e-7, max_relative = 1e-5);
                assert_relative_eq!(log[i], log_ref[i], epsilon = 1e-5, max_relative = 1e-5);
            }
            // Backward rules against their formulas on the reference values.
            let dy: Vec<f32> = (0..x.len()).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
            let mut dx = vec![0.0; x.len()];
            log_softmax_backward(&log, &dy, split, &mut dx);
            for (r, row) in dx.chunks(len).enumerate() {
                let sum: f32 = dy[r * len..][..len].iter().sum();
                for (j, &v) in row.iter().enumerate() {
                    let want = dy[r * len + j] - soft_ref[r * len + j] * sum;
                    assert_relative_eq!(v, want, epsilon = 1e-5, max_relative = 1e-4);
                }
            }
        }
    }

    #[test]
    fn cross_entropy_picks_the_labels_and_its_gradient_is_softmax_minus_one_hot() {
        let (rows, len) = (37, 10);
        let x: Vec<f32> = (0..rows * len).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        let labels: Vec<usize> = (0..rows).map(|i| (i * 3) % len).collect();
        let (soft, log) = reference(&x, len);
        let want = -labels.iter().enumerate().map(|(i, &l)| log[i * len + l] as f64).sum::<f64>() / rows as f64;
        assert_relative_eq!(cross_entropy(&log, &labels), want as f32, max_relative = 1e-6);
        let mut dx = vec![0.0; x.len()];
        cross_entropy_backward(&log, &labels, 0.5, &mut dx);
        for (i, &v) in dx.iter().enumerate() {
            let hot = if labels[i / len] == i % len { 1.0 } else { 0.0 };
            assert_relative_eq!(v, 0.5 * (soft[i] - hot), epsilon = 1e-6);
        }
    }
}
