// The parameters of the L2-normalisation shaders (included after common.wgsl), mirrored by
// `L2Params` in sequence.rs.
struct L2Params {
    rows: u32,
    len: u32,
    eps: f32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: L2Params;
