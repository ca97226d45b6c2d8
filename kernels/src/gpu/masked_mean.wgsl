// Masked mean over tokens (twin of cpu::masked_mean), one thread per output (batch entry,
// feature): out[b, f] = Σ_t mask[b, t]·h[b, t, f] / max(Σ_t mask[b, t], 1e-9).

@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn masked_mean(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    let seq = params.seq;
    let hidden = params.hidden;
    if (r >= params.batch * hidden) {
        return;
    }
    let b = r / hidden;
    let f = r % hidden;
    var sum = 0.0;
    var count = 0.0;
    for (var t = 0u; t < seq; t = t + 1u) {
        let w = mask[b * seq + t];
        if (w != 0.0) {
            sum = sum + w * h[(b * seq + t) * hidden + f];
        }
        count = count + w;
    }
    out[r] = sum * (1.0 / max(count, 1e-9));
}
