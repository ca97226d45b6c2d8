//! index_select / index_add and gather / scatter-add along an axis against the CPU.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu;
use crate::gpu;
use crate::AxisSplit;

#[test]
fn index_select_and_index_add_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(7);
    // (shape, axis, number of indices): embedding tables, a middle axis, size 1, > one workgroup.
    let cases: [(&[usize], usize, usize); 5] =
        [(&[1], 0, 1), (&[13, 7], 0, 29), (&[3, 11, 5], 1, 4), (&[5, 3], 1, 300), (&[300, 2], 0, 257)];
    for (shape, axis, t) in cases {
        let split = AxisSplit::new(shape, axis);
        let idx: Vec<usize> = (0..t).map(|_| rng.below(split.len)).collect();
        let x = rng.vec(split.numel(), -1.0, 1.0);
        let n = split.outer * t * split.inner;
        let mut want = vec![0.0; n];
        cpu::index_select(&x, split, &idx, &mut want);
        let got = gpu::index_select(&ctx, &upload(&ctx, &x), split, &idx).unwrap().to_vec().unwrap();
        assert_eq!(got, want, "index_select {shape:?} axis {axis}");
        // Repeated indices add up in index order: exact.
        let src = rng.vec(n, -1.0, 1.0);
        let mut dst = rng.vec(split.numel(), -1.0, 1.0);
        let gdst = upload(&ctx, &dst);
        cpu::index_add(&mut dst, split, &idx, &src);
        gpu::index_add(&ctx, &gdst, split, &idx, &upload(&ctx, &src)).unwrap();
        assert_close(&format!("index_add {shape:?} axis {axis}"), &gdst.to_vec().unwrap(), &dst, 0.0, 0.0);
    }
    let e = gpu::index_select(&ctx, &upload(&ctx, &[1.0, 2.0]), AxisSplit::new(&[2], 0), &[2]).unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
}

#[test]
fn gather_and_scatter_add_axis_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(8);
    // (x shape, axis, index length along the axis)
    let cases: [(&[usize], usize, usize); 5] =
        [(&[1], 0, 1), (&[300, 10], 1, 1), (&[7, 5, 3], 1, 8), (&[13, 4], 0, 29), (&[2, 3], 1, 3)];
    for (shape, axis, idx_len) in cases {
        let split = AxisSplit::new(shape, axis);
        let n = split.outer * idx_len * split.inner;
        let idx: Vec<usize> = (0..n).map(|_| rng.below(split.len)).collect();
        let x = rng.vec(split.numel(), -1.0, 1.0);
        let mut want = vec![0.0; n];
        cpu::gather_axis(&x, split, &idx, idx_len, &mut want);
        let got = gpu::gather_axis(&ctx, &upload(&ctx, &x), split, &idx, idx_len).unwrap().to_vec().unwrap();
        assert_eq!(got, want, "gather_axis {shape:?} axis {axis}");
        let src = rng.vec(n, -1.0, 1.0);
        let mut dst = rng.vec(split.numel(), -1.0, 1.0);
        let gdst = upload(&ctx, &dst);
        cpu::scatter_add_axis(&mut dst, split, &idx, idx_len, &src);
        gpu::scatter_add_axis(&ctx, &gdst, split, &idx, idx_len, &upload(&ctx, &src)).unwrap();
        // Exact: each destination adds its sources in the CPU's order.
        assert_close(&format!("scatter_add_axis {shape:?} axis {axis}"), &gdst.to_vec().unwrap(), &dst, 0.0, 0.0);
    }
}
