// im2col / col2im over a batch, with the columns of every image side by side:
// cols is [c*kh*kw, n*oh*ow]. Params: [n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, oh, ow].

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let n = p(0u);
    let c = p(1u);
    let h = p(2u);
    let w = p(3u);
    let kh = p(4u);
    let kw = p(5u);
    let oh = p(10u);
    let ow = p(11u);
    let plane = oh * ow;
    let cols = n * plane;
    if (e >= c * kh * kw * cols) {
        return;
    }
    let row = e / cols;
    let col = e % cols;
    let img = col / plane;
    let q = col % plane;
    let oy = q / ow;
    let ox = q % ow;
    let ch = row / (kh * kw);
    let ki = (row / kw) % kh;
    let kj = row % kw;
    let iy = i32(oy * p(6u) + ki) - i32(p(8u));
    let ix = i32(ox * p(7u) + kj) - i32(p(9u));
    var v = 0.0;
    if (iy >= 0 && iy < i32(h) && ix >= 0 && ix < i32(w)) {
        v = src[((img * c + ch) * h + u32(iy)) * w + u32(ix)];
    }
    dst[e] = v;
}

// One thread per input pixel, adding the patches that cover it in (ki, kj) order.
@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let n = p(0u);
    let c = p(1u);
    let h = p(2u);
    let w = p(3u);
    let kh = p(4u);
    let kw = p(5u);
    let sh = p(6u);
    let sw = p(7u);
    let oh = p(10u);
    let ow = p(11u);
    if (e >= n * c * h * w) {
        return;
    }
    let x = e % w;
    let y = (e / w) % h;
    let ch = (e / (w * h)) % c;
    let img = e / (w * h * c);
    let plane = oh * ow;
    let cols = n * plane;
    var acc = 0.0;
    for (var ki = 0u; ki < kh; ki = ki + 1u) {
        let ty = i32(y + p(8u)) - i32(ki);
        if (ty < 0 || u32(ty) % sh != 0u || u32(ty) / sh >= oh) {
            continue;
        }
        let oy = u32(ty) / sh;
        for (var kj = 0u; kj < kw; kj = kj + 1u) {
            let tx = i32(x + p(9u)) - i32(kj);
            if (tx < 0 || u32(tx) % sw != 0u || u32(tx) / sw >= ow) {
                continue;
            }
            let ox = u32(tx) / sw;
            let row = (ch * kh + ki) * kw + kj;
            acc = acc + src[row * cols + img * plane + oy * ow + ox];
        }
    }
    dst[e] = acc;
}
