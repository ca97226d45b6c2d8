//! Depthwise convolution (one input channel per group, `m = o / c` outputs per channel), computed
//! directly: every output plane is a sum of `kh·kw` shifted, scaled input planes. im2col + GEMM
//! per channel would unfold each plane `kh·kw` times to multiply it by a `m × kh·kw` matrix, a
//! GEMM far too small to pay for its packing.
//!
//! Both directions work in one flat, zero-padded layout ([`flat`]) where every tap is a
//! constant offset: the forward ([`forward`]) and the input gradient ([`backward`]) sum blocks
//! of outputs in registers over all taps, the weight gradient takes dot products. The loops are
//! compiled for the widest vector unit at run time; Rust does not contract `a * b + c` into
//! FMA, so every width gives the same bits.
//!
//! The forward and the input gradient run planes as tasks (outputs of distinct planes are
//! disjoint); the weight gradient runs one output channel per task, summing its images in
//! order, so no result depends on the thread count.

/// Defines `$name`, which runs the `#[inline(always)]` function `$body` compiled for the widest
/// vector unit this CPU has.
macro_rules! widest {
    ($(#[$doc:meta])* fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                match $crate::cpu::simd::level() {
                    // SAFETY: `simd::level` never exceeds what this CPU reported.
                    $crate::cpu::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::cpu::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::simd::Level::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}

mod backward;
mod flat;
mod forward;

pub(super) use backward::{backward_input, backward_weight};
pub(super) use forward::forward;

#[cfg(test)]
mod tests {
    use super::super::{
        conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Conv2dGeometry, ConvActivation, ConvEpilogue,
    };

    /// The convolution by its definition, for any groups: `[n, o, oh, ow]`.
    fn naive_forward(x: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
        let (oh, ow, cg, og) = (g.oh(), g.ow(), g.in_per_group(), g.out_per_group());
        let mut out = vec![0.0; g.n * g.o * oh * ow];
        for n in 0..g.n {
            for oc in 0..g.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0f64;
                        for cl in 0..cg {
                            let ic = oc / og * cg + cl;
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy = (oy * g.stride.0 + ki) as isize - g.padding.0 as isize;
                                    let ix = (ox * g.stride.1 + kj) as isize - g.padding.1 as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.c + ic) * g.h + iy as usize) * g.w + ix as usize];
                                    let wv = w[((oc * cg + cl) * g.kh + ki) * g.kw + kj];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        out[((n * g.o + oc) * oh + oy) * ow + ox] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
    }

    fn geometries() -> Vec<Conv2dGeometry> {
        let g = |n, c, h, w, o, k: (usize, usize), stride, padding, groups| Conv2dGeometry {
            n,
            c,
            h,
            w,
            o,
            kh: k.0,
            kw: k.1,
            stride,
            padding,
            groups,
        };
        vec![
            g(2, 3, 7, 9, 3, (3, 3), (1, 1), (1, 1), 3),
            g(2, 3, 7, 9, 6, (3, 3), (2, 2), (1, 1), 3),
            g(1, 4, 8, 8, 4, (3, 3), (2, 2), (1, 1), 4),
            g(3, 2, 5, 11, 4, (3, 2), (2, 3), (0, 2), 2),
            g(1, 5, 6, 4, 10, (5, 5), (1, 2), (2, 2), 5),
            g(2, 4, 9, 7, 6, (3, 3), (2, 1), (1, 1), 2),
            g(1, 6, 5, 5, 9, (1, 1), (1, 1), (0, 0), 3),
            g(1, 1, 4, 4, 2, (3, 3), (1, 1), (1, 1), 1),
            g(2, 5, 3, 7, 4, (1, 1), (1, 1), (0, 0), 1),
            g(1, 3, 1, 1, 6, (1, 1), (1, 1), (0, 0), 3),
            g(2, 3, 6, 6, 3, (3, 3), (3, 3), (1, 1), 3),
            g(1, 2, 1, 5, 2, (3, 3), (1, 1), (1, 1), 2),
            g(1, 2, 3, 3, 2, (3, 3), (2, 2), (2, 2), 2),
            g(2, 32, 17, 17, 32, (3, 3), (2, 2), (1, 1), 32),
            // Above `PAR_MIN_MACS`: planes and channels split across threads.
            g(2, 64, 32, 32, 64, (3, 3), (1, 1), (1, 1), 64),
            g(4, 64, 32, 32, 128, (3, 3), (2, 2), (1, 1), 64),
        ]
    }

    #[test]
    fn an_image_gives_the_same_bits_alone_and_in_a_batch() {
        // The transfer feature cache relies on it; a depthwise convolution groups planes per task.
        let g = |c, h, o, k: usize, groups| Conv2dGeometry {
            n: 6,
            c,
            h,
            w: h,
            o,
            kh: k,
            kw: k,
            stride: (1, 1),
            padding: (k / 2, k / 2),
            groups,
        };
        for g in [g(7, 3, 5, 1, 1), g(9, 6, 9, 3, 9), g(16, 30, 16, 3, 16)] {
            let (x, w) = (values(g.n * g.c * g.h * g.w, 0.25), values(g.o * g.patch_len(), 0.75));
            let (scale, bias) = (values(g.o, 1.25), values(g.o, 1.75));
            let epi = ConvEpilogue { bias: Some(&bias), scale: Some(&scale), act: ConvActivation::Relu6 };
            let out_len = g.o * g.oh() * g.ow();
            let mut batch = vec![f32::NAN; g.n * out_len];
            conv2d_forward(&x, &w, &epi, &g, &mut batch);
            let one = Conv2dGeometry { n: 1, ..g };
            for (image, want) in x.chunks_exact(g.c * g.h * g.w).zip(batch.chunks_exact(out_len)) {
                let mut alone = vec![f32::NAN; out_len];
                conv2d_forward(image, &w, &epi, &one, &mut alone);
                assert_eq!(alone, want, "{g:?}");
            }
        }
    }

    #[test]
    fn grouped_and_depthwise_match_the_definition_and_their_adjoints() {
        for g in geometries() {
            let (oh, ow) = (g.oh(), g.ow());
            let x = values(g.n * g.c * g.h * g.w, 0.5);
            let w = values(g.o * g.patch_len(), 1.5);
            let dy = values(g.n * g.o * oh * ow, 2.5);
            let bias = values(g.o, 3.5);
            let mut out = vec![f32::NAN; dy.len()];
            conv2d_forward(&x, &w, &ConvEpilogue::bias(Some(&bias)), &g, &mut out);
            let want = naive_forward(&x, &w, &g);
            for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
                let want = want + bias[i / (oh * ow) % g.o];
                assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{g:?} [{i}]: {got} vs {want}");
            }
            // The gradients are the adjoints: <dy, conv(x, w)> = <dx, x> = <dw, w>.
            let plain = naive_forward(&x, &w, &g);
            let lhs = dot(&dy, &plain);
            let mut dx = vec![f32::NAN; x.len()];
            conv2d_backward_input(&dy, &w, &g, &mut dx);
            let (mut dw, mut db) = (vec![f32::NAN; w.len()], vec![f32::NAN; g.o]);
            conv2d_backward_weight(&dy, &x, &g, &mut dw, Some(&mut db));
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((dot(&dx, &x) - lhs).abs() <= tol, "{g:?} dx: {} vs {lhs}", dot(&dx, &x));
            assert!((dot(&dw, &w) - lhs).abs() <= tol, "{g:?} dw: {} vs {lhs}", dot(&dw, &w));
            for (oc, &got) in db.iter().enumerate() {
                let want: f32 = (0..g.n).flat_map(|n| &dy[(n * g.o + oc) * oh * ow..][..oh * ow]).sum();
                assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{g:?} db[{oc}]: {got} vs {want}");
            }
            // The epilogue: act(conv · scale + bias) per output channel, on either path.
            let scale = values(g.o, 4.5);
            for act in [ConvActivation::Identity, ConvActivation::Relu, ConvActivation::Relu6] {
                let epi = ConvEpilogue { bias: Some(&bias), scale: Some(&scale), act };
                let mut fused = vec![f32::NAN; dy.len()];
                conv2d_forward(&x, &w, &epi, &g, &mut fused);
                for (i, (&got, &plain)) in fused.iter().zip(&plain).enumerate() {
                    let oc = i / (oh * ow) % g.o;
                    let z = plain * scale[oc] + bias[oc];
                    let want = match act {
                        ConvActivation::Identity => z,
                        ConvActivation::Relu => z.max(0.0),
                        ConvActivation::Relu6 => z.clamp(0.0, 6.0),
                    };
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{g:?} {act:?} [{i}]: {got} vs {want}");
                }
            }
            let mut dw_only = vec![f32::NAN; w.len()];
            conv2d_backward_weight(&dy, &x, &g, &mut dw_only, None);
            assert_eq!(dw_only, dw, "{g:?}: the weight gradient does not depend on asking for db");
        }
    }
}
