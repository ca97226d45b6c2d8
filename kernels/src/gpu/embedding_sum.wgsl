// One table's share of an embedding sum (twin of cpu::embedding_sum), one thread per output
// element: out[n, f] = (accumulate ? out[n, f] : 0) + table[idx[n], f]; the sum of several
// tables is one launch per table. Indices are u32.

// Mirrored by `EmbeddingParams` in sequence.rs.
struct EmbeddingParams {
    rows: u32,
    hidden: u32,
    accumulate: u32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: EmbeddingParams;

@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn embedding_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = thread_index(wid, nwg, lid);
    let hidden = params.hidden;
    if (r >= params.rows * hidden) {
        return;
    }
    var acc = 0.0;
    if (params.accumulate != 0u) {
        acc = out[r];
    }
    out[r] = acc + table[idx[r / hidden] * hidden + r % hidden];
}
