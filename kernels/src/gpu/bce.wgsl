// Binary cross-entropy on logits: each element's loss, and the gradients of the mean loss.
// Both entry points bind logits x (1), targets y (2) and their output (3); the backward also
// reads the upstream gradient g (4), a 1-element buffer, so no readback is needed.
// bce_backward's `which`: 0 for the logits' gradient, 1 for the targets'.

// Mirrored by `BceParams` in bce.rs.
struct BceParams {
    n: u32,
    which: u32,
    n_f32: f32,
    pad3: u32,
}

@group(0) @binding(0) var<uniform> params: BceParams;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;

// ln(1 + e) for e in [0, 1]. WGSL has no log1p: below 1e-4, `1 + e` would drop most of e's
// digits, so the series (error below e³/3) stands in.
fn log1p_small(e: f32) -> f32 {
    if (e < 1e-4) {
        return e * (1.0 - 0.5 * e);
    }
    return log(1.0 + e);
}

// The exponent is kept non-positive, so neither branch overflows.
fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    if (v >= 0.0) {
        return 1.0 / (1.0 + e);
    }
    return e / (1.0 + e);
}

// out[i] = max(x, 0) − x·y + ln(1 + e^(−|x|)).
@compute @workgroup_size(256)
fn bce_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= params.n) {
        return;
    }
    let v = x[i];
    out[i] = max(v, 0.0) - v * y[i] + log1p_small(exp(-abs(v)));
}

// out[i] = g·(σ(x) − y)/n (logits) or −g·x/n (targets).
@compute @workgroup_size(256)
fn bce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= params.n) {
        return;
    }
    let s = g[0] / params.n_f32;
    if (params.which == 0u) {
        out[i] = s * (sigmoid(x[i]) - y[i]);
    } else {
        out[i] = -(s * x[i]);
    }
}
