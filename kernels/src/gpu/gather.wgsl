// Gathers by index. Indices are u32.
// index_select: out[o, t, i] = x[o, idx[t], i]; gather_axis: out[o, t, i] = x[o, idx[o, t, i], i]
// (t < idx_len).

// Mirrored by `GatherParams` in gather.rs.
struct GatherParams {
    outer: u32,
    len: u32,
    inner: u32,
    idx_len: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn index_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let pos = thread_index(wid, nwg, lid);
    let inner = params.inner;
    let idx_len = params.idx_len;
    if (pos >= params.outer * idx_len * inner) {
        return;
    }
    let i = pos % inner;
    let t = (pos / inner) % idx_len;
    let o = pos / (inner * idx_len);
    out[pos] = x[(o * params.len + idx[t]) * inner + i];
}

@compute @workgroup_size(256)
fn gather_axis(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let pos = thread_index(wid, nwg, lid);
    let inner = params.inner;
    let idx_len = params.idx_len;
    if (pos >= params.outer * idx_len * inner) {
        return;
    }
    let i = pos % inner;
    let o = pos / (inner * idx_len);
    out[pos] = x[(o * params.len + idx[pos]) * inner + i];
}
