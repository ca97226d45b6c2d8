// Masked mean's input gradient (twin of cpu::masked_mean_backward), one thread per token
// (batch entry, position), which counts its entry's mask once and writes its row of dh
// [batch, seq, hidden]: dh[b, t, f] = mask[b, t]·g[b, f] / max(Σ_t mask[b, t], 1e-9).

@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> dh: array<f32>;

@compute @workgroup_size(256)
fn masked_mean_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    let seq = params.seq;
    let hidden = params.hidden;
    if (r >= params.batch * seq) {
        return;
    }
    let b = r / seq;
    var count = 0.0;
    for (var u = 0u; u < seq; u = u + 1u) {
        count = count + mask[b * seq + u];
    }
    let c = mask[r] * (1.0 / max(count, 1e-9));
    for (var f = 0u; f < hidden; f = f + 1u) {
        dh[r * hidden + f] = c * g[b * hidden + f];
    }
}
