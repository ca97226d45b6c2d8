//! Elementwise binary kernels with NumPy broadcasting.

use super::{for_each_chunk, for_each_row};
use crate::layout::broadcast_strides;
use crate::BinaryOp;

/// `out = op(a, b)` where `a` and `b` broadcast to `out_shape` (checked by the caller).
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out_shape: &[usize],
    out: &mut [f32],
) {
    let n: usize = out_shape.iter().product();
    assert_eq!(out.len(), n, "binary: output buffer has the broadcast shape's length");
    if n == 0 {
        return;
    }
    macro_rules! dispatch {
        ($body:ident) => {
            match op {
                BinaryOp::Add => $body!(|x: f32, y: f32| x + y),
                BinaryOp::Sub => $body!(|x: f32, y: f32| x - y),
                BinaryOp::Mul => $body!(|x: f32, y: f32| x * y),
                BinaryOp::Div => $body!(|x: f32, y: f32| x / y),
                other => $body!(|x: f32, y: f32| other.apply(x, y)),
            }
        };
    }
    // Fast paths: same shape, or one side a single value.
    if a.len() == n && b.len() == n {
        macro_rules! same {
            ($f:expr) => {
                for_each_chunk(out, |s, o| {
                    let (a, b) = (&a[s..s + o.len()], &b[s..s + o.len()]);
                    for i in 0..o.len() {
                        o[i] = $f(a[i], b[i]);
                    }
                })
            };
        }
        return dispatch!(same);
    }
    if b.len() == 1 && a.len() == n {
        let bv = b[0];
        macro_rules! scalar_b {
            ($f:expr) => {
                for_each_chunk(out, |s, o| {
                    let n = o.len();
                    for (o, &x) in o.iter_mut().zip(&a[s..s + n]) {
                        *o = $f(x, bv);
                    }
                })
            };
        }
        return dispatch!(scalar_b);
    }
    if a.len() == 1 && b.len() == n {
        let av = a[0];
        macro_rules! scalar_a {
            ($f:expr) => {
                for_each_chunk(out, |s, o| {
                    let n = o.len();
                    for (o, &y) in o.iter_mut().zip(&b[s..s + n]) {
                        *o = $f(av, y);
                    }
                })
            };
        }
        return dispatch!(scalar_a);
    }
    // General case: walk rows of the last output dimension; each operand has stride 0 or 1 there.
    let rank = out_shape.len();
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let last = out_shape[rank - 1];
    let (la, lb) = (sa[rank - 1], sb[rank - 1]);
    let row_offsets = |row: usize| {
        let (mut rem, mut oa, mut ob) = (row, 0, 0);
        for d in (0..rank - 1).rev() {
            let i = rem % out_shape[d];
            rem /= out_shape[d];
            oa += i * sa[d];
            ob += i * sb[d];
        }
        (oa, ob)
    };
    macro_rules! general {
        ($f:expr) => {
            for_each_row(out, last, |row, o| {
                let (oa, ob) = row_offsets(row);
                match (la, lb) {
                    (1, 1) => {
                        let (a, b) = (&a[oa..oa + last], &b[ob..ob + last]);
                        for j in 0..last {
                            o[j] = $f(a[j], b[j]);
                        }
                    }
                    (1, _) => {
                        let (a, bv) = (&a[oa..oa + last], b[ob]);
                        for j in 0..last {
                            o[j] = $f(a[j], bv);
                        }
                    }
                    (_, 1) => {
                        let (av, b) = (a[oa], &b[ob..ob + last]);
                        for j in 0..last {
                            o[j] = $f(av, b[j]);
                        }
                    }
                    _ => {
                        let v = $f(a[oa], b[ob]);
                        o.iter_mut().for_each(|x| *x = v);
                    }
                }
            })
        };
    }
    dispatch!(general)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_rows_columns_and_scalars() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2,3]
        let col = [10.0, 20.0]; // [2,1]
        let row = [100.0, 200.0, 300.0]; // [3]
        let mut out = [0.0; 6];
        binary(BinaryOp::Add, &a, &[2, 3], &col, &[2, 1], &[2, 3], &mut out);
        assert_eq!(out, [11.0, 12.0, 13.0, 24.0, 25.0, 26.0]);
        binary(BinaryOp::Sub, &row, &[3], &a, &[2, 3], &[2, 3], &mut out);
        assert_eq!(out, [99.0, 198.0, 297.0, 96.0, 195.0, 294.0]);
        binary(BinaryOp::Mul, &a, &[2, 3], &[2.0], &[], &[2, 3], &mut out);
        assert_eq!(out, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        // [2,1] x [1,3] -> outer product shape
        let mut outer = [0.0; 6];
        binary(BinaryOp::Mul, &col, &[2, 1], &[1.0, 2.0, 3.0], &[1, 3], &[2, 3], &mut outer);
        assert_eq!(outer, [10.0, 20.0, 30.0, 20.0, 40.0, 60.0]);
        binary(BinaryOp::Gt, &a, &[2, 3], &[3.5], &[1], &[2, 3], &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }
}
