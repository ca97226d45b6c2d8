// Gathers by index. Indices are u32.
// index_select params: [outer, len, inner, idx_len]: out[o, t, i] = x[o, idx[t], i].
// gather_axis params:  [outer, len, inner, idx_len]: out[o, t, i] = x[o, idx[o, t, i], i].

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn index_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let pos = thread_index(wid, nwg, lid);
    let inner = p(2u);
    let idx_len = p(3u);
    if (pos >= p(0u) * idx_len * inner) {
        return;
    }
    let i = pos % inner;
    let t = (pos / inner) % idx_len;
    let o = pos / (inner * idx_len);
    out[pos] = x[(o * p(1u) + idx[t]) * inner + i];
}

@compute @workgroup_size(256)
fn gather_axis(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let pos = thread_index(wid, nwg, lid);
    let inner = p(2u);
    let idx_len = p(3u);
    if (pos >= p(0u) * idx_len * inner) {
        return;
    }
    let i = pos % inner;
    let o = pos / (inner * idx_len);
    out[pos] = x[(o * p(1u) + idx[pos]) * inner + i];
}
