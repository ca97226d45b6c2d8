// Softmax / log-softmax along one axis and their backwards, one thread per line of the
// [outer, len, inner] view.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn line_max(base: u32) -> f32 {
    var m = -inf_f32();
    for (var j = 0u; j < params.len; j = j + 1u) {
        m = max(m, x[base + j * params.inner]);
    }
    return m;
}

@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= params.outer * params.inner) {
        return;
    }
    let base = line_base(t);
    let len = params.len;
    let inner = params.inner;
    let m = line_max(base);
    var sum = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        let e = exp(x[base + j * inner] - m);
        out[base + j * inner] = e;
        sum = sum + e;
    }
    for (var j = 0u; j < len; j = j + 1u) {
        out[base + j * inner] = out[base + j * inner] / sum;
    }
}

@compute @workgroup_size(256)
fn log_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= params.outer * params.inner) {
        return;
    }
    let base = line_base(t);
    let len = params.len;
    let inner = params.inner;
    let m = line_max(base);
    var sum = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        sum = sum + exp(x[base + j * inner] - m);
    }
    let log_sum = log(sum);
    for (var j = 0u; j < len; j = j + 1u) {
        out[base + j * inner] = (x[base + j * inner] - m) - log_sum;
    }
}
