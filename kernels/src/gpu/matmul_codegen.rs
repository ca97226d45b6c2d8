//! The WGSL source of the matmul kernel, generated per specialisation ([`Variant`]): tile shape,
//! transpose flags, vec4-ability of each operand and of the output, accumulation, and whether the
//! shared-memory tiles are double-buffered. Everything a runtime flag would branch on per element
//! is decided here instead, and the inner product over a K slice is written out unrolled.
//!
//! The kernel: 16×16 threads compute a BM×BN output tile (128×128 with a K slice of BK = 8, or
//! 64×64 with BK = 16); each thread owns (BM/16)×(BN/16) outputs (8×8 or 4×4) as vec4 registers,
//! in 4×4 blocks 64 rows / columns apart so that the 16 threads of a row read 16 consecutive vec4s
//! of a shared tile (no bank conflicts) and the rows of a warp read one vec4 each (a broadcast).
//! Both operands sit in workgroup memory k-major — A transposed, each k-row holding BM
//! consecutive rows of A — so a thread reads its rows as vec4s. An operand whose stored contiguous
//! dimension is k (A, Bᵀ) is scattered into the k-rows when staged, and its k-rows are padded by
//! one vec4 so that the scattered stores of neighbouring threads fall into different banks.
//!
//! Global loads go through registers one K slice ahead: the loads of slice t + 1 are issued
//! before the products of slice t and stored to shared memory after them, so their latency hides
//! behind the arithmetic. With two shared buffers (when the device's workgroup storage allows)
//! the store goes into the other buffer and one barrier per slice suffices; with one, two.
//!
//! Split-K: the z dimension can also cut K into ranges (`splits`, `k_chunk` in the parameters),
//! each workgroup writing its range's partial tile to its own slab of a scratch output that the
//! host then sums (`matmul.rs`); for products with too few output tiles to fill a GPU.
//!
//! Bounds: every global read is guarded (zero outside the matrix) and every output write too, so
//! partial tiles, partial K slices and any shape are handled by the same code; workgroup memory
//! indices are in range by construction. This is what lets the pipeline run without wgpu's
//! runtime checks (`Checks::Trusted`), and the differential tests cover every guard.

use std::fmt::Write;

/// Threads per side of the workgroup (16×16 = 256).
const THREADS: u32 = 16;

/// Output tile shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tile {
    /// 64×64 outputs, BK 16, 4×4 per thread: for grids too small to fill the device with 128-tiles.
    T64,
    /// 128×128 outputs, BK 8, 8×8 per thread.
    T128,
}

impl Tile {
    /// Rows (= columns) of the output tile.
    pub(crate) fn size(self) -> u32 {
        match self {
            Tile::T64 => 64,
            Tile::T128 => 128,
        }
    }

    /// Depth of one K slice.
    pub(crate) fn bk(self) -> u32 {
        match self {
            Tile::T64 => 16,
            Tile::T128 => 8,
        }
    }
}

/// One specialisation of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Variant {
    pub tile: Tile,
    pub trans_a: bool,
    pub trans_b: bool,
    /// A is read as vec4s: its stored contiguous dimension (k for A, m for Aᵀ) and its batch
    /// stride are multiples of 4, so every aligned vec4 is wholly inside or outside the matrix.
    pub a4: bool,
    /// B is read as vec4s (n for B, k for Bᵀ, and the batch stride multiples of 4).
    pub b4: bool,
    /// The output is written as vec4s (n a multiple of 4).
    pub c4: bool,
    /// `out +=` instead of `out =`.
    pub accumulate: bool,
    /// Two shared buffers per operand (one barrier per K slice instead of two).
    pub double_buffer: bool,
    /// z also enumerates K ranges, each written to its own slab of a scratch output.
    pub split_k: bool,
}

impl Variant {
    /// Bytes of workgroup memory the variant declares.
    pub(crate) fn workgroup_bytes(self) -> u32 {
        let (a_stride, b_stride) = self.smem_strides();
        self.stages() * self.tile.bk() * (a_stride + b_stride) * 16
    }

    /// A unique, readable name (the pipeline cache key and the shader's label).
    pub(crate) fn name(self) -> String {
        let flag = |on: bool, s: &str| if on { s.to_string() } else { String::new() };
        format!(
            "matmul{}{}{}{}{}{}{}{}{}",
            self.tile.size(),
            flag(self.trans_a, "_ta"),
            flag(self.trans_b, "_tb"),
            flag(self.a4, "_a4"),
            flag(self.b4, "_b4"),
            flag(self.c4, "_c4"),
            flag(self.accumulate, "_acc"),
            flag(self.double_buffer, "_db"),
            flag(self.split_k, "_sk"),
        )
    }

    fn stages(self) -> u32 {
        if self.double_buffer {
            2
        } else {
            1
        }
    }

    /// vec4s per k-row of the shared A and B tiles (one of padding for a scattered operand).
    fn smem_strides(self) -> (u32, u32) {
        let quads = self.tile.size() / 4;
        (quads + u32::from(!self.trans_a), quads + u32::from(self.trans_b))
    }
}

/// The entry point's name in every generated source.
pub(crate) const ENTRY: &str = "main";

/// The parameter struct at binding 0, mirrored by `MatmulParams` in `matmul.rs`.
const PARAMS: &str = "struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    batch_base: u32,
    splits: u32,
    k_chunk: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
";

/// The full WGSL source of `v`.
pub(crate) fn source(v: Variant) -> String {
    let bm = v.tile.size();
    let bk = v.tile.bk();
    let (a_stride, b_stride) = v.smem_strides();
    let vec = |on: bool| if on { "vec4<f32>" } else { "f32" };
    let mut s = String::new();
    let _ = writeln!(s, "// Generated by kernels/src/gpu/matmul_codegen.rs: {}.\n", v.name());
    s += PARAMS;
    let _ = writeln!(s, "@group(0) @binding(1) var<storage, read> a: array<{}>;", vec(v.a4));
    let _ = writeln!(s, "@group(0) @binding(2) var<storage, read> b: array<{}>;", vec(v.b4));
    let _ = writeln!(s, "@group(0) @binding(3) var<storage, read_write> out: array<{}>;\n", vec(v.c4));
    let a_words = bk * a_stride;
    let b_words = bk * b_stride;
    let _ = writeln!(s, "var<workgroup> a_tile: array<vec4<f32>, {}>;", v.stages() * a_words);
    let _ = writeln!(s, "var<workgroup> b_tile: array<vec4<f32>, {}>;\n", v.stages() * b_words);
    let slots = bm * bk / 4 / (THREADS * THREADS);
    s += &load_fn("load_a", v.trans_a, false, v.a4, bm, bk);
    s += &load_fn("load_b", v.trans_b, true, v.b4, bm, bk);
    s += &store_fn("store_a", "a_tile", !v.trans_a, a_stride, bm, bk);
    s += &store_fn("store_b", "b_tile", v.trans_b, b_stride, bm, bk);
    s += &main_fn(v, bm, bk, a_stride, b_stride, slots);
    s
}

/// `fn name(base, rc0, k0, k_end, li, r) -> vec4<f32>`: the `r`-th vec4 this thread stages of the
/// slice at `k0` of an operand (`rc0` its first tile row of A / column of B), zero outside the
/// matrix and from `k_end` (the end of this workgroup's K range) on.
///
/// An operand stored with k contiguous (A, Bᵀ: `k_contiguous`) is read along k: a tile row
/// (column) has BK/4 vec4s. Otherwise (Aᵀ, B) it is read along m / n: a k-row has BM/4.
fn load_fn(name: &str, trans: bool, is_b: bool, four: bool, bm: u32, bk: u32) -> String {
    // Stored layouts: A [m, k], Aᵀ [k, m], B [k, n], Bᵀ [n, k].
    let k_contiguous = trans == is_b;
    // Rows of A / columns of B, which is also the leading dimension of Aᵀ / B.
    let (buf, extent) = if is_b { ("b", "params.n") } else { ("a", "params.m") };
    let mut s = format!("fn {name}(base: u32, rc0: u32, k0: u32, k_end: u32, li: u32, r: u32) -> vec4<f32> {{\n");
    s += &format!("    let e = li + r * {}u;\n", THREADS * THREADS);
    if k_contiguous {
        let per_row = bk / 4;
        s += &format!("    let rc = rc0 + e / {per_row}u;\n    let kk = k0 + 4u * (e % {per_row}u);\n");
        s += &format!("    let at = base + rc * params.k + kk;\n    let inside = rc < {extent};\n");
        read_quad(&mut s, buf, four, "kk", "k_end");
    } else {
        let per_row = bm / 4;
        s += &format!("    let kk = k0 + e / {per_row}u;\n    let rc = rc0 + 4u * (e % {per_row}u);\n");
        s += &format!("    let at = base + kk * {extent} + rc;\n    let inside = kk < k_end;\n");
        read_quad(&mut s, buf, four, "rc", extent);
    }
    s + "}\n\n"
}

/// The body's read of four consecutive floats at `at` along the dimension whose index is `idx`
/// and extent `extent`: one vec4 load (the vec4 index is exact: `at` is a multiple of 4) or four
/// guarded scalar loads.
fn read_quad(s: &mut String, buf: &str, four: bool, idx: &str, extent: &str) {
    if four {
        *s += &format!("    if (inside && {idx} < {extent}) {{\n        return {buf}[at / 4u];\n    }}\n");
        *s += "    return vec4<f32>(0.0);\n";
    } else {
        *s += "    var v = vec4<f32>(0.0);\n    if (inside) {\n";
        for c in 0..4 {
            *s += &format!("        if ({idx} + {c}u < {extent}) {{ v[{c}] = {buf}[at + {c}u]; }}\n");
        }
        *s += "    }\n    return v;\n";
    }
}

/// `fn name(buf: u32, li: u32, r: u32, v: vec4<f32>)`: stores a vec4 from the matching load
/// into the shared tile at vec4 offset `buf`. `scatter`: the vec4 holds 4 k-values of one row
/// (column) and goes into 4 k-rows; otherwise it holds 4 rows (columns) at one k and is one vec4.
fn store_fn(name: &str, tile: &str, scatter: bool, stride: u32, bm: u32, bk: u32) -> String {
    let mut s = format!("fn {name}(buf: u32, li: u32, r: u32, v: vec4<f32>) {{\n");
    s += &format!("    let e = li + r * {}u;\n", THREADS * THREADS);
    if scatter {
        let per_row = bk / 4;
        s += &format!("    let rc = e / {per_row}u;\n    let k4 = 4u * (e % {per_row}u);\n");
        for c in 0..4 {
            s += &format!("    {tile}[buf + (k4 + {c}u) * {stride}u + rc / 4u][rc % 4u] = v[{c}];\n");
        }
    } else {
        let per_row = bm / 4;
        s += &format!("    {tile}[buf + (e / {per_row}u) * {stride}u + e % {per_row}u] = v;\n");
    }
    s + "}\n\n"
}

fn main_fn(v: Variant, bm: u32, bk: u32, a_stride: u32, b_stride: u32, slots: u32) -> String {
    let chunks = bm / 64; // 4×4 blocks per thread along each side
    let a_words = bk * a_stride;
    let b_words = bk * b_stride;
    let mut s = String::new();
    s += "@compute @workgroup_size(16, 16, 1)\n";
    s += "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,\n";
    s += "        @builtin(local_invocation_index) li: u32) {\n";
    if v.split_k {
        // z counts (batch entry, K range) pairs; each range's partial product goes to its own
        // [m, n] slab of the output (a scratch buffer the host sums). The host guarantees
        // splits >= 1 and that every range is non-empty.
        s += "    let split = wid.z % params.splits;\n";
        s += "    let batch = wid.z / params.splits + params.batch_base;\n";
        s += "    let out_base = (batch * params.splits + split) * params.m * params.n;\n";
        s += "    let k_begin = split * params.k_chunk;\n";
        s += "    let k_end = min(params.k, k_begin + params.k_chunk);\n";
    } else {
        // The unsplit kernel keeps its K range a constant and its z a batch entry (measured on
        // lavapipe: the general form cost 5 % at 512³ and 1024³).
        s += "    let batch = wid.z + params.batch_base;\n";
        s += "    let out_base = batch * params.m * params.n;\n";
        s += "    let k_begin = 0u;\n";
        s += "    let k_end = params.k;\n";
    }
    s += "    let a_base = batch * params.a_batch_stride;\n";
    s += "    let b_base = batch * params.b_batch_stride;\n";
    let _ = writeln!(s, "    let row0 = wid.y * {bm}u;\n    let col0 = wid.x * {bm}u;");
    let _ = writeln!(s, "    let tiles = (k_end - k_begin + {}u) / {bk}u;", bk - 1);
    for i in 0..chunks {
        for r in 0..4 {
            for j in 0..chunks {
                let _ = writeln!(s, "    var acc_{i}_{r}_{j} = vec4<f32>(0.0);");
            }
        }
    }
    // Slice 0 into buffer 0.
    for r in 0..slots {
        let _ = writeln!(s, "    var ra{r} = load_a(a_base, row0, k_begin, k_end, li, {r}u);");
        let _ = writeln!(s, "    var rb{r} = load_b(b_base, col0, k_begin, k_end, li, {r}u);");
    }
    for r in 0..slots {
        let _ = writeln!(s, "    store_a(0u, li, {r}u, ra{r});\n    store_b(0u, li, {r}u, rb{r});");
    }
    s += "    workgroupBarrier();\n";
    s += "    for (var t = 0u; t < tiles; t = t + 1u) {\n";
    if v.double_buffer {
        let _ = writeln!(s, "        let a_buf = (t % 2u) * {a_words}u;\n        let b_buf = (t % 2u) * {b_words}u;");
    } else {
        s += "        let a_buf = 0u;\n        let b_buf = 0u;\n";
    }
    s += "        let more = t + 1u < tiles;\n";
    s += "        if (more) {\n";
    let _ = writeln!(s, "            let k_next = k_begin + (t + 1u) * {bk}u;");
    for r in 0..slots {
        let _ = writeln!(s, "            ra{r} = load_a(a_base, row0, k_next, k_end, li, {r}u);");
        let _ = writeln!(s, "            rb{r} = load_b(b_base, col0, k_next, k_end, li, {r}u);");
    }
    s += "        }\n";
    // The slice's products, unrolled over k.
    for kk in 0..bk {
        for i in 0..chunks {
            let _ = writeln!(s, "        let a{kk}_{i} = a_tile[a_buf + {}u + lid.y];", kk * a_stride + i * 16);
        }
        for j in 0..chunks {
            let _ = writeln!(s, "        let b{kk}_{j} = b_tile[b_buf + {}u + lid.x];", kk * b_stride + j * 16);
        }
        for i in 0..chunks {
            for (r, lane) in ["x", "y", "z", "w"].iter().enumerate() {
                for j in 0..chunks {
                    let _ = writeln!(
                        s,
                        "        acc_{i}_{r}_{j} = fma(vec4<f32>(a{kk}_{i}.{lane}), b{kk}_{j}, acc_{i}_{r}_{j});"
                    );
                }
            }
        }
    }
    let store_next = |s: &mut String, buf_a: &str, buf_b: &str| {
        for r in 0..slots {
            let _ = writeln!(
                s,
                "            store_a({buf_a}, li, {r}u, ra{r});\n            store_b({buf_b}, li, {r}u, rb{r});"
            );
        }
    };
    if v.double_buffer {
        s += "        if (more) {\n";
        store_next(&mut s, &format!("{a_words}u - a_buf"), &format!("{b_words}u - b_buf"));
        s += "        }\n        workgroupBarrier();\n";
    } else {
        s += "        workgroupBarrier();\n        if (more) {\n";
        store_next(&mut s, "0u", "0u");
        s += "        }\n        workgroupBarrier();\n";
    }
    s += "    }\n";
    // Write the thread's blocks.
    for i in 0..chunks {
        for r in 0..4 {
            let _ = writeln!(s, "    let row_{i}_{r} = row0 + {}u + 4u * lid.y;", i * 64 + r);
            let _ = writeln!(s, "    if (row_{i}_{r} < params.m) {{");
            for j in 0..chunks {
                let _ = writeln!(s, "        let col_{j} = col0 + {}u + 4u * lid.x;", j * 64);
                let _ = writeln!(s, "        let o_{j} = out_base + row_{i}_{r} * params.n + col_{j};");
                let acc = format!("acc_{i}_{r}_{j}");
                if v.c4 {
                    let value = if v.accumulate { format!("out[o_{j} / 4u] + {acc}") } else { acc };
                    let _ = writeln!(s, "        if (col_{j} < params.n) {{ out[o_{j} / 4u] = {value}; }}");
                } else {
                    for c in 0..4 {
                        let value = if v.accumulate {
                            format!("out[o_{j} + {c}u] + {acc}[{c}]")
                        } else {
                            format!("{acc}[{c}]")
                        };
                        let _ =
                            writeln!(s, "        if (col_{j} + {c}u < params.n) {{ out[o_{j} + {c}u] = {value}; }}");
                    }
                }
            }
            s += "    }\n";
        }
    }
    s + "}\n"
}
