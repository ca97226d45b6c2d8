// The parameters of the masked-mean shaders (included after common.wgsl), mirrored by
// `SeqParams` in sequence.rs.
struct SeqParams {
    batch: u32,
    seq: u32,
    hidden: u32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: SeqParams;
