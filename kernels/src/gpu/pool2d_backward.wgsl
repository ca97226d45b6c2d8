// Pooling backwards, one thread per input pixel adding the outputs whose window covers it in
// (oy, ox) order, as the CPU does. Params as pool2d.wgsl.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// Inclusive range [lo, hi] of outputs along one axis whose window covers input coordinate `v`;
// lo > hi when none does.
fn covering(v: u32, k: u32, s: u32, pad: u32, n_out: u32) -> vec2<u32> {
    let t = v + pad;
    var lo = 0u;
    if (t + 1u > k) {
        lo = (t + 1u - k + s - 1u) / s;
    }
    let hi = min(t / s, n_out - 1u);
    return vec2<u32>(lo, hi);
}

@compute @workgroup_size(256)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let h = p(1u);
    let w = p(2u);
    let oh = p(9u);
    let ow = p(10u);
    if (e >= p(0u) * h * w) {
        return;
    }
    let plane = e / (h * w);
    let y = (e / w) % h;
    let x = e % w;
    let ry = covering(y, p(3u), p(5u), p(7u), oh);
    let rx = covering(x, p(4u), p(6u), p(8u), ow);
    let me = f32(y * w + x);
    var acc = 0.0;
    for (var oy = ry.x; oy <= ry.y; oy = oy + 1u) {
        for (var ox = rx.x; ox <= rx.y; ox = ox + 1u) {
            let o = (plane * oh + oy) * ow + ox;
            if (indices[o] == me) {
                acc = acc + dy[o];
            }
        }
    }
    dx[e] = acc;
}
