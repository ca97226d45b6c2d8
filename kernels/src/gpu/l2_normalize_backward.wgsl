// L2 normalisation's gradient (twin of cpu::l2_normalize_backward), one thread per row:
// dx = (g − y·(y·g)) / ‖x‖ where ‖x‖ > eps, g / eps where the norm was clamped.

@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn l2_normalize_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    if (r >= params.rows) {
        return;
    }
    let len = params.len;
    let base = r * len;
    let eps = params.eps;
    if (norms[r] > eps) {
        var dot = 0.0;
        for (var j = 0u; j < len; j = j + 1u) {
            dot = dot + y[base + j] * g[base + j];
        }
        let inv = 1.0 / norms[r];
        for (var j = 0u; j < len; j = j + 1u) {
            dx[base + j] = (g[base + j] - y[base + j] * dot) * inv;
        }
    } else {
        for (var j = 0u; j < len; j = j + 1u) {
            dx[base + j] = g[base + j] * (1.0 / eps);
        }
    }
}
