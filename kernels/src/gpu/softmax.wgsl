// Softmax / log-softmax along one axis and their backwards, one thread per line of the
// [outer, len, inner] view. Params: [outer, len, inner].

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// First element of line `t` (lines are numbered over outer × inner).
fn line_base(t: u32) -> u32 {
    let len = p(1u);
    let inner = p(2u);
    return (t / inner) * len * inner + t % inner;
}

fn line_max(base: u32) -> f32 {
    var m = -inf_f32();
    for (var j = 0u; j < p(1u); j = j + 1u) {
        m = max(m, x[base + j * p(2u)]);
    }
    return m;
}

@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= p(0u) * p(2u)) {
        return;
    }
    let base = line_base(t);
    let len = p(1u);
    let inner = p(2u);
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
    if (t >= p(0u) * p(2u)) {
        return;
    }
    let base = line_base(t);
    let len = p(1u);
    let inner = p(2u);
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
