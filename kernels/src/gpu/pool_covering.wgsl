// Shared by the pooling backward shaders (included after common.wgsl and pool_params.wgsl):
// one thread per input pixel, which adds the outputs whose window covers it.

// Inclusive range [lo, hi] of outputs along one axis whose window covers input coordinate `v`
// (window `k`, stride `s`, padding `pad`, `n_out` outputs); lo > hi when none does.
fn covering(v: u32, k: u32, s: u32, pad: u32, n_out: u32) -> vec2<u32> {
    let t = v + pad;
    var lo = 0u;
    if (t + 1u > k) {
        lo = (t + 1u - k + s - 1u) / s;
    }
    let hi = min(t / s, n_out - 1u);
    return vec2<u32>(lo, hi);
}

// Input pixel `e` (one of `n * c * h * w`): its plane, row and column, and the inclusive ranges
// of output rows (`ry`) and columns (`rx`) whose window covers it.
struct Covered {
    plane: u32,
    y: u32,
    x: u32,
    ry: vec2<u32>,
    rx: vec2<u32>,
}

// The input pixels, one per thread.
fn input_pixels() -> u32 {
    return params.planes * params.h * params.w;
}

fn covered(e: u32) -> Covered {
    let h = params.h;
    let w = params.w;
    let y = (e / w) % h;
    let x = e % w;
    let ry = covering(y, params.kh, params.stride_h, params.pad_h, params.oh);
    let rx = covering(x, params.kw, params.stride_w, params.pad_w, params.ow);
    return Covered(e / (h * w), y, x, ry, rx);
}

// The flat index of output (oy, ox) of `plane`.
fn output_index(plane: u32, oy: u32, ox: u32) -> u32 {
    return (plane * params.oh + oy) * params.ow + ox;
}
