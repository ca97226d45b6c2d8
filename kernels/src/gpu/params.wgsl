// The positional parameter block at binding 0 of the kernels that have no typed parameter
// struct yet: 64 u32 slots, read with `p(i)` / `pf(i)` (floats travel as their bits). Kernels
// with a typed struct (matmul, ...) declare their own `params` instead of including this file.

struct Params {
    v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<uniform> params: Params;

// Parameter slot `i` as u32 / as f32.
fn p(i: u32) -> u32 {
    return params.v[i / 4u][i % 4u];
}

fn pf(i: u32) -> f32 {
    return bitcast<f32>(p(i));
}

