// Elementwise unary ops and their derivatives. Params: [n, op, scalar bits]. Op codes follow
// `op_code` in unary.rs.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Numerical Recipes' erfc fit, as the CPU's `erf`.
fn erf_(v: f32) -> f32 {
    let z = abs(v);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * exp(poly);
    if (v >= 0.0) {
        return 1.0 - erfc;
    }
    return erfc - 1.0;
}

fn sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

fn apply(op: u32, v: f32, c: f32) -> f32 {
    switch op {
        case 0u: { return -v; }
        case 1u: { return exp(v); }
        case 2u: { return log(v); }
        case 3u: { return sqrt(v); }
        case 4u: { return abs(v); }
        case 5u: { return select(0.0, v, v > 0.0); }
        case 6u: { return select(c * v, v, v > 0.0); }
        case 7u: { return sigmoid(v); }
        // tanh saturates to ±1 in f32 past |v| = 10; clamping avoids inf/inf in some drivers.
        case 8u: { return tanh(clamp(v, -15.0, 15.0)); }
        case 9u: { return 0.5 * v * (1.0 + erf_(v * 0.70710678118654752)); }
        case 10u: { return 1.0 / v; }
        case 11u: { return v * v; }
        case 12u: { return v * c; }
        case 13u: { return v + c; }
        default: { return pow_c(v, c); }
    }
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= p(0u)) {
        return;
    }
    y[i] = apply(p(1u), x[i], pf(2u));
}
