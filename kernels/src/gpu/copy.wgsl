// Strided copies. Both entry points take `CopyParams` (`copy.rs`): for strided_copy `n` threads
// read `strides` (of the source) at `offset`; for strided_add_into `n` threads write the
// destination view (`strides`, at `offset`) and each sums `n_reduce` source elements
// (`src_strides`). `view_dim(d)` / `view_stride(d)` / `source_stride(d)` read the 8-dim arrays.

struct CopyParams {
    n: u32,
    n_reduce: u32,
    rank: u32,
    offset: u32,
    shape: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: CopyParams;

fn view_dim(d: u32) -> u32 {
    return params.shape[d / 4u][d % 4u];
}

fn view_stride(d: u32) -> u32 {
    return params.strides[d / 4u][d % 4u];
}

fn source_stride(d: u32) -> u32 {
    return params.src_strides[d / 4u][d % 4u];
}

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn strided_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= params.n) {
        return;
    }
    var rem = i;
    var off = params.offset;
    for (var d = params.rank; d > 0u; d = d - 1u) {
        let size = view_dim(d - 1u);
        off = off + (rem % size) * view_stride(d - 1u);
        rem = rem / size;
    }
    dst[i] = src[off];
}

// One thread per distinct destination element: the view's dims with a non-zero destination
// stride enumerate the threads; dims with stride 0 (broadcast) are summed in the thread, in source
// order, so overlapping broadcast views add up deterministically.
@compute @workgroup_size(256)
fn strided_add_into(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = thread_index(wid, nwg, lid);
    if (t >= params.n) {
        return;
    }
    let rank = params.rank;
    var rem = t;
    var d_off = params.offset;
    var s_base = 0u;
    for (var d = rank; d > 0u; d = d - 1u) {
        let size = view_dim(d - 1u);
        let ds = view_stride(d - 1u);
        if (ds != 0u) {
            let idx = rem % size;
            rem = rem / size;
            d_off = d_off + idx * ds;
            s_base = s_base + idx * source_stride(d - 1u);
        }
    }
    var acc = dst[d_off];
    for (var r = 0u; r < params.n_reduce; r = r + 1u) {
        var rr = r;
        var s_off = s_base;
        for (var d = rank; d > 0u; d = d - 1u) {
            if (view_stride(d - 1u) == 0u) {
                let size = view_dim(d - 1u);
                s_off = s_off + (rr % size) * source_stride(d - 1u);
                rr = rr / size;
            }
        }
        acc = acc + src[s_off];
    }
    dst[d_off] = acc;
}
