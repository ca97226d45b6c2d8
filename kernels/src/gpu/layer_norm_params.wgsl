// The parameters of the LayerNorm shaders (included after common.wgsl), mirrored by
// `LayerNormParams` in layer_norm.rs.
struct LayerNormParams {
    rows: u32,
    n: u32,
    eps: f32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: LayerNormParams;
