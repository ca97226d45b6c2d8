// The parameters of the softmax shaders (included after common.wgsl), mirrored by `LineParams`
// in softmax.rs: the [outer, len, inner] view, one thread per line.
struct LineParams {
    outer: u32,
    len: u32,
    inner: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> params: LineParams;

// First element of line `t` (lines are numbered over outer × inner).
fn line_base(t: u32) -> u32 {
    let len = params.len;
    let inner = params.inner;
    return (t / inner) * len * inner + t % inner;
}
