// L2 normalisation of rows (twin of cpu::l2_normalize), one thread per row:
// y = x / max(‖x‖, eps), the norm kept for the backward.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> norms: array<f32>;

@compute @workgroup_size(256)
fn l2_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    if (r >= params.rows) {
        return;
    }
    let len = params.len;
    let base = r * len;
    var sq = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        sq = sq + x[base + j] * x[base + j];
    }
    let norm = sqrt(sq);
    let inv = 1.0 / max(norm, params.eps);
    for (var j = 0u; j < len; j = j + 1u) {
        y[base + j] = x[base + j] * inv;
    }
    norms[r] = norm;
}
