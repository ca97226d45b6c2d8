// LayerNorm's weight and bias gradients (twins of cpu::layer_norm_backward_weight/_bias), one
// thread per feature summing over the rows in order: dw = sum dy xhat, db = sum dy.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(256)
fn layer_norm_backward_params(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = thread_index(wid, nwg, lid);
    let n = params.n;
    if (j >= n) {
        return;
    }
    var sw = 0.0;
    var sb = 0.0;
    for (var r = 0u; r < params.rows; r = r + 1u) {
        let d = dy[r * n + j];
        sw = sw + d * (x[r * n + j] - mean[r]) * rstd[r];
        sb = sb + d;
    }
    dw[j] = sw;
    db[j] = sb;
}
