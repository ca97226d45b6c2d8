// Backward of softmax (dx = y ⊙ (dy − Σ dy ⊙ y)) and log-softmax (dx = dy − exp(y) Σ dy), from
// the forward output y. One thread per line.

@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= params.outer * params.inner) {
        return;
    }
    let base = line_base(t);
    let len = params.len;
    let inner = params.inner;
    var dot = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        dot = dot + y[base + j * inner] * dy[base + j * inner];
    }
    for (var j = 0u; j < len; j = j + 1u) {
        let o = base + j * inner;
        dx[o] = y[o] * (dy[o] - dot);
    }
}

@compute @workgroup_size(256)
fn log_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= params.outer * params.inner) {
        return;
    }
    let base = line_base(t);
    let len = params.len;
    let inner = params.inner;
    var sum = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        sum = sum + dy[base + j * inner];
    }
    for (var j = 0u; j < len; j = j + 1u) {
        let o = base + j * inner;
        dx[o] = dy[o] - exp(y[o]) * sum;
    }
}
