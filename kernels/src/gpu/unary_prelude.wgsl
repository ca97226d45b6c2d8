// The parameters and the helpers the unary op table's WGSL snippets call (`unary_table.rs`),
// shared by the forward and backward shaders: each placed once, between `common.wgsl` and the
// generated `switch`.

// Mirrored by `UnaryParams` in unary.rs.
struct UnaryParams {
    n: u32,
    op: u32,
    param: f32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> params: UnaryParams;

// Numerical Recipes' erfc fit, as the CPU's `erf`.
fn erf_(v: f32) -> f32 {
    let z = abs(v);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * exp(poly);
    if (v >= 0.0) {
        return 1.0 - erfc;
    }
    return erfc - 1.0;
}

// Two branches keep exp's argument non-positive, so neither overflows (as the CPU's).
fn sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// `ln(1 + v)`, accurate for small `v` too (Rust's `ln_1p`; WGSL has none): the rounding of
// `1 + v` is undone by the factor `v / ((1 + v) − 1)` (Goldberg's trick).
fn log1p_(v: f32) -> f32 {
    let w = 1.0 + v;
    if (w == 1.0) {
        return v;
    }
    return log(w) * (v / (w - 1.0));
}
