// Shared by the pooling backward shaders (included after common.wgsl; params as pool2d.wgsl):
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
    return p(0u) * p(1u) * p(2u);
}

fn covered(e: u32) -> Covered {
    let h = p(1u);
    let w = p(2u);
    let y = (e / w) % h;
    let x = e % w;
    let ry = covering(y, p(3u), p(5u), p(7u), p(9u));
    let rx = covering(x, p(4u), p(6u), p(8u), p(10u));
    return Covered(e / (h * w), y, x, ry, rx);
}

// The flat index of output (oy, ox) of `plane`.
fn output_index(plane: u32, oy: u32, ox: u32) -> u32 {
    return (plane * p(9u) + oy) * p(10u) + ox;
}
