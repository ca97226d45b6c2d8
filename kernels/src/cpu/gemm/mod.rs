//! Packed, cache-blocked GEMM with a SIMD micro-kernel chosen once at run time (BLIS-style).
//!
//! For one `C (m×n) (=|+=) op(A) (m×k) · op(B) (k×n)` the loop nest is
//!
//! ```text
//! for pc in 0..k step KC              first depth block overwrites C (unless accumulating)
//!   for jc in 0..n step NC
//!     large m: pack the KC×NC block of B (stays in L2), then, in parallel over MR-row panels
//!              of A: pack the MR×KC panel (stays in L1) and sweep it across every NR-column
//!              panel of the B block with the micro-kernel.
//!     small m: pack all m×KC of A (tiny), then, in parallel over chunks of B panels: pack those
//!              panels (or, when B is row-major and the panel is full, read B in place) and run
//!              every A panel against them.
//! ```
//!
//! The small-m order is what training shapes need (a batch of 32 rows times a weight matrix):
//! splitting over M would leave one thread idle and pack all of B on each, so they split over N.
//! Products below [`PAR_MIN_MACS`] multiply-adds stay on the calling thread; many small
//! matrices in one batch run in parallel over the batch instead.

mod blocking;
mod kernel_avx2;
mod kernel_avx512;
mod kernel_portable;
mod pack;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::sync::OnceLock;

use rayon::prelude::*;

pub(crate) use blocking::Blocking;
use pack::MatRef;

use super::matmul::MatmulSpec;

/// One micro-kernel invocation: `C[..mr, ..nr] (=|+=) Apanel · Bpanel` over depth `kc`.
///
/// Contract (what makes [`MicroKernel::run`] sound): `a` points to `kc * MR` readable floats
/// (a packed A panel); `b` points to `kc` rows of `NR` readable floats at stride `rs_b`; `c`
/// points to an `mr × nr` window of writable floats with row stride `rs_c`, `mr <= MR`,
/// `nr <= NR`, and no other thread touches that window during the call.
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    pub b: *const f32,
    pub rs_b: usize,
    pub c: *mut f32,
    pub rs_c: usize,
    pub mr: usize,
    pub nr: usize,
    /// Add the product to C (true) or overwrite C with it (false).
    pub load_c: bool,
}

/// A register-blocked `MR × NR` micro-kernel.
pub(crate) trait MicroKernel {
    /// Rows of the register tile (rows of a packed A panel).
    const MR: usize;
    /// Columns of the register tile (columns of a packed B panel).
    const NR: usize;

    /// Runs one tile.
    ///
    /// # Safety
    /// `t` must satisfy the [`Tile`] contract, and the CPU must support the kernel's
    /// instruction set ([`Isa::is_available`]).
    unsafe fn run(t: &Tile);

    /// Packs an `MR`-row panel of A (see [`pack::pack_a`]); a method so the tile size is a
    /// constant inside the packing loops.
    fn pack_a(dst: &mut [f32], a: MatRef, i0: usize, rows: usize, p0: usize, kc: usize);

    /// Packs an `NR`-column panel of B (see [`pack::pack_b`]).
    fn pack_b(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize);
}

/// The micro-kernels this build has, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// `8 × 48` tile in zmm registers.
    Avx512,
    /// `6 × 16` tile in ymm registers with FMA.
    Avx2Fma,
    /// `4 × 8` tile in plain Rust.
    Portable,
}

impl Isa {
    /// Every kernel, best first.
    pub(crate) const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2Fma, Isa::Portable];

    /// Whether this CPU can run the kernel.
    pub(crate) fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best kernel this CPU runs, detected once.
    pub(crate) fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| Isa::ALL.into_iter().find(|i| i.is_available()).unwrap_or(Isa::Portable))
    }
}

/// How a product may use threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code, reason = "the forced modes exist for the tests"))]
pub(crate) enum Threads {
    /// Parallel when the product is large enough to pay for the hand-off.
    Auto,
    /// Always on the calling thread.
    Single,
    /// Always split inside each matrix (tests use this to cover the parallel paths).
    Parallel,
}

/// Everything that may be forced instead of chosen: the kernel, the block sizes, threading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub isa: Isa,
    pub blocking: Option<Blocking>,
    pub threads: Threads,
}

/// Below this many multiply-adds a product runs on the calling thread: about 15–20 µs of work on
/// one AVX-512 core, where splitting no longer beats the two fork-joins (each a few µs on an idle
/// machine, far more on a busy one) it costs.
pub(crate) const PAR_MIN_MACS: usize = 1 << 21;

/// Below this many floats a B block is packed on the calling thread.
const PAR_MIN_PACK: usize = 1 << 16;

/// Up to this many rows of `op(A)` a product splits over N and reads row-major B in place.
const SMALL_M: usize = 64;

/// `out (=|+=) op(A) · op(B)` as described by `spec`, with the best kernel for this CPU.
/// The caller has checked that the slices are long enough.
pub(crate) fn gemm(a: &[f32], b: &[f32], out: &mut [f32], spec: MatmulSpec) {
    gemm_with(a, b, out, spec, Config { isa: Isa::best(), blocking: None, threads: Threads::Auto });
}

/// [`gemm`] with the kernel, blocking and threading forced by `cfg`.
pub(crate) fn gemm_with(a: &[f32], b: &[f32], out: &mut [f32], spec: MatmulSpec, cfg: Config) {
    assert!(cfg.isa.is_available(), "matmul: the {:?} kernel is not supported by this CPU", cfg.isa);
    match cfg.isa {
        Isa::Avx512 => batched::<kernel_avx512::Avx512>(a, b, out, spec, cfg),
        Isa::Avx2Fma => batched::<kernel_avx2::Avx2Fma>(a, b, out, spec, cfg),
        Isa::Portable => batched::<kernel_portable::Portable>(a, b, out, spec, cfg),
    }
}

fn batched<K: MicroKernel>(a: &[f32], b: &[f32], out: &mut [f32], spec: MatmulSpec, cfg: Config) {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    let blk = cfg.blocking.unwrap_or_else(|| Blocking::for_kernel(K::MR, K::NR));
    let macs = m * n * k;
    let pool = rayon::current_num_threads() > 1;
    let (par_batch, par_inner) = match cfg.threads {
        Threads::Single => (false, false),
        Threads::Parallel => (false, true),
        Threads::Auto if macs >= PAR_MIN_MACS => (false, pool),
        Threads::Auto => (pool && batch > 1 && macs * batch >= PAR_MIN_MACS, false),
    };
    let one = |bi: usize, c: &mut [f32], par: bool| {
        let a = &a[bi * spec.a_batch_stride..];
        let b = &b[bi * spec.b_batch_stride..];
        gemm_one::<K>(a, b, c, &spec, &blk, par);
    };
    if par_batch {
        out.par_chunks_mut(m * n).enumerate().for_each(|(bi, c)| one(bi, c, false));
    } else {
        out.chunks_mut(m * n).enumerate().for_each(|(bi, c)| one(bi, c, par_inner));
    }
}

thread_local! {
    /// Packing buffers, reused across calls so a warm caller allocates nothing. Taken (not
    /// borrowed) for the duration of a call, so a nested call on the same thread — a rayon
    /// worker that steals another product while waiting — just gets a fresh buffer.
    static A_BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static B_BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A `len`-float window of `buf` starting on a 64-byte boundary (one zmm load never splits a
/// cache line), growing `buf` only when it is too small.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const PAD: usize = 64 / std::mem::size_of::<f32>();
    if buf.len() < len + PAD {
        buf.resize(len + PAD, 0.0);
    }
    let off = buf.as_ptr().align_offset(64).min(PAD);
    &mut buf[off..off + len]
}

/// The output matrix shared by the tasks of one product.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: every task writes a disjoint set of `Tile` windows of the output (distinct A panels or
// distinct B panels of one block), and the output outlives the parallel region that uses it.
unsafe impl Send for OutPtr {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Splits `0..len` into nearly equal blocks of at most `max` (a multiple of `align`), each a
/// multiple of `align` except the last, so no block is a sliver that wastes a pass.
fn blocks(len: usize, max: usize, align: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = len.div_ceil(max.max(1)).max(1);
    let size = len.div_ceil(count).next_multiple_of(align).max(1);
    (0..len).step_by(size).map(move |start| (start, size.min(len - start)))
}

/// One matrix of the batch.
fn gemm_one<K: MicroKernel>(a: &[f32], b: &[f32], c: &mut [f32], spec: &MatmulSpec, blk: &Blocking, par: bool) {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    if k == 0 {
        if !spec.accumulate {
            c.fill(0.0);
        }
        return;
    }
    let a = MatRef { data: a, ld: if spec.trans_a { m } else { k }, trans: spec.trans_a };
    let b = MatRef { data: b, ld: if spec.trans_b { k } else { n }, trans: spec.trans_b };
    let mut a_buf = A_BUF.take();
    let mut b_buf = B_BUF.take();
    let out = OutPtr(c.as_mut_ptr());
    let threads = if par { rayon::current_num_threads() } else { 1 };
    // Depth blocks a multiple of 16 floats keep every packed panel 64-byte aligned. The same
    // depth blocking for every m keeps each output row's summation order independent of how
    // many rows the product has, so a row computed alone or in a batch of 256 is bit-identical
    // (what makes transfer's frozen-feature cache reproduce the uncached run exactly). Twice
    // the L1-sized depth still keeps one A panel within L1 and halves the fork-joins of skinny
    // products.
    let depth_blocks = || blocks(k, 2 * blk.kc, 16);
    // A shallow depth block leaves room in L2 for a wider B block: keep its bytes constant, so a
    // small-k product (the `Gᵀ·X` weight gradient) is not cut into many short column blocks.
    let col_blocks = |kc: usize| blocks(n, (blk.nc * blk.kc / kc).next_multiple_of(K::NR), K::NR);
    let block = |pc: usize, kc: usize, (jc, nc): (usize, usize)| Block {
        a,
        b,
        out,
        m,
        n,
        pc,
        kc,
        jc,
        nc,
        load_c: spec.accumulate || pc > 0,
    };
    if m <= SMALL_M.max(K::MR) {
        // Each depth block costs a fork-join, which on a virtual machine can cost as much as a
        // skinny product's work.
        for (pc, kc) in depth_blocks() {
            for cols in col_blocks(kc) {
                block(pc, kc, cols).small_m::<K>(&mut a_buf, &mut b_buf, threads);
            }
        }
    } else {
        // BLIS order: each A block is packed once (during the first column block's sweep) and
        // reused for every column block; B blocks are packed once per row block, which is rare
        // because row blocks are large.
        for rows in blocks(m, blk.mc, K::MR) {
            for (pc, kc) in depth_blocks() {
                for (q, cols) in col_blocks(kc).enumerate() {
                    block(pc, kc, cols).large_m::<K>(&mut a_buf, &mut b_buf, rows, q == 0, par);
                }
            }
        }
    }
    A_BUF.set(a_buf);
    B_BUF.set(b_buf);
}

/// The work for one `(pc, jc)` block: depth `pc .. pc + kc`, columns `jc .. jc + nc`, all rows.
#[derive(Clone, Copy)]
struct Block<'a> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    out: OutPtr,
    m: usize,
    n: usize,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    load_c: bool,
}

impl Block<'_> {
    /// Columns of B panel `jr` of this block: its first column and how many are valid.
    fn panel_cols<K: MicroKernel>(&self, jr: usize) -> (usize, usize) {
        let j0 = self.jc + jr * K::NR;
        (j0, K::NR.min(self.jc + self.nc - j0))
    }

    /// Rows of A panel `ir` counted from `i_base`: its first row and how many are valid.
    fn panel_rows<K: MicroKernel>(&self, i_base: usize, ir: usize) -> (usize, usize) {
        let i0 = i_base + ir * K::MR;
        (i0, K::MR.min(self.m - i0))
    }

    /// Runs the kernel on A panel rows `i0 .. i0 + rows` against B columns `j0 .. j0 + cols`.
    fn tile<K: MicroKernel>(
        &self,
        a_panel: &[f32],
        (b, rs_b): (*const f32, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        debug_assert!(a_panel.len() >= self.kc * K::MR && rows <= K::MR && cols <= K::NR);
        let t = Tile {
            kc: self.kc,
            a: a_panel.as_ptr(),
            b,
            rs_b,
            c: self.out.at(i0 * self.n + j0),
            rs_c: self.n,
            mr: rows,
            nr: cols,
            load_c: self.load_c,
        };
        // SAFETY: `a_panel` holds a packed `MR × kc` panel; `b` is either a packed `kc × NR`
        // panel (`rs_b = NR`) or `kc` full rows of row-major B starting in bounds (`rs_b = n`,
        // see `b_panel`); the C window `rows × cols` at `(i0, j0)` lies inside the `m × n`
        // output, and the caller hands disjoint windows to concurrent tasks. `K` was checked
        // available in `gemm_with`.
        unsafe { K::run(&t) }
    }

    /// Whether B panel columns can be read in place: row-major B and a full panel.
    fn direct(&self, cols: usize, nr: usize) -> bool {
        !self.b.trans && cols == nr
    }

    /// Large m, rows `ic .. ic + mc`: pack the B block, then split the A panels across threads;
    /// each task packs its A panel when `pack_a` is set (first column block) and sweeps it
    /// across every B panel of the block.
    fn large_m<K: MicroKernel>(
        &self,
        a_buf: &mut Vec<f32>,
        b_buf: &mut Vec<f32>,
        (ic, mc): (usize, usize),
        pack_a: bool,
        par: bool,
    ) {
        let (kc, tiles_m, tiles_n) = (self.kc, mc.div_ceil(K::MR), self.nc.div_ceil(K::NR));
        let b_pack = aligned(b_buf, tiles_n * kc * K::NR);
        let pack_panel = |(jr, dst): (usize, &mut [f32])| {
            let (j0, cols) = self.panel_cols::<K>(jr);
            K::pack_b(dst, self.b, self.pc, kc, j0, cols);
        };
        // A small B block packs faster than a fork-join hands it out.
        if par && tiles_n > 1 && b_pack.len() >= PAR_MIN_PACK {
            b_pack.par_chunks_mut(kc * K::NR).enumerate().for_each(pack_panel);
        } else {
            b_pack.chunks_mut(kc * K::NR).enumerate().for_each(pack_panel);
        }
        let b_pack = &*b_pack;
        // The packed A block stays in `a_buf` between the column blocks of one depth block.
        let a_pack = aligned(a_buf, tiles_m * kc * K::MR);
        let task = |(ir, a_panel): (usize, &mut [f32])| {
            let rows = self.panel_rows::<K>(ic, ir);
            if pack_a {
                K::pack_a(a_panel, self.a, rows.0, rows.1, self.pc, kc);
            }
            for jr in 0..tiles_n {
                let b = (b_pack[jr * kc * K::NR..].as_ptr(), K::NR);
                self.tile::<K>(a_panel, b, rows, self.panel_cols::<K>(jr));
            }
        };
        if par {
            a_pack.par_chunks_mut(kc * K::MR).enumerate().for_each(task);
        } else {
            a_pack.chunks_mut(kc * K::MR).enumerate().for_each(task);
        }
    }

    /// Small m: pack all of A once, then split the B panels across threads; full panels of
    /// row-major B are read in place, the rest are packed by the task that uses them.
    fn small_m<K: MicroKernel>(&self, a_buf: &mut Vec<f32>, b_buf: &mut Vec<f32>, threads: usize) {
        let (kc, tiles_m, tiles_n) = (self.kc, self.m.div_ceil(K::MR), self.nc.div_ceil(K::NR));
        let a_pack = aligned(a_buf, tiles_m * kc * K::MR);
        for (ir, a_panel) in a_pack.chunks_mut(kc * K::MR).enumerate() {
            let (i0, rows) = self.panel_rows::<K>(0, ir);
            K::pack_a(a_panel, self.a, i0, rows, self.pc, kc);
        }
        let a_pack = &*a_pack;
        // A few chunks per thread so an uneven split (7 panels on 2 threads) balances.
        let chunks = tiles_n.min(if threads > 1 { 2 * threads } else { 1 });
        let per_chunk = tiles_n.div_ceil(chunks);
        let b_pack = aligned(b_buf, tiles_n * kc * K::NR);
        let task = |(ch, dst): (usize, &mut [f32])| {
            let panels = ch * per_chunk..ch * per_chunk + dst.len() / (kc * K::NR);
            for (q, jr) in panels.clone().enumerate() {
                let (j0, cols) = self.panel_cols::<K>(jr);
                if !self.direct(cols, K::NR) {
                    K::pack_b(&mut dst[q * kc * K::NR..], self.b, self.pc, kc, j0, cols);
                }
            }
            for ir in 0..tiles_m {
                let rows = self.panel_rows::<K>(0, ir);
                let a_panel = &a_pack[ir * kc * K::MR..];
                for (q, jr) in panels.clone().enumerate() {
                    let (j0, cols) = self.panel_cols::<K>(jr);
                    let b = if self.direct(cols, K::NR) {
                        (self.b.data[self.pc * self.b.ld + j0..].as_ptr(), self.b.ld)
                    } else {
                        (dst[q * kc * K::NR..].as_ptr(), K::NR)
                    };
                    self.tile::<K>(a_panel, b, rows, (j0, cols));
                }
            }
        };
        if chunks > 1 {
            b_pack.par_chunks_mut(per_chunk * kc * K::NR).enumerate().for_each(task);
        } else {
            b_pack.chunks_mut(per_chunk * kc * K::NR).enumerate().for_each(task);
        }
    }
}
