//! Elementwise unary kernels and their derivatives (twins of `cpu::unary`).

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::UnaryOp;
use std::sync::{Arc, OnceLock};

/// One op's WGSL, from the op table (`crate::unary_table`).
struct WgslCase {
    name: &'static str,
    code: u32,
    /// The scalar parameter's name, if the op has one.
    param: &'static [&'static str],
    forward: &'static str,
    derivative: &'static str,
}

macro_rules! wgsl_cases {
    ($(
        $(#[doc = $doc:expr])*
        $variant:ident $(($param:ident : $pty:ty = $sample:expr))? => $name:ident {
            cpu: |$x:ident| $fwd:expr,
            cpu_grad: |$gx:ident, $gy:ident| $grad:expr,
            wgsl: $wgsl:expr,
            wgsl_grad: $wgsl_grad:expr,
            $($rest:tt)*
        }
    )*) => {
        const CASES: &[WgslCase] = &[ $( WgslCase {
            name: stringify!($name),
            code: crate::unary_table::UnaryOpCode::$variant as u32,
            param: &[$(stringify!($param))?],
            forward: $wgsl,
            derivative: $wgsl_grad,
        }, )* ];
    };
}

crate::for_each_unary_op!(wgsl_cases);

/// `fn signature { switch op { one case per table entry; default: NaN } }`.
fn switch(signature: &str, snippet: impl Fn(&WgslCase) -> &'static str) -> String {
    let mut s = format!("fn {signature} {{\n    switch op {{\n");
    for case in CASES {
        let bind = case.param.first().map(|p| format!("let {p} = param; ")).unwrap_or_default();
        s += &format!("        case {}u: {{ {bind}return {}; }} // {}\n", case.code, snippet(case), case.name);
    }
    // An op without a case computes NaN, never another op's value.
    s + "        default: { return nan_f32(); }\n    }\n}\n\n"
}

/// The forward shader's source: `common.wgsl`, the unary prelude, the generated `apply`, then
/// `unary.wgsl` (built once).
fn forward_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let apply = switch("apply(op: u32, x: f32, param: f32) -> f32", |c| c.forward);
        [PRELUDE, &apply, include_str!("unary.wgsl")].concat()
    })
}

/// The backward shader's source: as [`forward_source`], with `derivative` and
/// `unary_backward.wgsl`.
fn backward_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let derivative = switch("derivative(op: u32, x: f32, y: f32, param: f32) -> f32", |c| c.derivative);
        [PRELUDE, &derivative, include_str!("unary_backward.wgsl")].concat()
    })
}

const PRELUDE: &str = concat!(include_str!("common.wgsl"), include_str!("unary_prelude.wgsl"));

/// `UnaryParams` of unary_prelude.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct UnaryParams {
    n: u32,
    op: u32,
    /// The op's scalar argument (0 for ops without one).
    param: f32,
    pad: u32,
}

fn forward_shader() -> Shader {
    Shader::checked("unary", forward_source())
}

fn backward_shader() -> Shader {
    Shader::checked("unary_backward", backward_source())
}

/// The op's code in the shaders and its scalar argument.
fn op_code(op: UnaryOp) -> (u32, f32) {
    (op.code(), op.parameter().unwrap_or(0.0))
}

/// `out[i] = op(x[i])`.
pub fn unary(ctx: &Arc<GpuContext>, op: UnaryOp, x: &GpuBuffer) -> GpuResult<GpuBuffer> {
    let name = "unary";
    check(ctx, name, &[("x", x, x.len())])?;
    let out = GpuBuffer::uninit(ctx, x.len())?;
    if x.is_empty() {
        return Ok(out);
    }
    let (code, c) = op_code(op);
    forward_code(ctx, code, c, x, &out)?;
    Ok(out)
}

/// The forward dispatch by raw op code (tests reach the `default` case with it).
pub(super) fn forward_code(ctx: &Arc<GpuContext>, code: u32, c: f32, x: &GpuBuffer, out: &GpuBuffer) -> GpuResult<()> {
    let name = "unary";
    let params = UnaryParams { n: u32_of(ctx, name, x.len())?, op: code, param: c, pad: 0 };
    ctx.dispatch_typed(&forward_shader(), "unary", &params, &[x.raw(), out.raw()], grid_1d(ctx, name, x.len())?)
}

/// `dx[i] = dy[i] * op'(x[i])`, given the forward input `x` and output `y`.
pub fn unary_backward(
    ctx: &Arc<GpuContext>,
    op: UnaryOp,
    x: &GpuBuffer,
    y: &GpuBuffer,
    dy: &GpuBuffer,
) -> GpuResult<GpuBuffer> {
    let name = "unary_backward";
    let n = x.len();
    check(ctx, name, &[("x", x, n), ("y", y, n), ("dy", dy, n)])?;
    let dx = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(dx);
    }
    let (code, c) = op_code(op);
    let params = UnaryParams { n: u32_of(ctx, name, n)?, op: code, param: c, pad: 0 };
    ctx.dispatch_typed(
        &backward_shader(),
        "unary_backward",
        &params,
        &[x.raw(), y.raw(), dy.raw(), dx.raw()],
        grid_1d(ctx, name, n)?,
    )?;
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_op_has_one_case_in_each_shader_and_the_default_is_nan() {
        for source in [forward_source(), backward_source()] {
            for op in UnaryOp::ALL {
                let case = format!("case {}u: {{", op.code());
                assert_eq!(source.matches(&case).count(), 1, "{} in\n{source}", op.name());
            }
            assert!(source.contains("default: { return nan_f32(); }"), "{source}");
            assert_eq!(source.matches("fn erf_(").count(), 1, "erf_ is defined once");
        }
        let codes: Vec<u32> = UnaryOp::ALL.iter().map(|op| op.code()).collect();
        assert_eq!(codes, (0..CASES.len() as u32).collect::<Vec<_>>(), "codes are the table positions");
    }
}
