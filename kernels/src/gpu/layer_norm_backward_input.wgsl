// LayerNorm's input gradient (twin of cpu::layer_norm_backward_input), one thread per row:
// dx = r (g - mean(g) - xhat mean(g xhat)) with g = dy w, xhat = (x - mean) r.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn layer_norm_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    if (r >= params.rows) {
        return;
    }
    let n = params.n;
    let base = r * n;
    let m = mean[r];
    let s = rstd[r];
    var sum_g = 0.0;
    var sum_gx = 0.0;
    for (var j = 0u; j < n; j = j + 1u) {
        let g = dy[base + j] * w[j];
        sum_g = sum_g + g;
        sum_gx = sum_gx + g * (x[base + j] - m) * s;
    }
    let mean_g = sum_g / f32(n);
    let mean_gx = sum_gx / f32(n);
    for (var j = 0u; j < n; j = j + 1u) {
        let xhat = (x[base + j] - m) * s;
        dx[base + j] = s * (dy[base + j] * w[j] - mean_g - xhat * mean_gx);
    }
}
