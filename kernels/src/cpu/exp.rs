//! `exp` over a whole slice in SIMD registers, for the softmax family.
//!
//! `f32::exp` is a libm call per element, which no compiler vectorises: on a 256 × 10 logits
//! batch, softmax spent most of its time in `expf`. This is Cephes' `expf` (range reduction by
//! `ln 2`, a degree-6 polynomial, the power of two built in the exponent bits), written without
//! branches or calls so the loop vectorises, and compiled for the widest vector unit the CPU
//! has, chosen once at run time.
//!
//! Accuracy: within 2 ulp of libm's `expf` wherever the result is a normal float; subnormal
//! results (`x < -87.34`) carry a few more ulp of their reduced precision. Below -103.97 the
//! result is 0, above 88.72 `+inf`; NaN stays NaN.

/// `xs[i] = exp(xs[i])` for every element.
pub(crate) fn exp_in_place(xs: &mut [f32]) {
    // The widest vector unit this CPU has within the SIMD cap (see `cpu::simd`).
    #[cfg(target_arch = "x86_64")]
    match super::simd::level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        super::simd::Level::Avx512 => return unsafe { exp_avx512(xs) },
        // SAFETY: as above.
        super::simd::Level::Avx2 => return unsafe { exp_avx2(xs) },
        super::simd::Level::Baseline => {}
    }
    exp_body(xs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_avx512(xs: &mut [f32]) {
    exp_body(xs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_avx2(xs: &mut [f32]) {
    exp_body(xs);
}

/// The loop each variant compiles with its own vector width.
#[inline(always)]
fn exp_body(xs: &mut [f32]) {
    for x in xs {
        *x = exp_one(*x);
    }
}

/// One element; straight-line code so that [`exp_body`]'s loop vectorises.
#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, so `n · ln 2` is subtracted without rounding error for |n| < 2⁹.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2²³ rounds to an integer, left in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const ROUND_BITS: i32 = 0x4B40_0000;
    // exp underflows to zero below this and overflows above the other.
    const MIN_ARG: f32 = -103.972_08;
    const MAX_ARG: f32 = 88.722_83;

    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    // 2ⁿ as two factors 2^(n/2), each a normal float for every n that reaches them, so results
    // near the top of the range do not overflow and those below the smallest normal come out
    // subnormal rather than as garbage exponent bits.
    let n = (t.to_bits() as i32).wrapping_sub(ROUND_BITS);
    let half = n >> 1;
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) << 23) as u32);
    let y = e * pow2(half) * pow2(n - half);
    // Comparisons with NaN are false, so NaN falls through to `y`, which is NaN.
    if x < MIN_ARG {
        0.0
    } else if x > MAX_ARG {
        f32::INFINITY
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32).wrapping_sub(b.to_bits() as i32).unsigned_abs()
    }

    #[test]
    fn matches_libm_within_two_ulp_over_the_normal_range() {
        // Every 97th float bit pattern in [-87.33, 88.72] (normal results): dense near zero, where softmax lives.
        let mut xs = Vec::new();
        for sign in [0u32, 0x8000_0000] {
            let mut bits = 0u32;
            while bits < 0x42B1_0000 {
                let x = f32::from_bits(bits | sign);
                if (-87.33..=88.72).contains(&x) {
                    xs.push(x);
                }
                bits += 97;
            }
        }
        let mut base = xs.clone();
        exp_body(&mut base);
        for (name, variant) in variants() {
            let mut ys = xs.clone();
            variant(&mut ys);
            for ((&x, &y), &b) in xs.iter().zip(&ys).zip(&base) {
                assert!(ulps(y, x.exp()) <= 2, "{name}: exp({x}) = {y}, libm {}", x.exp());
                assert_eq!(y.to_bits(), b.to_bits(), "{name} and scalar differ at {x}");
            }
        }
    }

    /// A named way to take `exp` of a slice.
    type Variant = (&'static str, fn(&mut [f32]));

    /// Every variant this CPU runs, whatever the SIMD cap, and the dispatching entry point.
    fn variants() -> Vec<Variant> {
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, reason = "only x86-64 adds SIMD variants"))]
        let mut v: Vec<Variant> = vec![("dispatch", exp_in_place), ("baseline", exp_body)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: avx512f was detected.
                v.push(("avx512", |xs| unsafe { exp_avx512(xs) }));
            }
            if is_x86_feature_detected!("avx2") {
                // SAFETY: avx2 was detected.
                v.push(("avx2", |xs| unsafe { exp_avx2(xs) }));
            }
        }
        v
    }

    #[test]
    fn edges_underflow_overflow_and_keep_nan() {
        for (name, variant) in variants() {
            let mut xs = [0.0, -0.0, 1.0, -104.0, 88.8, 1000.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
            // An odd length covers the vector loops' scalar tails.
            variant(&mut xs);
            let want = [1.0, 1.0, std::f32::consts::E, 0.0, f32::INFINITY, f32::INFINITY, f32::INFINITY, 0.0];
            assert_eq!(&xs[..8], &want, "{name}");
            assert!(xs[8].is_nan(), "{name}");
            // Subnormal results keep their magnitude.
            for x in [-87.5f32, -95.0, -103.0] {
                let mut y = [x];
                variant(&mut y);
                let tol = 4.0 * f32::from_bits(1);
                assert!((y[0] - x.exp()).abs() <= tol, "{name}: exp({x}) = {}, libm {}", y[0], x.exp());
            }
        }
    }
}
