//! `y ← α·y + β·x`: the one fused pass behind in-place parameter and momentum updates.

use super::for_each_chunk;

/// `y[i] = alpha * y[i] + beta * x[i]`, in place.
///
/// # Panics
/// If the slices differ in length.
pub fn axpby_in_place(alpha: f32, y: &mut [f32], beta: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len(), "axpby: both operands have the same length");
    for_each_chunk(y, |s, y| {
        let n = y.len();
        for (y, &x) in y.iter_mut().zip(&x[s..s + n]) {
            *y = alpha * *y + beta * x;
        }
    });
}

/// `out[i] = alpha * y[i] + beta * x[i]`: [`axpby_in_place`] into a separate buffer, for when
/// `y` is shared and must keep its values.
///
/// # Panics
/// If the slices differ in length.
pub fn axpby(alpha: f32, y: &[f32], beta: f32, x: &[f32], out: &mut [f32]) {
    assert!(y.len() == x.len() && out.len() == x.len(), "axpby: all operands have the same length");
    for_each_chunk(out, |s, o| {
        let n = o.len();
        for ((o, &y), &x) in o.iter_mut().zip(&y[s..s + n]).zip(&x[s..s + n]) {
            *o = alpha * y + beta * x;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_and_out_of_place_agree_on_small_and_parallel_lengths() {
        for n in [0usize, 1, 7, super::super::PAR_MIN_ELEMS + 13] {
            let y: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let x: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
            let mut out = vec![f32::NAN; n];
            axpby(0.9, &y, -0.1, &x, &mut out);
            let mut inplace = y.clone();
            axpby_in_place(0.9, &mut inplace, -0.1, &x);
            let want: Vec<f32> = y.iter().zip(&x).map(|(&y, &x)| 0.9 * y + -0.1 * x).collect();
            assert_eq!(out, want);
            assert_eq!(inplace, want);
        }
    }
}
