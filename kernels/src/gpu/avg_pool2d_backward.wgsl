// Average pooling backward: each input pixel adds dy / (kh * kw) of every output whose window
// covers it, in (oy, ox) order. Params as pool2d.wgsl.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

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
fn avg_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    let ry = covering((e / w) % h, p(3u), p(5u), p(7u), oh);
    let rx = covering(e % w, p(4u), p(6u), p(8u), ow);
    let div = f32(p(3u) * p(4u));
    var acc = 0.0;
    for (var oy = ry.x; oy <= ry.y; oy = oy + 1u) {
        for (var ox = rx.x; ox <= rx.y; ox = ox + 1u) {
            acc = acc + dy[(plane * oh + oy) * ow + ox] / div;
        }
    }
    dx[e] = acc;
}
