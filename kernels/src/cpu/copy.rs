//! Strided copies: the one kernel behind permute, narrow, broadcast_to, concat and their backwards.

/// Writes the elements of a strided view of `src` into contiguous `out`.
///
/// Element `idx` of the view (a multi-index over `shape`) is `src[offset + Σ idx[d] * strides[d]]`.
/// Stride 0 repeats an element (broadcast); permuted strides transpose.
pub fn strided_copy(src: &[f32], offset: usize, strides: &[usize], shape: &[usize], out: &mut [f32]) {
    let n: usize = shape.iter().product();
    assert_eq!(out.len(), n, "strided_copy: output has the view's length");
    if n == 0 {
        return;
    }
    if shape.is_empty() {
        out[0] = src[offset];
        return;
    }
    let rank = shape.len();
    let last = shape[rank - 1];
    let last_stride = strides[rank - 1];
    super::for_each_row(out, last, |row, o| {
        let base = offset + row_offset(row, shape, strides);
        if last_stride == 1 {
            o.copy_from_slice(&src[base..base + last]);
        } else {
            for (j, v) in o.iter_mut().enumerate() {
                *v = src[base + j * last_stride];
            }
        }
    });
}

/// Adds contiguous `src` (of `shape`) into a strided view of `dst`: the adjoint of
/// [`strided_copy`] for views that do not overlap themselves (permute, narrow, concat parts).
pub fn strided_add_into(dst: &mut [f32], offset: usize, strides: &[usize], shape: &[usize], src: &[f32]) {
    let n: usize = shape.iter().product();
    assert_eq!(src.len(), n, "strided_add_into: source has the view's length");
    if n == 0 {
        return;
    }
    if shape.is_empty() {
        dst[offset] += src[0];
        return;
    }
    let rank = shape.len();
    let last = shape[rank - 1];
    let last_stride = strides[rank - 1];
    // Serial: rows of a permuted view may interleave in `dst`, so they cannot be split safely.
    for (row, s) in src.chunks(last).enumerate() {
        let base = offset + row_offset(row, shape, strides);
        for (j, v) in s.iter().enumerate() {
            dst[base + j * last_stride] += v;
        }
    }
}

/// Offset of the first element of `row` (a multi-index over all but the last dim).
#[inline]
fn row_offset(row: usize, shape: &[usize], strides: &[usize]) -> usize {
    let (mut rem, mut off) = (row, 0);
    for d in (0..shape.len() - 1).rev() {
        off += (rem % shape[d]) * strides[d];
        rem /= shape[d];
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_and_broadcasts() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2,3]
        let mut t = [0.0; 6];
        strided_copy(&x, 0, &[1, 3], &[3, 2], &mut t);
        assert_eq!(t, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let mut b = [0.0; 6];
        strided_copy(&x[..3], 0, &[0, 1], &[2, 3], &mut b);
        assert_eq!(b, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let mut back = [0.0; 6];
        strided_add_into(&mut back, 0, &[1, 3], &[3, 2], &t);
        assert_eq!(back, x);
    }
}
