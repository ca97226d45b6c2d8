//! The matrix products that `benches/matmul.rs` and `benches/matmul_paired.rs` measure, and the
//! libraries they run them with: graft, the `gemm` crate (with `x86-v4`) and `matrixmultiply`.

use graft::kernels::cpu::{matmul, MatmulSpec};

/// One product: `C[m,n] = op(A) · op(B)` with A stored `[k,m]` if `ta`, B stored `[n,k]` if `tb`.
#[derive(Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub ta: bool,
    pub tb: bool,
}

/// One library's `out = op(A) · op(B)` for a shape.
pub type GemmFn = fn(Shape, &[f32], &[f32], &mut [f32]);

pub fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

pub fn graft(s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
    let spec = MatmulSpec { trans_a: s.ta, trans_b: s.tb, ..MatmulSpec::new(s.m, s.n, s.k) };
    matmul(a, b, c, spec);
}

/// Row and column strides of `op(A)` / `op(B)` as stored.
fn strides(s: Shape) -> ((isize, isize), (isize, isize)) {
    let (m, n, k) = (s.m as isize, s.n as isize, s.k as isize);
    let a = if s.ta { (1, m) } else { (k, 1) };
    let b = if s.tb { (1, k) } else { (n, 1) };
    (a, b)
}

pub fn gemm_crate(s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
    let ((rsa, csa), (rsb, csb)) = strides(s);
    // SAFETY: the pointers and strides describe the `m×k`, `k×n` and `m×n` buffers exactly.
    unsafe {
        gemm::gemm(
            s.m,
            s.n,
            s.k,
            c.as_mut_ptr(),
            1,
            s.n as isize,
            false,
            a.as_ptr(),
            csa,
            rsa,
            b.as_ptr(),
            csb,
            rsb,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

pub fn matrixmultiply_crate(s: Shape, a: &[f32], b: &[f32], c: &mut [f32]) {
    let ((rsa, csa), (rsb, csb)) = strides(s);
    // SAFETY: the pointers and strides describe the `m×k`, `k×n` and `m×n` buffers exactly.
    unsafe {
        matrixmultiply::sgemm(
            s.m,
            s.k,
            s.n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            s.n as isize,
            1,
        );
    }
}

/// The three libraries, by name.
pub const LIBRARIES: [(&str, GemmFn); 3] =
    [("graft", graft), ("gemm", gemm_crate), ("matrixmultiply", matrixmultiply_crate)];

/// Square products of 64 … 2048.
pub fn square_shapes() -> Vec<Shape> {
    let names = ["64", "128", "256", "512", "1024", "2048"];
    [64, 128, 256, 512, 1024, 2048]
        .iter()
        .zip(names)
        .map(|(&n, name)| Shape { name, m: n, n, k: n, ta: false, tb: false })
        .collect()
}

/// The products of one SGD step of a 784-300-100-10 MLP at batch `b`: for each layer
/// `W [out, in]`, the forward `x·Wᵀ`, `dX = G·W` (not for the first layer, whose input needs no
/// gradient) and `dW = Gᵀ·X`.
pub fn training_shapes(b: usize) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for (i, (inp, out)) in [(784, 300), (300, 100), (100, 10)].into_iter().enumerate() {
        let name = |op: &str, m: usize, n: usize, k: usize| -> &'static str {
            Box::leak(format!("{op}_{m}x{n}x{k}").into_boxed_str())
        };
        shapes.push(Shape { name: name("fwd_xWt", b, out, inp), m: b, n: out, k: inp, ta: false, tb: true });
        if i > 0 {
            shapes.push(Shape { name: name("dx_GW", b, inp, out), m: b, n: inp, k: out, ta: false, tb: false });
        }
        shapes.push(Shape { name: name("dw_GtX", out, inp, b), m: out, n: inp, k: b, ta: true, tb: false });
    }
    shapes
}
