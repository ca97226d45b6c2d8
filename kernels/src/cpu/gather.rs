//! Index-based kernels: index_select / index_add (embeddings) and gather / scatter-add along an
//! axis (PyTorch's `torch.gather`). Indices are validated by the caller; scatters run serially in
//! index order so results are deterministic.

use crate::AxisSplit;

/// `out[o, t, i] = x[o, idx[t], i]`, with `out` split as `[outer, idx.len(), inner]`.
pub fn index_select(x: &[f32], split: AxisSplit, idx: &[usize], out: &mut [f32]) {
    let AxisSplit { len, inner, .. } = split;
    let block = idx.len() * inner;
    if block == 0 {
        return;
    }
    super::for_each_row(out, block, |o, dst| {
        for (t, &j) in idx.iter().enumerate() {
            let src = &x[(o * len + j) * inner..(o * len + j + 1) * inner];
            dst[t * inner..(t + 1) * inner].copy_from_slice(src);
        }
    });
}

/// `dst[o, idx[t], i] += src[o, t, i]`: the adjoint of [`index_select`]; repeated indices add up.
pub fn index_add(dst: &mut [f32], split: AxisSplit, idx: &[usize], src: &[f32]) {
    let AxisSplit { len, inner, .. } = split;
    let block = idx.len() * inner;
    if block == 0 {
        return;
    }
    super::for_each_row(dst, len * inner, |o, d| {
        for (t, &j) in idx.iter().enumerate() {
            let s = &src[o * block + t * inner..o * block + (t + 1) * inner];
            for (a, b) in d[j * inner..(j + 1) * inner].iter_mut().zip(s) {
                *a += b;
            }
        }
    });
}

/// `out[o, t, i] = x[o, idx[o, t, i], i]` where `idx` (and `out`) are split as
/// `[outer, idx_len, inner]` and `x` as `[outer, split.len, inner]`.
pub fn gather_axis(x: &[f32], split: AxisSplit, idx: &[usize], idx_len: usize, out: &mut [f32]) {
    let AxisSplit { len, inner, .. } = split;
    for (pos, o) in out.iter_mut().enumerate() {
        let (outer, i) = (pos / (idx_len * inner), pos % inner);
        *o = x[(outer * len + idx[pos]) * inner + i];
    }
}

/// `dst[o, idx[o, t, i], i] += src[o, t, i]`: the adjoint of [`gather_axis`].
pub fn scatter_add_axis(dst: &mut [f32], split: AxisSplit, idx: &[usize], idx_len: usize, src: &[f32]) {
    let AxisSplit { len, inner, .. } = split;
    for (pos, &s) in src.iter().enumerate() {
        let (outer, i) = (pos / (idx_len * inner), pos % inner);
        dst[(outer * len + idx[pos]) * inner + i] += s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_gather_with_their_adjoints() {
        // x: [3, 2] rows (embedding table)
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let split = AxisSplit::new(&[3, 2], 0);
        let mut out = [0.0; 6];
        index_select(&x, split, &[2, 0, 2], &mut out);
        assert_eq!(out, [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        let mut grad = [0.0; 6];
        index_add(&mut grad, split, &[2, 0, 2], &[1.0; 6]);
        assert_eq!(grad, [1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
        // gather along axis 1 of [3, 2] with index [3, 1]: picks one column per row (NLL's pick).
        let split1 = AxisSplit::new(&[3, 2], 1);
        let mut picked = [0.0; 3];
        gather_axis(&x, split1, &[1, 0, 1], 1, &mut picked);
        assert_eq!(picked, [2.0, 3.0, 6.0]);
        let mut g = [0.0; 6];
        scatter_add_axis(&mut g, split1, &[1, 0, 1], 1, &[1.0, 2.0, 3.0]);
        assert_eq!(g, [0.0, 1.0, 2.0, 0.0, 0.0, 3.0]);
    }
}
