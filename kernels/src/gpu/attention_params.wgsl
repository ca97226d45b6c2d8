// The parameters of the attention shaders (included after common.wgsl), mirrored by
// `AttentionParams` in attention.rs.
struct AttentionParams {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    scale: f32,
    pad5: u32,
    pad6: u32,
    pad7: u32,
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
