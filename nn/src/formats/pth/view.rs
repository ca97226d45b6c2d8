//! A tensor's elements from its storage: checked to lie inside it, then borrowed when they are
//! contiguous or gathered through the strides when they are not (a transposed weight saved as
//! is, a slice of a shared storage, an `expand`ed tensor).

use super::dtype::StorageType;
use super::objects::TensorRef;
use std::borrow::Cow;

/// Number of elements of `shape`, if it fits in memory sizes.
pub(super) fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Checks that every element of `t` lies inside its storage window; returns its element count.
pub(super) fn check(t: &TensorRef, dtype: StorageType) -> Result<usize, String> {
    let n = numel(&t.shape)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| n.checked_mul(dtype.size()).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(|| format!("shape {:?} has more elements than this machine can address", t.shape))?;
    if n == 0 {
        return Ok(0);
    }
    // The farthest element: offset + Σ (size − 1)·stride, in u128 with checks (64 terms of
    // u64 products could still overflow).
    let mut last = u128::from(t.offset);
    for (&d, &s) in t.shape.iter().zip(&t.stride) {
        last = u128::from(d - 1).checked_mul(u128::from(s)).and_then(|x| last.checked_add(x)).unwrap_or(u128::MAX);
    }
    if last >= u128::from(t.storage.numel) {
        return Err(format!(
            "shape {:?} with strides {:?} at offset {} reaches element {last} of a storage of {} elements",
            t.shape, t.stride, t.offset, t.storage.numel
        ));
    }
    Ok(n)
}

/// Whether `t`'s elements are one row-major run.
fn contiguous(t: &TensorRef) -> bool {
    let mut expected = 1u64;
    for (&d, &s) in t.shape.iter().zip(&t.stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

/// The little-endian bytes of `t` in row-major order, from `storage` (the bytes of its whole
/// declared storage). [`check`] must have accepted `t`; a tensor that still does not fit gives
/// `None` rather than a panic.
pub(super) fn bytes<'a>(t: &TensorRef, dtype: StorageType, storage: &Cow<'a, [u8]>, n: usize) -> Option<Cow<'a, [u8]>> {
    let es = dtype.size();
    if n == 0 {
        return Some(Cow::Borrowed(&[]));
    }
    let base = usize::try_from(t.storage.offset.checked_add(t.offset)?).ok()?;
    if contiguous(t) {
        let range = base.checked_mul(es)?..base.checked_add(n)?.checked_mul(es)?;
        return match storage {
            Cow::Borrowed(s) => s.get(range).map(Cow::Borrowed),
            Cow::Owned(v) => v.get(range).map(|s| Cow::Owned(s.to_vec())),
        };
    }
    // Axes of length 1 move nowhere (their stride may be anything); dropping them keeps every
    // position below the farthest element plus one stride.
    let axes: Vec<(usize, usize)> = t
        .shape
        .iter()
        .zip(&t.stride)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| Some((usize::try_from(d).ok()?, usize::try_from(s).ok()?)))
        .collect::<Option<_>>()?;
    let (shape, stride): (Vec<usize>, Vec<usize>) = axes.into_iter().unzip();
    // Copy runs along the last axis when it is dense, else element by element.
    let (run, outer) = match (shape.last(), stride.last()) {
        (Some(&d), Some(1)) => (d, shape.len() - 1),
        _ => (1, shape.len()),
    };
    let mut out = Vec::with_capacity(n * es);
    let mut index = vec![0usize; outer];
    let mut pos = base;
    for _ in 0..n / run {
        out.extend_from_slice(storage.get(pos * es..(pos + run) * es)?);
        // Odometer over the outer axes.
        for axis in (0..outer).rev() {
            index[axis] += 1;
            pos += stride[axis];
            if index[axis] < shape[axis] {
                break;
            }
            pos -= stride[axis] * shape[axis];
            index[axis] = 0;
        }
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::super::objects::StorageRef;
    use super::*;

    fn t(offset: u64, shape: &[u64], stride: &[u64], numel: u64) -> TensorRef {
        TensorRef {
            storage: StorageRef { index: 0, offset: 0, numel },
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn gather(t: &TensorRef, storage: &[u8]) -> Vec<u8> {
        let n = check(t, StorageType::U8).unwrap();
        bytes(t, StorageType::U8, &Cow::Borrowed(storage), n).unwrap().into_owned()
    }

    #[test]
    fn views_read_in_row_major_order() {
        let s: Vec<u8> = (0..12).collect();
        assert_eq!(gather(&t(0, &[3, 4], &[4, 1], 12), &s), s);
        assert_eq!(gather(&t(0, &[4, 3], &[1, 4], 12), &s), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
        assert_eq!(gather(&t(5, &[2, 2], &[4, 1], 12), &s), [5, 6, 9, 10]);
        assert_eq!(gather(&t(1, &[2, 3], &[1, 0], 12), &s), [1, 1, 1, 2, 2, 2]);
        assert_eq!(gather(&t(2, &[], &[], 12), &s), [2]);
        assert_eq!(gather(&t(0, &[4], &[3], 12), &s), [0, 3, 6, 9]);
        assert_eq!(gather(&t(99, &[0, 5], &[5, 1], 12), &s), [0u8; 0]);
    }

    #[test]
    fn views_outside_their_storage_are_refused() {
        assert!(check(&t(0, &[3, 5], &[4, 1], 12), StorageType::U8).is_err());
        assert!(check(&t(12, &[1], &[1], 12), StorageType::U8).is_err());
        assert!(check(&t(0, &[2, 2], &[u64::MAX, 1], 12), StorageType::U8).is_err());
        assert!(check(&t(0, &[u64::MAX, u64::MAX], &[0, 0], 12), StorageType::U8).is_err());
        assert!(check(&t(u64::MAX, &[1], &[1], 12), StorageType::U8).is_err());
    }
}
