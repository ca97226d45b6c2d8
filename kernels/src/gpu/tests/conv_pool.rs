//! Convolution (forward and both backwards) and pooling against the CPU.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu::{self, Conv2dGeometry, Pool2dGeometry};
use crate::gpu;

#[test]
fn conv2d_and_its_backwards_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(9);
    let g = |n, c, h, w, o, k, stride, padding, groups| Conv2dGeometry {
        n,
        c,
        h,
        w,
        o,
        kh: k,
        kw: k,
        stride: (stride, stride),
        padding: (padding, padding),
        groups,
    };
    let geometries = [
        Conv2dGeometry { n: 1, c: 1, h: 1, w: 1, o: 1, kh: 1, kw: 1, stride: (1, 1), padding: (0, 0), groups: 1 },
        Conv2dGeometry { n: 2, c: 3, h: 7, w: 5, o: 4, kh: 3, kw: 3, stride: (1, 1), padding: (1, 1), groups: 1 },
        Conv2dGeometry { n: 3, c: 2, h: 11, w: 13, o: 5, kh: 3, kw: 2, stride: (2, 3), padding: (1, 0), groups: 1 },
        Conv2dGeometry { n: 1, c: 4, h: 17, w: 17, o: 3, kh: 5, kw: 5, stride: (2, 2), padding: (2, 2), groups: 1 },
        // Grouped, depthwise (multipliers 1 and 2), MobileNet's 3×3 depthwise at stride 1 and 2.
        g(2, 4, 7, 5, 6, 3, 1, 1, 2),
        g(3, 6, 9, 11, 6, 3, 2, 1, 3),
        g(2, 5, 7, 6, 5, 3, 2, 1, 5),
        g(1, 3, 5, 9, 6, 2, 1, 0, 3),
        g(2, 32, 17, 17, 32, 3, 1, 1, 32),
        g(2, 32, 17, 17, 32, 3, 2, 1, 32),
    ];
    for g in geometries {
        let (oh, ow) = (g.out_h().unwrap(), g.out_w().unwrap());
        let x = rng.vec(g.n * g.c * g.h * g.w, -1.0, 1.0);
        let w = rng.vec(g.o * g.patch_len(), -1.0, 1.0);
        let dy = rng.vec(g.n * g.o * oh * ow, -1.0, 1.0);
        let (gx, gw, gdy) = (upload(&ctx, &x), upload(&ctx, &w), upload(&ctx, &dy));
        // Tolerance: sums of up to patch_len (forward, dx) or n*oh*ow (dw) products in [-1, 1],
        // in another order than the CPU's.
        let mut want = vec![0.0; dy.len()];
        cpu::conv2d_forward(&x, &w, &cpu::ConvEpilogue::default(), &g, &mut want);
        let got = gpu::conv2d_forward(&ctx, &gx, &gw, &g).unwrap().to_vec().unwrap();
        assert_close(&format!("conv2d {g:?}"), &got, &want, 1e-6 * g.patch_len() as f32 * 4.0, 1e-5);
        let mut want = vec![0.0; x.len()];
        cpu::conv2d_backward_input(&dy, &w, &g, &mut want);
        let got = gpu::conv2d_backward_input(&ctx, &gdy, &gw, &g).unwrap().to_vec().unwrap();
        assert_close(&format!("conv2d dx {g:?}"), &got, &want, 1e-6 * (g.o * g.kh * g.kw) as f32 * 4.0, 1e-5);
        let mut want = vec![0.0; w.len()];
        cpu::conv2d_backward_weight(&dy, &x, &g, &mut want, None);
        let got = gpu::conv2d_backward_weight(&ctx, &gdy, &gx, &g).unwrap().to_vec().unwrap();
        assert_close(&format!("conv2d dw {g:?}"), &got, &want, 1e-6 * (g.n * oh * ow) as f32 * 4.0, 1e-5);
    }
}

#[test]
fn conv2d_refuses_groups_that_do_not_divide_the_channels() {
    let Some(ctx) = ctx() else { return };
    let g = Conv2dGeometry { n: 1, c: 4, h: 3, w: 3, o: 6, kh: 1, kw: 1, stride: (1, 1), padding: (0, 0), groups: 4 };
    let (x, w) = (upload(&ctx, &[0.0; 36]), upload(&ctx, &[0.0; 6]));
    for groups in [0, 4] {
        let bad = Conv2dGeometry { groups, ..g };
        let err = gpu::conv2d_forward(&ctx, &x, &w, &bad).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("conv2d") && err.contains("groups"), "groups={groups}: {err}");
    }
}

#[test]
fn pooling_and_its_backwards_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(10);
    let geometries = [
        Pool2dGeometry { planes: 1, h: 1, w: 1, kh: 1, kw: 1, stride: (1, 1), padding: (0, 0) },
        Pool2dGeometry { planes: 6, h: 8, w: 8, kh: 2, kw: 2, stride: (2, 2), padding: (0, 0) },
        Pool2dGeometry { planes: 5, h: 13, w: 11, kh: 3, kw: 3, stride: (2, 2), padding: (1, 1) },
        Pool2dGeometry { planes: 3, h: 17, w: 19, kh: 3, kw: 2, stride: (1, 2), padding: (1, 0) },
        Pool2dGeometry { planes: 40, h: 7, w: 7, kh: 3, kw: 3, stride: (1, 1), padding: (1, 1) },
    ];
    for g in geometries {
        let (oh, ow) = (g.out_h().unwrap(), g.out_w().unwrap());
        let x = rng.vec(g.planes * g.h * g.w, -1.0, 1.0);
        let dy = rng.vec(g.planes * oh * ow, -1.0, 1.0);
        let gx = upload(&ctx, &x);
        let n = dy.len();
        let (mut out, mut idx) = (vec![0.0; n], vec![0.0; n]);
        cpu::max_pool2d(&x, &g, &mut out, &mut idx);
        let (gout, gidx) = gpu::max_pool2d(&ctx, &gx, &g).unwrap();
        assert_eq!(gout.to_vec().unwrap(), out, "max_pool2d {g:?}");
        assert_eq!(gidx.to_vec().unwrap(), idx, "max_pool2d indices {g:?}");
        // Backwards add in the CPU's order: exact. The forward average sums rows as the CPU does.
        let mut dx = vec![0.0; x.len()];
        cpu::max_pool2d_backward(&dy, &idx, &g, &mut dx);
        let got = gpu::max_pool2d_backward(&ctx, &upload(&ctx, &dy), &gidx, &g).unwrap().to_vec().unwrap();
        assert_close(&format!("max_pool2d dx {g:?}"), &got, &dx, 0.0, 0.0);
        cpu::avg_pool2d(&x, &g, &mut out);
        let got = gpu::avg_pool2d(&ctx, &gx, &g).unwrap().to_vec().unwrap();
        assert_close(&format!("avg_pool2d {g:?}"), &got, &out, 1e-7, 1e-6);
        cpu::avg_pool2d_backward(&dy, &g, &mut dx);
        let got = gpu::avg_pool2d_backward(&ctx, &upload(&ctx, &dy), &g).unwrap().to_vec().unwrap();
        assert_close(&format!("avg_pool2d dx {g:?}"), &got, &dx, 1e-7, 1e-6);
    }
}
