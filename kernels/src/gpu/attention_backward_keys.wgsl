// Attention's backward, part 2 (twin of cpu::attention_backward), one thread per (batch entry,
// head, key): dk = dSᵀ·q and dv = Pᵀ·dO for the key, from part 1's dS. Layouts as in
// attention.wgsl.

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> probs: array<f32>;
@group(0) @binding(4) var<storage, read> ds: array<f32>;
@group(0) @binding(5) var<storage, read_write> dk: array<f32>;
@group(0) @binding(6) var<storage, read_write> dv: array<f32>;

@compute @workgroup_size(256)
fn attention_backward_keys(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    let seq = params.seq;
    let heads = params.heads;
    let dh = params.head_dim;
    if (r >= params.batch * heads * seq) {
        return;
    }
    let j = r % seq;
    let bh = r / seq;
    let h = bh % heads;
    let b = bh / heads;
    let hidden = heads * dh;
    let jo = (b * seq + j) * hidden + h * dh;
    for (var d = 0u; d < dh; d = d + 1u) {
        var gk = 0.0;
        var gv = 0.0;
        for (var i = 0u; i < seq; i = i + 1u) {
            let w = (bh * seq + i) * seq + j;
            let io = (b * seq + i) * hidden + h * dh + d;
            gk = gk + ds[w] * q[io];
            gv = gv + probs[w] * dout[io];
        }
        dk[jo + d] = gk;
        dv[jo + d] = gv;
    }
}
