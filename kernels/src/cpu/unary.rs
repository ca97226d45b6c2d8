//! Elementwise unary kernels and their derivatives.

use super::for_each_chunk;
use crate::UnaryOp;

/// `out[i] = op(x[i])`.
pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "unary: input and output lengths match");
    for_each_chunk(out, |start, chunk| forward_widest(op, &x[start..start + chunk.len()], chunk));
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
        backward_widest(op, &x[start..end], &y[start..end], &dy[start..end], chunk)
    });
}

/// The per-op loops compiled for the widest vector unit this CPU has (chosen at run time), so
/// branch-free formulas such as GELU's run 8 or 16 lanes wide instead of SSE's 4. Rust does not
/// contract `a * b + c` into FMA, so every width gives the same bits.
fn forward_widest(op: UnaryOp, src: &[f32], chunk: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        super::simd::Level::Avx512 => return unsafe { forward_avx512(op, src, chunk) },
        // SAFETY: as above.
        super::simd::Level::Avx2 => return unsafe { forward_avx2(op, src, chunk) },
        super::simd::Level::Baseline => {}
    }
    forward_chunk(op, src, chunk)
}

fn backward_widest(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], chunk: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        super::simd::Level::Avx512 => return unsafe { backward_avx512(op, x, y, dy, chunk) },
        // SAFETY: as above.
        super::simd::Level::Avx2 => return unsafe { backward_avx2(op, x, y, dy, chunk) },
        super::simd::Level::Baseline => {}
    }
    backward_chunk(op, x, y, dy, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_avx512(op: UnaryOp, src: &[f32], chunk: &mut [f32]) {
    forward_chunk(op, src, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(op: UnaryOp, src: &[f32], chunk: &mut [f32]) {
    forward_chunk(op, src, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn backward_avx512(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], chunk: &mut [f32]) {
    backward_chunk(op, x, y, dy, chunk)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_avx2(op: UnaryOp, x: &[f32], y: &[f32], dy: &[f32], chunk: &mut [f32]) {
    backward_chunk(op, x, y, dy, chunk)
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

/// `x Φ(x)` with `Φ` from [`erfc_scaled`]: for `x < 0` straight from `erfc`, with no `1 + erf`
/// cancellation, so the tail keeps its relative precision. Branch-free, so loops vectorise.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// d/dx [x Φ(x)] = Φ(x) + x φ(x).
#[inline(always)]
fn gelu_derivative(x: f32) -> f32 {
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    normal_cdf(x) + x * FRAC_1_SQRT_2PI * super::exp::exp_one(-0.5 * x * x)
}

/// Φ(x), the standard normal CDF: `erfc(|x|/√2) / 2` below 0, `1 − erfc(x/√2) / 2` above.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let half_erfc = 0.5 * erfc_scaled(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x < 0.0 {
        half_erfc
    } else {
        1.0 - half_erfc
    }
}

/// `erfc(z)` for `z ≥ 0` in f32: Numerical Recipes' Chebyshev fit (relative error 1.2e-7 in
/// exact arithmetic) with the vectorisable `exp` of `cpu::exp`; a few ulp in f32.
#[inline(always)]
fn erfc_scaled(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204 + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    t * super::exp::exp_one(poly)
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

    /// GELU in f64 from the same erfc fit, without cancellation: `Φ(x) = erfc(−x/√2) / 2`.
    fn gelu_f64(x: f64) -> f64 {
        let erfc = |z: f64| if z >= 0.0 { 1.0 - erf(z) } else { 1.0 + erf(-z) };
        let z = -x * std::f64::consts::FRAC_1_SQRT_2;
        // erfc(z) for z > 0 straight from the fit's erfc (1 − erf would cancel).
        let tail = |z: f64| {
            let t = 1.0 / (1.0 + 0.5 * z);
            let p = -z * z - 1.265_512_23
                + t * (1.000_023_68
                    + t * (0.374_091_96
                        + t * (0.096_784_18
                            + t * (-0.186_288_06
                                + t * (0.278_868_07
                                    + t * (-1.135_203_98
                                        + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
            t * p.exp()
        };
        0.5 * x * if z > 0.0 { tail(z) } else { erfc(z) }
    }

    #[test]
    fn f32_gelu_is_within_a_few_ulp_of_its_f64_form_including_the_negative_tail() {
        // Relative error where GELU is above 1e-6 in size (x > −5); beyond, the f32 rounding of
        // x²/2 in erfc's exponent alone is worth 1e-5 relative of values below 1e-6.
        let (mut worst, mut worst_tail) = (0.0f64, 0.0f64);
        for i in -12_000..=12_000 {
            let x = i as f32 * 1e-3;
            let (got, want) = (gelu(x) as f64, gelu_f64(x as f64));
            if x > -5.0 {
                worst = worst.max(((got - want) / want.abs().max(1e-30)).abs());
            } else {
                worst_tail = worst_tail.max((got - want).abs());
            }
        }
        assert!(worst < 2e-6 && worst_tail < 1e-10, "relative error {worst}, tail absolute error {worst_tail}");
        let d = |x: f32| (gelu_f64(x as f64 + 1e-4) - gelu_f64(x as f64 - 1e-4)) / 2e-4;
        for x in [-6.0f32, -3.0, -1.0, -0.1, 0.0, 0.3, 1.0, 2.5, 8.0] {
            assert!((gelu_derivative(x) as f64 - d(x)).abs() < 1e-5, "GELU'({x})");
        }
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
