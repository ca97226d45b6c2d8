// Elementwise binary ops with broadcasting (broadcast dims have stride 0). Op codes follow
// `op_code` in binary.rs; comparisons give 1.0 / 0.0.

// Mirrored by `BinaryParams` in binary.rs.
struct BinaryParams {
    n: u32,
    op: u32,
    rank: u32,
    same_shape: u32,
    out_shape: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: BinaryParams;

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
    if (i >= params.n) {
        return;
    }
    let op = params.op;
    if (params.same_shape == 1u) {
        out[i] = apply(op, a[i], b[i]);
        return;
    }
    var rem = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = params.rank; d > 0u; d = d - 1u) {
        let q = (d - 1u) / 4u;
        let c = (d - 1u) % 4u;
        let size = params.out_shape[q][c];
        let idx = rem % size;
        rem = rem / size;
        ia = ia + idx * params.a_strides[q][c];
        ib = ib + idx * params.b_strides[q][c];
    }
    out[i] = apply(op, a[ia], b[ib]);
}
