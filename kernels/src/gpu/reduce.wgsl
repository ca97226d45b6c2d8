// Reductions along one axis of the [outer, len, inner] view, op 0 = sum, 1 = max, 2 = min (for
// arg_reduce: 1 = argmax, 0 = argmin).

// Mirrored by `ReduceParams` in reduce.rs.
struct ReduceParams {
    outer: u32,
    len: u32,
    inner: u32,
    op: u32,
}

@group(0) @binding(0) var<uniform> params: ReduceParams;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn identity(op: u32) -> f32 {
    switch op {
        case 0u: { return 0.0; }
        case 1u: { return -inf_f32(); }
        default: { return inf_f32(); }
    }
}

fn combine(op: u32, acc: f32, v: f32) -> f32 {
    switch op {
        case 0u: { return acc + v; }
        case 1u: { return max(acc, v); }
        default: { return min(acc, v); }
    }
}

// inner == 1: one workgroup per output, a strided partial per thread, then a tree in shared memory.
@compute @workgroup_size(256)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = group_index(wid, nwg);
    let outer = params.outer;
    let len = params.len;
    let op = params.op;
    var acc = identity(op);
    if (row < outer) {
        for (var j = lid.x; j < len; j = j + WG) {
            acc = combine(op, acc, x[row * len + j]);
        }
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid.x < s) {
            partial[lid.x] = combine(op, partial[lid.x], partial[lid.x + s]);
        }
        workgroupBarrier();
    }
    if (lid.x == 0u && row < outer) {
        out[row] = partial[0];
    }
}

// Any inner: one thread per output walks the axis (reads coalesce across neighbouring outputs).
@compute @workgroup_size(256)
fn reduce_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    let len = params.len;
    let inner = params.inner;
    let op = params.op;
    if (t >= params.outer * inner) {
        return;
    }
    let o = t / inner;
    let i = t % inner;
    var acc = identity(op);
    for (var j = 0u; j < len; j = j + 1u) {
        acc = combine(op, acc, x[(o * len + j) * inner + i]);
    }
    out[t] = acc;
}

// Index of the first max (op 1) or min (op 0) along the axis, as f32.
@compute @workgroup_size(256)
fn arg_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    let len = params.len;
    let inner = params.inner;
    let want_max = params.op == 1u;
    if (t >= params.outer * inner) {
        return;
    }
    let o = t / inner;
    let i = t % inner;
    var best = x[o * len * inner + i];
    var best_j = 0u;
    for (var j = 1u; j < len; j = j + 1u) {
        let v = x[(o * len + j) * inner + i];
        if ((want_max && v > best) || (!want_max && v < best)) {
            best = v;
            best_j = j;
        }
    }
    out[t] = f32(best_j);
}
