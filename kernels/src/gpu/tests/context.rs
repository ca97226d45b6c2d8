//! The context's guarantees: large launches tile over y/z, wgpu validation errors become
//! `GpuError`s, and the shared context is one per process.

use super::ctx;
use crate::gpu::{self, GpuContext, GpuError};
use crate::UnaryOp;
use std::sync::Arc;

#[test]
fn launches_past_65535_workgroups_spread_over_y() {
    let Some(ctx) = ctx() else { return };
    let max = ctx.limits().max_compute_workgroups_per_dimension as usize;
    // One workgroup more than fits in x (256 threads each), plus a ragged tail.
    let n = max * 256 + 300;
    assert!(ctx.grid("test", (n as u64).div_ceil(256)).unwrap()[1] > 1, "the grid spills into y");
    let x = gpu::fill(&ctx, n, 1.5).unwrap();
    let y = gpu::unary(&ctx, UnaryOp::AddScalar(1.0), &x).unwrap().to_vec().unwrap();
    assert_eq!(y.len(), n);
    for &i in &[0, 255, 256 * 65535 - 1, 256 * 65535, n - 1] {
        assert_eq!(y[i.min(n - 1)], 2.5, "element {i}");
    }
    assert!(y.iter().all(|&v| v == 2.5), "every element was written once");
}

#[test]
fn validation_errors_become_gpu_errors_not_panics() {
    let Some(ctx) = ctx() else { return };
    // MAP_READ may only be combined with COPY_DST: wgpu reports a validation error.
    let result = ctx.scoped(|| {
        ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("invalid on purpose"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    match result {
        Err(e @ GpuError::Backend { .. }) => assert!(e.to_string().contains(&ctx.describe()), "{e}"),
        other => panic!("expected a Backend error, got {other:?}"),
    }
    // The context stays usable afterwards.
    assert_eq!(gpu::fill(&ctx, 3, 1.0).unwrap().to_vec().unwrap(), vec![1.0; 3]);
}

#[test]
fn the_shared_context_is_one_per_process() {
    let Some(ctx) = ctx() else { return };
    eprintln!("GPU adapter: {}", ctx.describe());
    assert!(Arc::ptr_eq(&ctx, &GpuContext::shared().unwrap()));
    let e = ctx.error("demo", "cause");
    assert_eq!(e.to_string(), format!("GPU {}: demo: cause", ctx.describe()));
}
