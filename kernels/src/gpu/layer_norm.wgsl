// LayerNorm over rows of n (twin of cpu::layer_norm), one thread per row: the row's mean and
// biased variance, then the normalised, scaled and shifted row; the mean and 1/sqrt(var + eps)
// are kept for the backward.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;

@compute @workgroup_size(256)
fn layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    if (r >= params.rows) {
        return;
    }
    let n = params.n;
    let base = r * n;
    var sum = 0.0;
    for (var j = 0u; j < n; j = j + 1u) {
        sum = sum + x[base + j];
    }
    let mean = sum / f32(n);
    var sq = 0.0;
    for (var j = 0u; j < n; j = j + 1u) {
        let d = x[base + j] - mean;
        sq = sq + d * d;
    }
    let rstd = 1.0 / sqrt(sq / f32(n) + params.eps);
    for (var j = 0u; j < n; j = j + 1u) {
        y[base + j] = (x[base + j] - mean) * rstd * w[j] + b[j];
    }
    mean_out[r] = mean;
    rstd_out[r] = rstd;
}
