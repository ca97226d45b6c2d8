//! Shapes, strides and broadcasting rules shared by the back ends.

/// Row-major strides (in elements) of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for (stride, &dim) in strides.iter_mut().zip(shape).rev() {
        *stride = acc;
        acc *= dim;
    }
    strides
}

/// The NumPy broadcast of two shapes, or `None` when they are incompatible.
///
/// ```
/// use graft_kernels::broadcast_shape;
/// assert_eq!(broadcast_shape(&[3, 1], &[4]), Some(vec![3, 4]));
/// assert_eq!(broadcast_shape(&[3], &[4]), None);
/// ```
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides that read a tensor of `shape` as if it had `target` shape (broadcast dims get stride 0).
/// `shape` must broadcast to `target`.
pub fn broadcast_strides(shape: &[usize], target: &[usize]) -> Vec<usize> {
    let own = contiguous_strides(shape);
    let offset = target.len() - shape.len();
    (0..target.len()).map(|i| if i < offset || shape[i - offset] == 1 { 0 } else { own[i - offset] }).collect()
}

/// A tensor viewed as `[outer, len, inner]` around one axis: the layout every axis-wise kernel
/// (reductions, softmax, gather, concat) works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisSplit {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
}

impl AxisSplit {
    /// Splits `shape` around `axis` (which must be `< shape.len()`).
    pub fn new(shape: &[usize], axis: usize) -> Self {
        AxisSplit { outer: shape[..axis].iter().product(), len: shape[axis], inner: shape[axis + 1..].iter().product() }
    }

    pub fn numel(&self) -> usize {
        self.outer * self.len * self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 3], &[2, 3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shape(&[2, 3], &[3, 2]), None);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[]), Vec::<usize>::new());
    }
}
