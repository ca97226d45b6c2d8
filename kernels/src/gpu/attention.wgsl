// Multi-head attention with a key padding mask (twin of cpu::attention), one thread per
// (batch entry, head, query): the query's scores over the attended keys, their softmax (kept in
// `probs` for the backward) and the weighted sum of the values. q, k, v and out are
// [batch, seq, heads * head_dim], mask [batch, seq] (0 = not attended), probs
// [batch, heads, seq, seq].

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(256)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    let seq = params.seq;
    let heads = params.heads;
    let dh = params.head_dim;
    if (r >= params.batch * heads * seq) {
        return;
    }
    let i = r % seq;
    let h = (r / seq) % heads;
    let b = r / (seq * heads);
    let hidden = heads * dh;
    let qo = (b * seq + i) * hidden + h * dh;
    let row = r * seq;
    var top = -inf_f32();
    for (var j = 0u; j < seq; j = j + 1u) {
        if (mask[b * seq + j] != 0.0) {
            let ko = (b * seq + j) * hidden + h * dh;
            var s = 0.0;
            for (var d = 0u; d < dh; d = d + 1u) {
                s = s + q[qo + d] * k[ko + d];
            }
            s = s * params.scale;
            probs[row + j] = s;
            top = max(top, s);
        }
    }
    var sum = 0.0;
    for (var j = 0u; j < seq; j = j + 1u) {
        var e = 0.0;
        if (mask[b * seq + j] != 0.0) {
            e = exp(probs[row + j] - top);
        }
        probs[row + j] = e;
        sum = sum + e;
    }
    let inv = select(0.0, 1.0 / sum, sum > 0.0);
    for (var j = 0u; j < seq; j = j + 1u) {
        probs[row + j] = probs[row + j] * inv;
    }
    for (var d = 0u; d < dh; d = d + 1u) {
        var acc = 0.0;
        for (var j = 0u; j < seq; j = j + 1u) {
            acc = acc + probs[row + j] * v[(b * seq + j) * hidden + h * dh + d];
        }
        out[qo + d] = acc;
    }
}
