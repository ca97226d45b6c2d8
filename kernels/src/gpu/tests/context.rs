//! The context's guarantees: large launches tile over y/z, wgpu validation errors become
//! `GpuError`s (at the call or at the next flush), each dispatch reads its own parameters from
//! the uniform ring, work waits in one batch until a readback, and the shared context is one per
//! process.

use super::ctx;
use crate::gpu::batch::MAX_PENDING;
use crate::gpu::pipeline::Shader;
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

#[test]
fn an_invalid_dispatch_is_an_error_at_the_flush_and_the_context_recovers() {
    let Some(_) = ctx() else { return };
    // A context of its own: the failed batch must not take other tests' work with it.
    let ctx = GpuContext::new().unwrap();
    // Dispatches record without error scopes: a storage binding on a buffer that lacks STORAGE
    // usage is reported by the uncaptured-error handler (or the invalid command buffer) when the
    // batch is submitted, as a Backend error naming the device, never as a panic.
    let shader =
        Shader::checked("test_invalid_binding", concat!(include_str!("../common.wgsl"), include_str!("../fill.wgsl")));
    let not_storage = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("not a storage buffer, on purpose"),
        size: 64,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let params: [u32; 4] = [4, 1.0f32.to_bits(), 0, 0]; // FillParams { n, value, pad }
    let recorded = ctx.dispatch_typed(&shader, "fill", &params, &[&not_storage], [1, 1, 1]);
    let result = recorded.and_then(|()| ctx.synchronize());
    match result {
        Err(e @ GpuError::Backend { .. }) => assert!(e.to_string().contains(&ctx.describe()), "{e}"),
        other => panic!("expected a Backend error, got {other:?}"),
    }
    // The next batch runs normally.
    assert_eq!(gpu::fill(&ctx, 5, 2.0).unwrap().to_vec().unwrap(), vec![2.0; 5]);
}

#[test]
fn every_dispatch_of_a_batch_reads_its_own_parameters_across_ring_reuse() {
    let Some(ctx) = ctx() else { return };
    // More dispatches than one batch holds, so the uniform ring is rewritten for a second batch
    // while the first may still be in flight; each fill must still see its own value and length.
    let n = MAX_PENDING + 100;
    let bufs: Vec<_> = (0..n).map(|i| gpu::fill(&ctx, 1 + i % 7, i as f32).unwrap()).collect();
    for (i, b) in bufs.iter().enumerate() {
        assert_eq!(b.to_vec().unwrap(), vec![i as f32; 1 + i % 7], "fill {i}");
    }
}

#[test]
fn recorded_work_waits_for_a_readback_in_one_batch() {
    // A context of its own, so other tests' work does not mix into the count.
    let Some(_) = ctx() else { return };
    let ctx = GpuContext::new().unwrap();
    ctx.synchronize().unwrap();
    let x = gpu::fill(&ctx, 1000, 1.0).unwrap();
    let mut y = x.clone();
    for _ in 0..200 {
        y = gpu::unary(&ctx, UnaryOp::AddScalar(1.0), &y).unwrap();
    }
    // 201 dispatches, more than the old 64-dispatch batches, all still pending: one submit.
    assert_eq!(ctx.pending(), 201);
    assert_eq!(y.to_vec().unwrap(), vec![201.0; 1000]);
    assert_eq!(ctx.pending(), 0);
    // A second readback reuses the pooled staging buffer.
    assert_eq!(y.to_vec().unwrap()[999], 201.0);
}

#[test]
fn a_repeated_step_reuses_its_bind_groups() {
    let Some(_) = ctx() else { return };
    // A context of its own, so the cache holds only this test's bind groups.
    let ctx = GpuContext::new().unwrap();
    let step = |v: f32| {
        let mut y = gpu::fill(&ctx, 300, v).unwrap();
        for _ in 0..10 {
            y = gpu::unary(&ctx, UnaryOp::AddScalar(1.0), &y).unwrap();
        }
        y.to_vec().unwrap()
    };
    let mut counts = Vec::new();
    for v in 0..4 {
        // Each step's values are its own although its bind groups (ring offsets) are reused.
        assert_eq!(step(v as f32), vec![v as f32 + 10.0; 300], "step {v}");
        counts.push(ctx.bind_group_count());
    }
    // The pool hands the two ping-pong buffers out in one of two orders, so the cache may grow
    // over the first two steps, and then no more.
    assert_eq!(counts[3], counts[1], "{counts:?}");
    assert!(counts[1] <= 2 * 11, "{counts:?}");
    ctx.trim_pool();
    assert_eq!(ctx.bind_group_count(), 0);
}
