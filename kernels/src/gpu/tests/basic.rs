//! Context, buffers, pool, elementwise, reductions, matmul, softmax and copies.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu::{self, MatmulSpec};
use crate::gpu::{self, GpuBuffer, GpuContext, GpuError};
use crate::unary_table::Domain;
use crate::{AxisSplit, BinaryOp, ReduceOp, UnaryOp};

/// Lengths: size 1, primes, beyond one workgroup (256), beyond several.
const LENGTHS: [usize; 5] = [1, 7, 257, 1031, 4099];

#[test]
fn upload_readback_round_trips_and_fill_zeros() {
    let Some(ctx) = ctx() else { return };
    let data: Vec<f32> = (0..1031).map(|i| i as f32 * 0.5 - 3.0).collect();
    let buf = upload(&ctx, &data);
    assert_eq!(buf.len(), 1031);
    assert_eq!(buf.to_vec().unwrap(), data);
    assert_eq!(gpu::fill(&ctx, 300, 2.5).unwrap().to_vec().unwrap(), vec![2.5; 300]);
    assert_eq!(GpuBuffer::zeros(&ctx, 5).unwrap().to_vec().unwrap(), vec![0.0; 5]);
    assert!(GpuBuffer::from_slice(&ctx, &[]).unwrap().to_vec().unwrap().is_empty());
}

#[test]
fn oversized_buffers_are_refused_with_an_error() {
    let Some(ctx) = ctx() else { return };
    let too_many = (ctx.max_buffer_bytes() / 4 + 1) as usize;
    match GpuBuffer::uninit(&ctx, too_many) {
        Err(e @ GpuError::TooLarge { .. }) => assert!(e.to_string().contains("storage binding limit"), "{e}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Wrong lengths are errors, not panics.
    let a = upload(&ctx, &[1.0, 2.0, 3.0]);
    let e = gpu::binary(&ctx, BinaryOp::Add, &a, &[3], &a, &[2], &[3]).unwrap_err();
    assert!(e.to_string().contains("broadcast"), "{e}");
}

#[test]
fn pool_live_bytes_level_off_over_repeated_steps() {
    // A context of its own: the shared one's pool also holds the buffers of tests running
    // beside this one, which would make its levels move for reasons of theirs.
    if ctx().is_none() {
        return;
    }
    let ctx = GpuContext::new().expect("a GPU was usable a moment ago");
    let x = upload(&ctx, &vec![0.5; 1000]);
    let mut levels = Vec::new();
    for _ in 0..40 {
        // A tiny "step": several temporaries that die at the end of the iteration.
        let y = gpu::unary(&ctx, UnaryOp::Exp, &x).unwrap();
        let z = gpu::binary(&ctx, BinaryOp::Mul, &y, &[1000], &x, &[1000], &[1000]).unwrap();
        let s = gpu::reduce(&ctx, ReduceOp::Sum, &z, AxisSplit::new(&[1000], 0)).unwrap();
        drop((y, z, s));
        levels.push((ctx.pool_stats().live_bytes, ctx.pool_stats().allocations));
    }
    let (first_live, first_allocs) = levels[2];
    let (last_live, last_allocs) = levels[39];
    assert!(last_live <= first_live, "live bytes grew: {levels:?}");
    assert_eq!(first_allocs, last_allocs, "buffers are reused, not reallocated: {levels:?}");
}

/// Every op of the table, plus a few more parameters of the parameterised ones.
fn unary_cases() -> Vec<UnaryOp> {
    let mut ops = UnaryOp::ALL.to_vec();
    ops.extend([UnaryOp::LeakyRelu(0.01), UnaryOp::MulScalar(-1.5), UnaryOp::PowScalar(2.0), UnaryOp::PowScalar(0.5)]);
    ops
}

/// `cpu::unary` and `cpu::unary_backward` of `op` on `x`, with `dy`.
fn cpu_unary(op: UnaryOp, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0; x.len()];
    cpu::unary(op, x, &mut y);
    let mut dx = vec![0.0; x.len()];
    cpu::unary_backward(op, x, &y, dy, &mut dx);
    (y, dx)
}

#[test]
fn unary_and_backward_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(1);
    for &n in &LENGTHS {
        for op in unary_cases() {
            let x = match op.domain() {
                Domain::Positive => rng.vec(n, 0.1, 4.0),
                Domain::Real => rng.vec(n, -6.0, 6.0),
            };
            let dy = rng.vec(n, -1.0, 1.0);
            let (y, dx) = cpu_unary(op, &x, &dy);
            let (gx, gy, gdy) = (upload(&ctx, &x), upload(&ctx, &y), upload(&ctx, &dy));
            let out = gpu::unary(&ctx, op, &gx).unwrap().to_vec().unwrap();
            // Tolerance: transcendental functions may differ by a few ulps between drivers; gelu
            // uses an f32 erf on the GPU and f64 on the CPU.
            let tol = op.tolerance();
            assert_close(&format!("{op:?} n={n}"), &out, &y, tol.abs, tol.rel);
            let back = gpu::unary_backward(&ctx, op, &gx, &gy, &gdy).unwrap().to_vec().unwrap();
            assert_close(&format!("{op:?} backward n={n}"), &back, &dx, tol.abs, tol.rel);
        }
    }
}

/// Over a wide range of each op's domain (overflow, saturation, tiny values, exact zeros
/// included), the GPU never returns NaN where the CPU does not: a table op whose WGSL case were
/// missing would fall into the shader's `default`, which returns NaN.
#[test]
fn unary_gpu_is_nan_only_where_the_cpu_is() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(7);
    for op in unary_cases() {
        let mut x = match op.domain() {
            Domain::Positive => [1e-3, 0.5, 1.0, 30.0, 100.0].to_vec(),
            Domain::Real => [0.0, -0.0, 1e-3, -1e-3, 1.0, -1.0, 19.5, 20.5, -20.5, 30.0, -30.0, 100.0, -100.0].to_vec(),
        };
        x.extend(match op.domain() {
            Domain::Positive => rng.vec(300, 1e-3, 100.0),
            Domain::Real => rng.vec(300, -100.0, 100.0),
        });
        let dy = rng.vec(x.len(), -1.0, 1.0);
        let (y, dx) = cpu_unary(op, &x, &dy);
        let (gx, gy, gdy) = (upload(&ctx, &x), upload(&ctx, &y), upload(&ctx, &dy));
        let out = gpu::unary(&ctx, op, &gx).unwrap().to_vec().unwrap();
        let back = gpu::unary_backward(&ctx, op, &gx, &gy, &gdy).unwrap().to_vec().unwrap();
        for i in 0..x.len() {
            assert!(!out[i].is_nan() || y[i].is_nan(), "{op:?}({}): gpu NaN, cpu {}", x[i], y[i]);
            assert!(!back[i].is_nan() || dx[i].is_nan(), "{op:?}'({}): gpu NaN, cpu {}", x[i], dx[i]);
        }
    }
}

#[test]
fn unary_op_code_without_a_case_gives_nan() {
    let Some(ctx) = ctx() else { return };
    let x = upload(&ctx, &[1.0, -2.0, 0.5]);
    let out = GpuBuffer::uninit(&ctx, 3).unwrap();
    let missing = UnaryOp::ALL.len() as u32;
    crate::gpu::unary::forward_code(&ctx, missing, 2.0, &x, &out).unwrap();
    assert!(out.to_vec().unwrap().iter().all(|v| v.is_nan()), "the default case returns NaN");
}

#[test]
fn binary_with_broadcasting_matches_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(2);
    let cases: [(&[usize], &[usize]); 8] = [
        (&[1], &[1]),
        (&[257], &[257]),
        (&[3, 1], &[1, 5]),
        (&[7, 13], &[13]),
        (&[2, 3, 11], &[3, 1]),
        (&[1031], &[]),
        (&[], &[5, 7]),
        (&[2, 1, 3, 1, 5], &[4, 1, 6, 1]),
    ];
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ];
    for (sa, sb) in cases {
        let out_shape = crate::broadcast_shape(sa, sb).unwrap();
        let n: usize = out_shape.iter().product();
        for op in ops {
            let (lo, hi) = if op == BinaryOp::Pow { (0.5, 2.0) } else { (-3.0, 3.0) };
            // Few distinct values so equality comparisons see both outcomes.
            let mut a = rng.vec(sa.iter().product(), lo, hi);
            let b = rng.vec(sb.iter().product(), lo, hi);
            if let (Some(x), Some(y)) = (a.first_mut(), b.first()) {
                *x = *y;
            }
            let mut want = vec![0.0; n];
            cpu::binary(op, &a, sa, &b, sb, &out_shape, &mut want);
            let got = gpu::binary(&ctx, op, &upload(&ctx, &a), sa, &upload(&ctx, &b), sb, &out_shape).unwrap();
            // Tolerance: exact for + - * and comparisons; division and pow are a few ulps apart.
            assert_close(&format!("{op:?} {sa:?} {sb:?}"), &got.to_vec().unwrap(), &want, 1e-6, 1e-5);
        }
    }
}

#[test]
fn reductions_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(3);
    let shapes: [(&[usize], usize); 7] = [
        (&[1], 0),
        (&[7, 13], 1),
        (&[7, 13], 0),
        (&[3, 1031], 1),
        (&[5, 300, 3], 1),
        (&[2, 0, 3], 1),
        (&[300, 257], 1),
    ];
    for (shape, axis) in shapes {
        let split = AxisSplit::new(shape, axis);
        let x = rng.vec(split.numel(), -2.0, 2.0);
        let gx = upload(&ctx, &x);
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
            let mut want = vec![0.0; split.outer * split.inner];
            cpu::reduce(op, &x, split, &mut want);
            let got = gpu::reduce(&ctx, op, &gx, split).unwrap().to_vec().unwrap();
            // Tolerance: max/min exact; sums are added in a different (tree) order, so allow a
            // relative error of the axis length times f32 epsilon.
            let abs = if op == ReduceOp::Sum { split.len as f32 * 2.0 * f32::EPSILON * 2.0 } else { 0.0 };
            assert_close(&format!("{op:?} {shape:?} axis {axis}"), &got, &want, abs, 1e-6);
        }
        if split.len > 0 {
            for want_max in [true, false] {
                let mut want = vec![0.0; split.outer * split.inner];
                cpu::arg_reduce(want_max, &x, split, &mut want);
                let got = gpu::arg_reduce(&ctx, want_max, &gx, split).unwrap().to_vec().unwrap();
                assert_eq!(got, want, "arg_reduce max={want_max} {shape:?} axis {axis}");
            }
        }
    }
}

#[test]
fn matmul_matches_cpu_with_transposes_batches_and_accumulate() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(4);
    // (batch, m, n, k, a_batch_stride is 0?, b_batch_stride is 0?)
    let cases = [
        (1, 1, 1, 1, false, false),
        (2, 3, 5, 7, false, false),
        (1, 17, 13, 70, false, false),
        (3, 5, 67, 9, true, false),
        (2, 65, 64, 17, false, true),
        (1, 64, 64, 64, false, false),
        (2, 1, 7, 1, false, false),
    ];
    for (batch, m, n, k, a_shared, b_shared) in cases {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for accumulate in [false, true] {
                let spec = MatmulSpec {
                    batch,
                    m,
                    n,
                    k,
                    trans_a: ta,
                    trans_b: tb,
                    a_batch_stride: if a_shared { 0 } else { m * k },
                    b_batch_stride: if b_shared { 0 } else { k * n },
                    accumulate,
                };
                let a = rng.vec(if a_shared { m * k } else { batch * m * k }, -1.0, 1.0);
                let b = rng.vec(if b_shared { k * n } else { batch * k * n }, -1.0, 1.0);
                let init = rng.vec(batch * m * n, -1.0, 1.0);
                let mut want = init.clone();
                cpu::matmul(&a, &b, &mut want, spec);
                let out = upload(&ctx, &init);
                gpu::matmul_into(&ctx, &upload(&ctx, &a), &upload(&ctx, &b), &out, spec).unwrap();
                // Tolerance: k products of values in [-1, 1] summed in another order.
                let tol = 1e-6 * (k as f32 + 1.0) * 4.0;
                assert_close(&format!("{spec:?}"), &out.to_vec().unwrap(), &want, tol, 1e-5);
            }
        }
    }
    let e = gpu::matmul(&ctx, &upload(&ctx, &[1.0]), &upload(&ctx, &[1.0]), MatmulSpec::new(2, 2, 2)).unwrap_err();
    assert!(e.to_string().contains("matmul"), "{e}");
}

#[test]
fn softmax_family_matches_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(5);
    let shapes: [(&[usize], usize); 5] = [(&[1], 0), (&[7, 13], 1), (&[7, 13], 0), (&[3, 5, 257], 2), (&[300, 4], 1)];
    for (shape, axis) in shapes {
        let split = AxisSplit::new(shape, axis);
        let n = split.numel();
        let x = rng.vec(n, -8.0, 8.0);
        let dy = rng.vec(n, -1.0, 1.0);
        let (mut sm, mut lsm, mut dsm, mut dlsm) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        cpu::softmax(&x, split, &mut sm);
        cpu::log_softmax(&x, split, &mut lsm);
        cpu::softmax_backward(&sm, &dy, split, &mut dsm);
        cpu::log_softmax_backward(&lsm, &dy, split, &mut dlsm);
        let (gx, gdy) = (upload(&ctx, &x), upload(&ctx, &dy));
        let (gsm, glsm) = (upload(&ctx, &sm), upload(&ctx, &lsm));
        // Tolerance: exp/log a few ulps apart, sums of up to 257 terms.
        let what = format!("{shape:?} axis {axis}");
        assert_close(&what, &gpu::softmax(&ctx, &gx, split).unwrap().to_vec().unwrap(), &sm, 1e-6, 1e-4);
        assert_close(&what, &gpu::log_softmax(&ctx, &gx, split).unwrap().to_vec().unwrap(), &lsm, 1e-5, 1e-5);
        let got = gpu::softmax_backward(&ctx, &gsm, &gdy, split).unwrap().to_vec().unwrap();
        assert_close(&what, &got, &dsm, 1e-5, 1e-4);
        let got = gpu::log_softmax_backward(&ctx, &glsm, &gdy, split).unwrap().to_vec().unwrap();
        assert_close(&what, &got, &dlsm, 1e-5, 1e-4);
    }
}

#[test]
fn strided_copy_and_add_into_match_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(6);
    // (source length, offset, strides, shape): transpose, narrow, broadcast, 4-D permute, scalar.
    let cases: [(usize, usize, &[usize], &[usize]); 6] = [
        (6, 0, &[1, 3], &[3, 2]),
        (1031, 5, &[1], &[1000]),
        (13, 0, &[0, 1], &[20, 13]),
        (2 * 3 * 5 * 7, 0, &[1, 35, 7, 105], &[7, 3, 5, 2]),
        (4, 3, &[], &[]),
        (300, 1, &[0, 2, 0], &[3, 100, 2]),
    ];
    for (len, offset, strides, shape) in cases {
        let n: usize = shape.iter().product();
        let src = rng.vec(len, -1.0, 1.0);
        let mut want = vec![0.0; n];
        cpu::strided_copy(&src, offset, strides, shape, &mut want);
        let got = gpu::strided_copy(&ctx, &upload(&ctx, &src), offset, strides, shape).unwrap();
        assert_eq!(got.to_vec().unwrap(), want, "strided_copy {strides:?} {shape:?}");
        // Adjoint: add a contiguous gradient into the view. Exact: same order of additions.
        let grad = rng.vec(n, -1.0, 1.0);
        let mut dst = rng.vec(len, -1.0, 1.0);
        let gdst = upload(&ctx, &dst);
        cpu::strided_add_into(&mut dst, offset, strides, shape, &grad);
        gpu::strided_add_into(&ctx, &gdst, offset, strides, shape, &upload(&ctx, &grad)).unwrap();
        assert_close(&format!("strided_add_into {strides:?} {shape:?}"), &gdst.to_vec().unwrap(), &dst, 1e-6, 0.0);
    }
}
