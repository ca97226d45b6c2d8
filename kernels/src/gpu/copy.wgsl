// Strided copies.
// strided_copy params: [n, rank, offset, 0, shape[8], strides[8]].
// strided_add_into params: [n_write, n_reduce, rank, offset, shape[8], dst_strides[8], src_strides[8]].

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn strided_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= p(0u)) {
        return;
    }
    var rem = i;
    var off = p(2u);
    for (var d = p(1u); d > 0u; d = d - 1u) {
        let dim = p(4u + d - 1u);
        off = off + (rem % dim) * p(12u + d - 1u);
        rem = rem / dim;
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
    if (t >= p(0u)) {
        return;
    }
    let rank = p(2u);
    var rem = t;
    var d_off = p(3u);
    var s_base = 0u;
    for (var d = rank; d > 0u; d = d - 1u) {
        let dim = p(4u + d - 1u);
        let ds = p(12u + d - 1u);
        if (ds != 0u) {
            let idx = rem % dim;
            rem = rem / dim;
            d_off = d_off + idx * ds;
            s_base = s_base + idx * p(20u + d - 1u);
        }
    }
    var acc = dst[d_off];
    for (var r = 0u; r < p(1u); r = r + 1u) {
        var rr = r;
        var s_off = s_base;
        for (var d = rank; d > 0u; d = d - 1u) {
            if (p(12u + d - 1u) == 0u) {
                let dim = p(4u + d - 1u);
                s_off = s_off + (rr % dim) * p(20u + d - 1u);
                rr = rr / dim;
            }
        }
        acc = acc + src[s_off];
    }
    dst[d_off] = acc;
}
