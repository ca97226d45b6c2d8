//! Elementwise unary kernels and their derivatives.

use super::for_each_chunk;
use crate::UnaryOp;

/// `out[i] = op(x[i])`.
pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "unary: input and output lengths match");
    for_each_chunk(out, |start, chunk| forward_chunk(op, &x[start..start + chunk.len()], chunk));
}

/// `dx[i] = dy[i] * op'(x[i])`, given the forward input `x` and output `y` (whichever the
/// derivative is cheaper from). One pass over memory instead of composing the rule from
/// several elementwise kernels.
pub fn unary_backward(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        x.len() == dx.len() && y.len() == dx.len() && dy.len() == dx.len(),
        "unary_backward: all buffers have the forward length"
    );
    for_each_chunk(dx, |start, chunk| {
        let end = start + chunk.len();
        backward_chunk(op, &x[start..end], &y[start..end], &dy[start..end], chunk)
    });
}

/// The kernels' per-op loops and the scalar forms, from the op table (`crate::unary_table`).
/// One loop per op (the match stays outside), so each loop is branch-free and vectorises.
macro_rules! cpu_unary {
    ($(
        $(#[doc = $doc:expr])*
        $variant:ident $(($param:ident : $pty:ty = $sample:expr))? => $name:ident {
            cpu: |$x:ident| $fwd:expr,
            cpu_grad: |$gx:ident, $gy:ident| $grad:expr,
            $($rest:tt)*
        }
    )*) => {
        #[inline(always)]
        fn forward_chunk(op: UnaryOp, src: &[f32], chunk: &mut [f32]) {
            match op {
                $( UnaryOp::$variant $(($param))? => {
                    for (o, &$x) in chunk.iter_mut().zip(src) {
                        *o = $fwd;
                    }
                } )*
            }
        }

        // Neg's rule makes `g * -1.0`, which is `-g` to the bit.
        #[allow(clippy::neg_multiply)]
        #[inline(always)]
        fn backward_chunk(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], chunk: &mut [f32]) {
            match op {
                $( UnaryOp::$variant $(($param))? => {
                    $( let _ = $param; )?
                    for (((o, &$gx), &$gy), &g) in chunk.iter_mut().zip(x).zip(y).zip(dy) {
                        let _ = (&$gx, &$gy); // each rule reads only one of them
                        *o = g * $grad;
                    }
                } )*
            }
        }

        impl UnaryOp {
            /// `op(x)`, the scalar form of [`unary`]'s loop (same bits).
            pub fn apply(self, x: f32) -> f32 {
                match self {
                    $( UnaryOp::$variant $(($param))? => {
                        let $x = x;
                        $fwd
                    } )*
                }
            }

            /// `op'(x)` from the input `x` and output `y`, the scalar form of
            /// [`unary_backward`]'s loop (`dx = dy * op.derivative(x, y)`, same bits).
            pub fn derivative(self, x: f32, y: f32) -> f32 {
                match self {
                    $( UnaryOp::$variant $(($param))? => {
                        $( let _ = $param; )?
                        let ($gx, $gy) = (x, y);
                        let _ = (&$gx, &$gy);
                        $grad
                    } )*
                }
            }
        }
    };
}

crate::for_each_unary_op!(cpu_unary);

/// `max(v, 0)`, except that NaN passes through (as PyTorch), so bad data surfaces in the loss
/// instead of vanishing. Shared with the GEMM's ReLU epilogue.
#[inline]
pub(crate) fn relu(v: f32) -> f32 {
    if v > 0.0 || v.is_nan() {
        v
    } else {
        0.0
    }
}

#[inline]
fn sigmoid(v: f32) -> f32 {
    // Two branches keep exp's argument non-positive, so neither overflows.
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

#[inline]
fn gelu(v: f32) -> f32 {
    let x = v as f64;
    (0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))) as f32
}

#[inline]
fn gelu_derivative(v: f32) -> f32 {
    // d/dx [x Φ(x)] = Φ(x) + x φ(x)
    let x = v as f64;
    let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (cdf + x * pdf) as f32
}

/// The error function, accurate to about 1.2e-7 relative (Numerical Recipes' Chebyshev fit of
/// erfc), which is below f32 resolution. Rust's std has no `erf`.
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - erfc
    } else {
        erfc - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn erf_matches_known_values() {
        // Reference values from Abramowitz & Stegun, table 7.1.
        assert_relative_eq!(erf(0.5), 0.520_499_877_8, epsilon = 2e-7);
        assert_relative_eq!(erf(1.0), 0.842_700_792_9, epsilon = 2e-7);
        assert_relative_eq!(erf(-2.0), -0.995_322_265_0, epsilon = 2e-7);
        assert!(erf(0.0).abs() < 2e-7);
    }

    #[test]
    fn unary_kernels_match_scalar_math() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 3.0];
        let mut out = [0.0; 5];
        unary(UnaryOp::Relu, &x, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.5, 3.0]);
        unary(UnaryOp::Relu, &[f32::NAN], &mut out[..1]);
        assert!(out[0].is_nan(), "relu keeps NaN");
        unary(UnaryOp::LeakyRelu(0.1), &x, &mut out);
        assert_relative_eq!(out[0], -0.2);
        unary(UnaryOp::Sigmoid, &[0.0, 100.0, -100.0], &mut out[..3]);
        assert_eq!(&out[..2], &[0.5, 1.0]);
        assert!(out[2] > 0.0 && out[2] < 1e-40, "sigmoid(-100) is tiny but positive");
        // GELU(1) = 0.8413447, GELU(-1) = -0.1586553 (PyTorch, exact form)
        unary(UnaryOp::Gelu, &[1.0, -1.0], &mut out[..2]);
        assert_relative_eq!(out[0], 0.841_344_7, epsilon = 1e-6);
        assert_relative_eq!(out[1], -0.158_655_3, epsilon = 1e-6);
    }

    #[test]
    fn large_inputs_take_the_parallel_path_and_agree() {
        let n = super::super::PAR_MIN_ELEMS * 3 + 7;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.001).sin()).collect();
        let mut out = vec![0.0; n];
        unary(UnaryOp::Tanh, &x, &mut out);
        for (o, v) in out.iter().zip(&x) {
            assert_eq!(*o, v.tanh());
        }
    }
}
