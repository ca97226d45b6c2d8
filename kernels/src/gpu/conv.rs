//! 2-D convolution by im2col + matmul, with both backward products (twins of `cpu::conv`).
//!
//! The whole batch is unfolded at once into `[c*kh*kw, n*oh*ow]` so each product is one matmul;
//! sums over images therefore run in another order than the CPU's image-by-image loop. With
//! channel groups the unfolded rows of group `gi` are the consecutive block of its channels, and
//! so are its weight rows and output channels, so the products are one batched matmul with one
//! batch entry per group (strides instead of copies).

use super::context::GpuContext;
use super::copy::strided_copy;
use super::launch::{check, grid_1d, u32_of};
use super::matmul::matmul;
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::cpu::{Conv2dGeometry, MatmulSpec};
use std::sync::Arc;

const SHADER: Shader = Shader::checked("conv", concat!(include_str!("common.wgsl"), include_str!("conv.wgsl")));

/// Output height and width, or an error when the kernel does not fit the padded input.
fn out_hw(ctx: &GpuContext, op: &'static str, g: &Conv2dGeometry) -> GpuResult<(usize, usize)> {
    if let Some(why) = g.groups_error() {
        return Err(ctx.error(op, format!("{why}: {g:?}")));
    }
    match (g.out_h(), g.out_w()) {
        (Some(oh), Some(ow)) if g.stride.0 > 0 && g.stride.1 > 0 => Ok((oh, ow)),
        _ => Err(ctx.error(op, format!("the kernel does not fit the padded input (or a stride is 0): {g:?}"))),
    }
}

/// Rows of the batch's im2col matrix: every channel's `kh·kw` kernel positions.
fn unfolded_rows(g: &Conv2dGeometry) -> usize {
    g.c * g.kh * g.kw
}

/// One product per channel group: `op(A[gi]) · op(B[gi])`, with A's and B's groups `a_len` and
/// `b_len` floats apart (the output's are contiguous).
fn per_group(g: &Conv2dGeometry, spec: MatmulSpec, a_len: usize, b_len: usize) -> MatmulSpec {
    MatmulSpec { batch: g.groups, a_batch_stride: a_len, b_batch_stride: b_len, ..spec }
}

/// `ConvParams` of conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    oh: u32,
    ow: u32,
}

fn params(ctx: &GpuContext, op: &'static str, g: &Conv2dGeometry, oh: usize, ow: usize) -> GpuResult<ConvParams> {
    let u = |v| u32_of(ctx, op, v);
    Ok(ConvParams {
        n: u(g.n)?,
        c: u(g.c)?,
        h: u(g.h)?,
        w: u(g.w)?,
        kh: u(g.kh)?,
        kw: u(g.kw)?,
        stride_h: u(g.stride.0)?,
        stride_w: u(g.stride.1)?,
        pad_h: u(g.padding.0)?,
        pad_w: u(g.padding.1)?,
        oh: u(oh)?,
        ow: u(ow)?,
    })
}

/// Unfolds the batch `x` (`[n, c, h, w]`) into columns `[c*kh*kw, n*oh*ow]`.
pub fn im2col(ctx: &Arc<GpuContext>, x: &GpuBuffer, g: &Conv2dGeometry) -> GpuResult<GpuBuffer> {
    let op = "im2col";
    check(ctx, op, &[("x", x, g.n * g.c * g.h * g.w)])?;
    let (oh, ow) = out_hw(ctx, op, g)?;
    let len = unfolded_rows(g) * g.n * oh * ow;
    let cols = GpuBuffer::uninit(ctx, len)?;
    if len > 0 {
        ctx.dispatch_typed(
            &SHADER,
            "im2col",
            &params(ctx, op, g, oh, ow)?,
            &[x.raw(), cols.raw()],
            grid_1d(ctx, op, len)?,
        )?;
    }
    Ok(cols)
}

/// Folds columns `[c*kh*kw, n*oh*ow]` back into a batch `[n, c, h, w]`, adding overlapping
/// patches: the adjoint of [`im2col`].
pub fn col2im(ctx: &Arc<GpuContext>, cols: &GpuBuffer, g: &Conv2dGeometry) -> GpuResult<GpuBuffer> {
    let op = "col2im";
    let (oh, ow) = out_hw(ctx, op, g)?;
    check(ctx, op, &[("cols", cols, unfolded_rows(g) * g.n * oh * ow)])?;
    let len = g.n * g.c * g.h * g.w;
    let x = GpuBuffer::uninit(ctx, len)?;
    if len > 0 {
        ctx.dispatch_typed(
            &SHADER,
            "col2im",
            &params(ctx, op, g, oh, ow)?,
            &[cols.raw(), x.raw()],
            grid_1d(ctx, op, len)?,
        )?;
    }
    Ok(x)
}

/// `dy` (`[n, o, oh*ow]`) as `[o, n*oh*ow]`.
fn dy_by_channel(ctx: &Arc<GpuContext>, dy: &GpuBuffer, g: &Conv2dGeometry, plane: usize) -> GpuResult<GpuBuffer> {
    strided_copy(ctx, dy, 0, &[plane, g.o * plane, 1], &[g.o, g.n, plane])
}

/// `out[n] = weight · im2col(x[n])` per channel group: input `[n, c, h, w]`, weight
/// `[o, c/groups, kh, kw]`, output `[n, o, oh, ow]`.
pub fn conv2d_forward(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    weight: &GpuBuffer,
    g: &Conv2dGeometry,
) -> GpuResult<GpuBuffer> {
    let op = "conv2d";
    let (oh, ow) = out_hw(ctx, op, g)?;
    let (og, patch) = (g.out_per_group(), g.patch_len());
    check(ctx, op, &[("weight", weight, g.o * patch)])?;
    let plane = oh * ow;
    let cols = im2col(ctx, x, g)?;
    let spec = per_group(g, MatmulSpec::new(og, g.n * plane, patch), og * patch, patch * g.n * plane);
    let by_channel = matmul(ctx, weight, &cols, spec)?;
    strided_copy(ctx, &by_channel, 0, &[plane, g.n * plane, 1], &[g.n, g.o, plane])
}

/// `dx = col2im(weightᵀ · dy)` per channel group.
pub fn conv2d_backward_input(
    ctx: &Arc<GpuContext>,
    dy: &GpuBuffer,
    weight: &GpuBuffer,
    g: &Conv2dGeometry,
) -> GpuResult<GpuBuffer> {
    let op = "conv2d_backward_input";
    let (oh, ow) = out_hw(ctx, op, g)?;
    let (plane, og, patch) = (oh * ow, g.out_per_group(), g.patch_len());
    check(ctx, op, &[("dy", dy, g.n * g.o * plane), ("weight", weight, g.o * patch)])?;
    let dy_t = dy_by_channel(ctx, dy, g, plane)?;
    let spec = MatmulSpec { trans_a: true, ..MatmulSpec::new(patch, g.n * plane, og) };
    let cols = matmul(ctx, weight, &dy_t, per_group(g, spec, og * patch, og * g.n * plane))?;
    col2im(ctx, &cols, g)
}

/// `dw = Σₙ dy[n] · im2col(x[n])ᵀ` per channel group, as one product over all images.
pub fn conv2d_backward_weight(
    ctx: &Arc<GpuContext>,
    dy: &GpuBuffer,
    x: &GpuBuffer,
    g: &Conv2dGeometry,
) -> GpuResult<GpuBuffer> {
    let op = "conv2d_backward_weight";
    let (oh, ow) = out_hw(ctx, op, g)?;
    let (plane, og, patch) = (oh * ow, g.out_per_group(), g.patch_len());
    check(ctx, op, &[("dy", dy, g.n * g.o * plane)])?;
    let cols = im2col(ctx, x, g)?;
    let dy_t = dy_by_channel(ctx, dy, g, plane)?;
    let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(og, patch, g.n * plane) };
    matmul(ctx, &dy_t, &cols, per_group(g, spec, og * g.n * plane, patch * g.n * plane))
}
