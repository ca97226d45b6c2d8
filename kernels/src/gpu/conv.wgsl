// im2col / col2im over a batch, with the columns of every image side by side:
// cols is [c*kh*kw, n*oh*ow].

// Mirrored by `ConvParams` in the Rust file that launches this shader.
struct ConvParams {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    oh: u32,
    ow: u32,
}

@group(0) @binding(0) var<uniform> params: ConvParams;

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = thread_index(wid, nwg, lid);
    let n = params.n;
    let c = params.c;
    let h = params.h;
    let w = params.w;
    let kh = params.kh;
    let kw = params.kw;
    let oh = params.oh;
    let ow = params.ow;
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
    let iy = i32(oy * params.stride_h + ki) - i32(params.pad_h);
    let ix = i32(ox * params.stride_w + kj) - i32(params.pad_w);
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
    let n = params.n;
    let c = params.c;
    let h = params.h;
    let w = params.w;
    let kh = params.kh;
    let kw = params.kw;
    let sh = params.stride_h;
    let sw = params.stride_w;
    let oh = params.oh;
    let ow = params.ow;
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
        let ty = i32(y + params.pad_h) - i32(ki);
        if (ty < 0 || u32(ty) % sh != 0u || u32(ty) / sh >= oh) {
            continue;
        }
        let oy = u32(ty) / sh;
        for (var kj = 0u; kj < kw; kj = kj + 1u) {
            let tx = i32(x + params.pad_w) - i32(kj);
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
