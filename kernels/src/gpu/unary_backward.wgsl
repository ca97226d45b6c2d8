// dx = dy * op'(x), from the forward input x and output y. Params: [n, op, scalar bits].

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

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

fn derivative(op: u32, xv: f32, yv: f32, c: f32) -> f32 {
    switch op {
        case 0u: { return -1.0; }
        case 1u: { return yv; }
        case 2u: { return 1.0 / xv; }
        case 3u: { return 0.5 / yv; }
        case 4u: { return sign(xv); }
        case 5u: { return select(0.0, 1.0, xv > 0.0); }
        case 6u: { return select(c, 1.0, xv > 0.0); }
        case 7u: { return yv * (1.0 - yv); }
        case 8u: { return 1.0 - yv * yv; }
        case 9u: {
            let cdf = 0.5 * (1.0 + erf_(xv * 0.70710678118654752));
            let pdf = exp(-0.5 * xv * xv) * 0.39894228040143268;
            return cdf + xv * pdf;
        }
        case 10u: { return -yv * yv; }
        case 11u: { return 2.0 * xv; }
        case 12u: { return c; }
        case 13u: { return 1.0; }
        default: {
            if (c == 0.0) {
                return 0.0;
            }
            return c * pow_c(xv, c - 1.0);
        }
    }
}

@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = thread_index(wid, nwg, lid);
    if (i >= p(0u)) {
        return;
    }
    dx[i] = dy[i] * derivative(p(1u), x[i], y[i], pf(2u));
}
