// Elementwise binary ops with broadcasting. Params: [n, op, rank, same_shape,
// out_shape[8], a_strides[8], b_strides[8]] (broadcast dims have stride 0). Op codes follow
// `op_code` in binary.rs; comparisons give 1.0 / 0.0.

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn apply(op: u32, x: f32, y: f32) -> f32 {
    switch op {
        case 0u: { return x + y; }
        case 1u: { return x - y; }
        case 2u: { return x * y; }
        case 3u: { return x / y; }
        case 4u: { return pow_c(x, y); }
        case 5u: { return max(x, y); }
        case 6u: { return min(x, y); }
        case 7u: { return select(0.0, 1.0, x == y); }
        case 8u: { return select(0.0, 1.0, x != y); }
        case 9u: { return select(0.0, 1.0, x < y); }
        case 10u: { return select(0.0, 1.0, x <= y); }
        case 11u: { return select(0.0, 1.0, x > y); }
        default: { return select(0.0, 1.0, x >= y); }
    }
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= p(0u)) {
        return;
    }
    let op = p(1u);
    if (p(3u) == 1u) {
        out[i] = apply(op, a[i], b[i]);
        return;
    }
    let rank = p(2u);
    var rem = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = rank; d > 0u; d = d - 1u) {
        let dim = p(4u + d - 1u);
        let idx = rem % dim;
        rem = rem / dim;
        ia = ia + idx * p(12u + d - 1u);
        ib = ib + idx * p(20u + d - 1u);
    }
    out[i] = apply(op, a[ia], b[ib]);
}
