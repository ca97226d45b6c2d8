// Max and average 2-D pooling over [planes, h, w].

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<f32>;

// Clipped window [y0, y1) × [x0, x1) of output (oy, ox).
fn window(oy: u32, ox: u32) -> vec4<u32> {
    let y0 = i32(oy * params.stride_h) - i32(params.pad_h);
    let x0 = i32(ox * params.stride_w) - i32(params.pad_w);
    let y1 = clamp(y0 + i32(params.kh), 0, i32(params.h));
    let x1 = clamp(x0 + i32(params.kw), 0, i32(params.w));
    return vec4<u32>(u32(max(y0, 0)), u32(y1), u32(max(x0, 0)), u32(x1));
}

@compute @workgroup_size(256)
fn max_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let w = params.w;
    let oh = params.oh;
    let ow = params.ow;
    if (e >= params.planes * oh * ow) {
        return;
    }
    let plane = e / (oh * ow);
    let oy = (e / ow) % oh;
    let ox = e % ow;
    let win = window(oy, ox);
    let base = plane * params.h * w;
    var best = -inf_f32();
    var best_i = 0u;
    var first = true;
    for (var y = win.x; y < win.y; y = y + 1u) {
        for (var xx = win.z; xx < win.w; xx = xx + 1u) {
            let v = x[base + y * w + xx];
            if (first || v > best) {
                best = v;
                best_i = y * w + xx;
                first = false;
            }
        }
    }
    out[e] = best;
    indices[e] = f32(best_i);
}

// Padding counts towards the divisor (count_include_pad).
@compute @workgroup_size(256)
fn avg_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let w = params.w;
    let oh = params.oh;
    let ow = params.ow;
    if (e >= params.planes * oh * ow) {
        return;
    }
    let plane = e / (oh * ow);
    let win = window((e / ow) % oh, e % ow);
    let base = plane * params.h * w;
    var sum = 0.0;
    for (var y = win.x; y < win.y; y = y + 1u) {
        var row = 0.0;
        for (var xx = win.z; xx < win.w; xx = xx + 1u) {
            row = row + x[base + y * w + xx];
        }
        sum = sum + row;
    }
    out[e] = sum / f32(params.kh * params.kw);
}
