// Deterministic scatter-add: dst[d] += Σ src[sources[k]] for k in starts[d]..starts[d + 1], one
// thread per destination element, sources in the order the host listed them (the CPU's order).

// Mirrored by `ScatterParams` in gather.rs.
struct ScatterParams {
    n_dst: u32,
    pad1: u32,
    pad2: u32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: ScatterParams;

@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read> sources: array<u32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let d = thread_index(wid, nwg, lid);
    if (d >= params.n_dst) {
        return;
    }
    let begin = starts[d];
    let end = starts[d + 1u];
    if (begin == end) {
        return;
    }
    var acc = dst[d];
    for (var k = begin; k < end; k = k + 1u) {
        acc = acc + src[sources[k]];
    }
    dst[d] = acc;
}
