// Prelude of every graft kernel but the generated matmul (each kernel's `Shader` source is this
// file followed by its own, joined with `concat!(include_str!(..))` or, for the unary shaders,
// built once at run time): helpers to rebuild a linear id from a dispatch spread over x, y and z,
// and NaN/inf/`pow_c` for the kernels' arithmetic. Each kernel declares its own parameter struct
// at binding 0, mirrored by a `#[repr(C)]` struct in the Rust file that launches it.

const WG: u32 = 256u;

// Linear workgroup index of a grid that may be spread over y and z.
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}

// Linear thread index of a one-dimensional launch of WG-thread workgroups.
fn thread_index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return group_index(wid, nwg) * WG + lid.x;
}

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn inf_f32() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

// `a ^ b` with the C (`powf`) conventions for negative bases and integer exponents, which WGSL's
// `pow` leaves undefined.
fn pow_c(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        return 1.0;
    }
    if (a == 0.0) {
        if (b > 0.0) {
            return 0.0;
        }
        return inf_f32();
    }
    if (a < 0.0) {
        if (fract(b) != 0.0) {
            return nan_f32();
        }
        let mag = pow(-a, b);
        if (fract(b * 0.5) != 0.0) {
            return -mag;
        }
        return mag;
    }
    return pow(a, b);
}

