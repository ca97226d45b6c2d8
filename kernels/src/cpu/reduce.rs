//! Reductions along one axis, on the `[outer, len, inner]` view of a tensor.

use super::for_each_row;
use crate::{AxisSplit, ReduceOp};

/// `out[o, i] = op over j of x[o, j, i]`; `out` has `outer * inner` elements.
/// Reducing an empty axis gives 0 for sum and ∓inf for max/min, as NumPy's identities.
pub fn reduce(op: ReduceOp, x: &[f32], split: AxisSplit, out: &mut [f32]) {
    let inner = split.inner;
    assert_eq!(x.len(), split.numel(), "reduce: input matches the split");
    assert_eq!(out.len(), split.outer * inner, "reduce: output is outer*inner");
    if inner == 0 {
        return;
    }
    // One monomorphised loop per op: through a function pointer the combine is an indirect
    // call per element, and the column sums of a bias gradient do not vectorise.
    match op {
        ReduceOp::Sum => reduce_with(x, split, out, 0.0, |a, b| a + b),
        ReduceOp::Max => reduce_with(x, split, out, f32::NEG_INFINITY, |a, b| if b > a || b.is_nan() { b } else { a }),
        ReduceOp::Min => reduce_with(x, split, out, f32::INFINITY, |a, b| if b < a || b.is_nan() { b } else { a }),
    }
}

fn reduce_with(x: &[f32], split: AxisSplit, out: &mut [f32], init: f32, combine: impl Fn(f32, f32) -> f32 + Sync) {
    let AxisSplit { len, inner, .. } = split;
    for_each_row(out, inner, |o, row| {
        let block = &x[o * len * inner..(o + 1) * len * inner];
        row.iter_mut().for_each(|v| *v = init);
        // Walk the block row by row so reads stay contiguous whatever the axis.
        for j in 0..len {
            let src = &block[j * inner..(j + 1) * inner];
            for (acc, &v) in row.iter_mut().zip(src) {
                *acc = combine(*acc, v);
            }
        }
    });
}

/// The sum of `x`, added up in 16 interleaved partial sums and then across them. A plain fold
/// cannot be vectorised (each add waits for the one before, as float addition is not
/// associative); this one is. The order differs from a fold's, so the last bits may too.
pub(crate) fn lanewise_sum(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p += v;
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// Index (as f32) of the first max (`want_max`) or min along the axis; `out` has `outer * inner`
/// elements. An empty axis is the caller's error to refuse.
pub fn arg_reduce(want_max: bool, x: &[f32], split: AxisSplit, out: &mut [f32]) {
    let AxisSplit { len, inner, .. } = split;
    assert_eq!(x.len(), split.numel(), "arg_reduce: input matches the split");
    assert!(len > 0, "arg_reduce: the axis is not empty");
    if inner == 0 {
        return;
    }
    for_each_row(out, inner, |o, row| {
        let block = &x[o * len * inner..(o + 1) * len * inner];
        for (i, slot) in row.iter_mut().enumerate() {
            let (mut best, mut best_j) = (block[i], 0usize);
            for j in 1..len {
                let v = block[j * inner + i];
                let better = if want_max { v > best } else { v < best };
                // NaN wins and stays, as in PyTorch.
                if (better || v.is_nan()) && !best.is_nan() {
                    best = v;
                    best_j = j;
                }
            }
            *slot = best_j as f32;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanewise_sums_match_a_wide_sum_at_every_tail_length() {
        for len in [0, 1, 7, 15, 16, 17, 31, 33, 676, 1001] {
            let x: Vec<f32> = (0..len).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
            let got = lanewise_sum(&x);
            assert!((f64::from(got) - exact).abs() <= 1e-4 * (1.0 + exact.abs()), "len {len}: {got} vs {exact}");
        }
        assert!(lanewise_sum(&[1.0, f32::NAN, 2.0]).is_nan());
    }

    #[test]
    fn reduces_each_axis() {
        // [2,3]: [[1,5,3],[4,2,6]]
        let x = [1.0, 5.0, 3.0, 4.0, 2.0, 6.0];
        let mut rows = [0.0; 2];
        reduce(ReduceOp::Sum, &x, AxisSplit::new(&[2, 3], 1), &mut rows);
        assert_eq!(rows, [9.0, 12.0]);
        let mut cols = [0.0; 3];
        reduce(ReduceOp::Max, &x, AxisSplit::new(&[2, 3], 0), &mut cols);
        assert_eq!(cols, [4.0, 5.0, 6.0]);
        arg_reduce(true, &x, AxisSplit::new(&[2, 3], 1), &mut rows);
        assert_eq!(rows, [1.0, 2.0]);
        arg_reduce(false, &x, AxisSplit::new(&[2, 3], 0), &mut cols);
        assert_eq!(cols, [0.0, 1.0, 0.0]);
    }
}
