// Average pooling backward: each input pixel adds dy / (kh * kw) of every output whose window
// covers it, in (oy, ox) order. `covered` comes from pool_covering.wgsl,
// included before this file.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn avg_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    if (e >= input_pixels()) {
        return;
    }
    let c = covered(e);
    let div = f32(params.kh * params.kw);
    var acc = 0.0;
    for (var oy = c.ry.x; oy <= c.ry.y; oy = oy + 1u) {
        for (var ox = c.rx.x; ox <= c.rx.y; ox = ox + 1u) {
            acc = acc + dy[output_index(c.plane, oy, ox)] / div;
        }
    }
    dx[e] = acc;
}
