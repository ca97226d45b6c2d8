// Max pooling backward, one thread per input pixel adding the outputs whose window covers it
// and chose it, in (oy, ox) order, as the CPU does. `covered` comes from
// pool_covering.wgsl, included before this file.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    if (e >= input_pixels()) {
        return;
    }
    let c = covered(e);
    // Positions are saved within the plane, as f32.
    let me = f32(c.y * params.w + c.x);
    var acc = 0.0;
    for (var oy = c.ry.x; oy <= c.ry.y; oy = oy + 1u) {
        for (var ox = c.rx.x; ox <= c.rx.y; ox = ox + 1u) {
            let o = output_index(c.plane, oy, ox);
            if (indices[o] == me) {
                acc = acc + dy[o];
            }
        }
    }
    dx[e] = acc;
}
