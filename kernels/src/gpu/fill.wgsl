// `len` copies of one value.

struct FillParams {
    n: u32,
    value: f32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: FillParams;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= params.n) {
        return;
    }
    dst[i] = params.value;
}
