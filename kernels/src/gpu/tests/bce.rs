//! Binary cross-entropy on logits: the GPU's mean loss and both gradients against the CPU's.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu;
use crate::gpu::{self, GpuError};

/// Lengths: 1, primes, one element past a 256-thread workgroup, several workgroups.
const LENGTHS: [usize; 6] = [1, 2, 7, 257, 1031, 4099];

/// Logits in [-8, 8) with the extremes (±100, exactly 0) mixed in, targets in [0, 1] with some
/// hard 0 and 1 labels.
fn case(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut x = rng.vec(n, -8.0, 8.0);
    let mut y = rng.vec(n, 0.0, 1.0);
    for (i, (xv, yv)) in x.iter_mut().zip(y.iter_mut()).enumerate() {
        match i % 7 {
            1 => *xv = 100.0,
            3 => *xv = -100.0,
            5 => *xv = 0.0,
            _ => {}
        }
        match i % 5 {
            0 => *yv = 1.0,
            2 => *yv = 0.0,
            _ => {}
        }
    }
    (x, y)
}

#[test]
fn bce_loss_and_gradients_match_cpu_on_awkward_sizes_and_extreme_logits() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(21);
    for n in LENGTHS {
        let (x, y) = case(&mut rng, n);
        let (gx, gy) = (upload(&ctx, &x), upload(&ctx, &y));
        let want = cpu::bce_with_logits(&x, &y);
        let got = gpu::bce_with_logits(&ctx, &gx, &gy).unwrap().to_vec().unwrap();
        // Tolerance: the GPU sums f32 losses in tree order (the CPU in f64) and its exp/log are
        // not correctly rounded: a few f32 ulps per element, relative to the mean (up to 100).
        assert_close(&format!("bce_with_logits n={n}"), &got, &[want], 1e-5, 1e-5);

        let g = 0.75f32;
        let gg = upload(&ctx, &[g]);
        let mut dx = vec![0.0; n];
        cpu::bce_with_logits_backward(&x, &y, g, &mut dx);
        let got = gpu::bce_with_logits_backward(&ctx, &gx, &gy, &gg).unwrap().to_vec().unwrap();
        // Tolerance: absolute, scaled by g/n (the size of every gradient element); at ±100 the
        // GPU may flush e^-100 to zero where the CPU keeps a subnormal.
        let scale = g / n as f32;
        assert_close(&format!("bce_with_logits_backward n={n}"), &got, &dx, 1e-6 * scale, 1e-5);
        let mut dy = vec![0.0; n];
        cpu::bce_with_logits_backward_targets(&x, g, &mut dy);
        let got = gpu::bce_with_logits_backward_targets(&ctx, &gx, &gg).unwrap().to_vec().unwrap();
        // Same float operations on both: one division and one product.
        assert_close(&format!("bce_with_logits_backward_targets n={n}"), &got, &dy, 0.0, 1e-6);
    }
}

#[test]
fn bce_on_empty_input_is_nan_and_wrong_lengths_are_errors() {
    let Some(ctx) = ctx() else { return };
    let empty = upload(&ctx, &[]);
    let loss = gpu::bce_with_logits(&ctx, &empty, &empty).unwrap().to_vec().unwrap();
    assert!(loss.len() == 1 && loss[0].is_nan(), "the mean of nothing is NaN: {loss:?}");
    let g = upload(&ctx, &[1.0]);
    assert!(gpu::bce_with_logits_backward(&ctx, &empty, &empty, &g).unwrap().is_empty());
    assert!(gpu::bce_with_logits_backward_targets(&ctx, &empty, &g).unwrap().is_empty());

    let (x, y2) = (upload(&ctx, &[1.0, 2.0, 3.0]), upload(&ctx, &[0.0, 1.0]));
    let e = gpu::bce_with_logits(&ctx, &x, &y2).unwrap_err();
    assert!(matches!(e, GpuError::Invalid { op: "bce_with_logits", .. }), "{e:?}");
    assert!(e.to_string().contains("`y` has 2 elements, expected 3"), "{e}");
    let e = gpu::bce_with_logits_backward(&ctx, &x, &x, &x).unwrap_err();
    assert!(e.to_string().contains("`g` has 3 elements, expected 1"), "{e}");
}
