// Attention's backward, part 1 (twin of cpu::attention_backward), one thread per (batch entry,
// head, query): dP = dO·vᵀ for the query's row, dS = P ⊙ (dP − Σ P ⊙ dP) · scale (kept in `ds`
// for part 2), and the query gradient dq = dS·k. Layouts as in attention.wgsl.

@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> ds: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;

@compute @workgroup_size(256)
fn attention_backward_query(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    let go = (b * seq + i) * hidden + h * dh;
    let row = r * seq;
    var row_dot = 0.0;
    for (var j = 0u; j < seq; j = j + 1u) {
        let vo = (b * seq + j) * hidden + h * dh;
        var dp = 0.0;
        for (var d = 0u; d < dh; d = d + 1u) {
            dp = dp + dout[go + d] * v[vo + d];
        }
        ds[row + j] = dp;
        row_dot = row_dot + probs[row + j] * dp;
    }
    for (var j = 0u; j < seq; j = j + 1u) {
        ds[row + j] = probs[row + j] * (ds[row + j] - row_dot) * params.scale;
    }
    for (var d = 0u; d < dh; d = d + 1u) {
        var acc = 0.0;
        for (var j = 0u; j < seq; j = j + 1u) {
            acc = acc + ds[row + j] * k[(b * seq + j) * hidden + h * dh + d];
        }
        dq[go + d] = acc;
    }
}
