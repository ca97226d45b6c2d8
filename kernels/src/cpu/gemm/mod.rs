//! Packed, cache-blocked GEMM with a SIMD micro-kernel chosen once at run time (BLIS-style).
//!
//! For one `C (m×n) (=|+=) op(A) (m×k) · op(B) (k×n)` the loop nest is
//!
//! ```text
//! for pc in 0..k step KC              first depth block overwrites C (unless accumulating)
//!   for jc in 0..n step NC
//!     large m: pack the KC×NC block of B (stays in L2; read in place when row-major and
//!              compact), then for each MR-row panel of A: pack the MR×KC panel (stays in L1)
//!              and sweep it across every NR-column panel of the B block with the micro-kernel.
//!     small m: pack all m×KC of A (tiny), then for each B panel: pack it (or, when B is
//!              row-major and the panel is whole grains, read B in place) and run every A panel
//!              on it.
//! ```
//!
//! Kernels that can ([`MicroKernel::READS_A_IN_PLACE`], the AVX-512 one) read row-major A rows
//! in place instead of packing A: eight row streams of one panel fit L1 as well as the packed
//! panel does, and the kernel broadcasts one element per row and depth step, so the transposing
//! pack would be pure overhead.
//!
//! Threads split the product once, before any of this: each takes one cell of a grid of row and
//! column ranges, the grid whose busiest cell costs least (see `Share::split`), and runs the
//! whole loop nest on it alone with its own packing buffers. One hand-off per product, instead
//! of one per block, matters on a small machine: waking a thread costs a few microseconds on an
//! idle machine and far more on a busy one, as much as a training-shape product's whole work;
//! and the caller runs a share itself rather than sleeping (see `cpu::shares`). The price, each
//! thread packing its own copy of the shared operand's panels, is a sliver of the multiply-adds
//! it saves. A product that the grid would cut by rows only, with enough rows, runs as a team
//! instead (see `team`): the same loop nest, but with the rows of each block taken in small
//! groups by whichever thread is free, so a slowed thread does not hold the product up. With
//! an epilogue (`matmul_epilogue`), each tile gets the bias added right after
//! the micro-kernel stores it on the first depth block, and the ReLU on the last, while it is
//! in L1.
//!
//! Products below [`PAR_MIN_MACS`] multiply-adds stay on the calling thread; many small matrices
//! in one batch run in parallel over the batch instead.
mod blocking;
mod kernel_avx2;
mod kernel_avx512;
mod kernel_portable;
mod pack;
mod team;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::ops::Range;
use std::sync::OnceLock;

pub(crate) use blocking::Blocking;
use pack::MatRef;

use super::matmul::{Epilogue, MatmulSpec};
use super::simd::Level;
use super::worth_splitting;

/// One micro-kernel invocation: `C[..mr, ..nr] (=|+=) Apanel · Bpanel` over depth `kc`.
///
/// Contract (what makes [`MicroKernel::run`] sound): `a` points to `kc * MR` readable floats
/// (a packed A panel) when `lda` is `None`, or, when it is `Some(ld)` (only for kernels with
/// [`MicroKernel::READS_A_IN_PLACE`]), to `mr` rows of `kc` readable floats at stride `ld`
/// (row-major A read in place); `b` points to `kc` rows of `NR` readable floats at stride
/// `rs_b`; `c` points to an `mr × nr` window of writable floats with row stride `rs_c`, `mr <= MR`,
/// `nr <= NR`, and no other thread touches that window during the call. A wide tile
/// ([`MicroKernel::run_wide`]) has `lda` set, `mr <= WIDE.0`, `nr <= WIDE.1`, and `b` rows of
/// `WIDE.1` readable floats.
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    /// `None` for a packed A panel, else the row stride of A read in place.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, reason = "only the x86-64 kernels read A in place"))]
    pub lda: Option<usize>,
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
    /// Whether [`MicroKernel::run`] takes A rows in place (`Tile::lda`), so that a product
    /// with row-major A skips packing it.
    const READS_A_IN_PLACE: bool = false;
    /// The step in which a panel's cost grows: a kernel that skips whole vectors of a narrow
    /// edge panel costs the same for 1 or 16 columns, and less for 16 than for 48.
    const NR_GRAIN: usize = Self::NR;

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

    /// Packs `cols` columns of B into consecutive panels (see [`pack::pack_b_block`]).
    fn pack_b_block(dst: &mut [f32], b: MatRef, depth: (usize, usize), columns: (usize, usize));

    /// Rows and columns of the kernel's wide tile, `(0, 0)` for none. A small-m block of one
    /// panel and a sliver (more than `NR` columns, at most `WIDE.1`) runs as wide tiles instead
    /// of two half-empty ones. Its rows are read in place, so only kernels
    /// with [`MicroKernel::READS_A_IN_PLACE`] have one, and only row-major A uses it.
    const WIDE: (usize, usize) = (0, 0);

    /// Runs one wide tile.
    ///
    /// # Safety
    /// As [`MicroKernel::run`], with the wide tile's bounds (see [`Tile`]).
    unsafe fn run_wide(t: &Tile) {
        let _ = t;
        unreachable!("run_wide is only called for kernels with a wide tile (MicroKernel::WIDE)")
    }

    /// Packs a `WIDE.1`-column panel of B (see [`pack::pack_b`]).
    fn pack_b_wide(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
        let _ = (dst, b, p0, kc, j0, cols);
        unreachable!("pack_b_wide is only called for kernels with a wide tile (MicroKernel::WIDE)")
    }
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

    /// The SIMD level the kernel needs.
    fn level(self) -> Level {
        match self {
            Isa::Avx512 => Level::Avx512,
            Isa::Avx2Fma => Level::Avx2,
            Isa::Portable => Level::Baseline,
        }
    }

    /// The best kernel this CPU runs within the SIMD cap (see `cpu::simd`), chosen once.
    pub(crate) fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let cap = super::simd::level();
            Isa::ALL.into_iter().find(|i| i.level() <= cap && i.is_available()).unwrap_or(Isa::Portable)
        })
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
    /// Always run a large-m product as a team (see `team`) of at least two, however many
    /// threads the pool has: tests use this to cover the team, and with a one-thread pool the
    /// case where the caller runs every group alone.
    Team,
}

/// Everything that may be forced instead of chosen: the kernel, the block sizes, threading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub isa: Isa,
    pub blocking: Option<Blocking>,
    pub threads: Threads,
}

/// Below this many multiply-adds a product runs on the calling thread: a second thread packs its
/// own operands, and on so little work that packing eats what the split saves. Warm workers
/// (see `cpu::shares`) start a share without a wake-up, which is what lets the threshold sit
/// this low (measurements in BENCHMARKS.md).
pub(crate) const PAR_MIN_MACS: usize = 1 << 20;

/// Up to this many rows of `op(A)` a product splits over N and reads row-major B in place.
const SMALL_M: usize = 64;

/// `out (=|+=) op(A) · op(B)` as described by `spec`, then `epi` (see [`Epilogue`]), with the
/// best kernel for this CPU. The caller has
/// checked that the slices are long enough.
pub(crate) fn gemm(a: &[f32], b: &[f32], epi: Epilogue, out: &mut [f32], spec: MatmulSpec) {
    gemm_with(a, b, epi, out, spec, Config { isa: Isa::best(), blocking: None, threads: Threads::Auto });
}

/// [`gemm`] with the kernel, blocking and threading forced by `cfg`.
pub(crate) fn gemm_with(a: &[f32], b: &[f32], epi: Epilogue, out: &mut [f32], spec: MatmulSpec, cfg: Config) {
    assert!(cfg.isa.is_available(), "matmul: the {:?} kernel is not supported by this CPU", cfg.isa);
    match cfg.isa {
        Isa::Avx512 => batched::<kernel_avx512::Avx512>(a, b, epi, out, spec, cfg),
        Isa::Avx2Fma => batched::<kernel_avx2::Avx2Fma>(a, b, epi, out, spec, cfg),
        Isa::Portable => batched::<kernel_portable::Portable>(a, b, epi, out, spec, cfg),
    }
}

fn batched<K: MicroKernel>(a: &[f32], b: &[f32], epi: Epilogue, out: &mut [f32], spec: MatmulSpec, cfg: Config) {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    let blk = cfg.blocking.unwrap_or_else(|| Blocking::for_kernel(K::MR, K::NR));
    let macs = m * n * k;
    let (par_batch, par_inner) = match cfg.threads {
        Threads::Single => (false, false),
        Threads::Parallel | Threads::Team => (false, true),
        Threads::Auto if worth_splitting(macs, PAR_MIN_MACS) => (false, true),
        Threads::Auto => (batch > 1 && worth_splitting(macs * batch, PAR_MIN_MACS), false),
    };
    let one = |bi: usize, c: &mut [f32], par: bool| {
        let a = &a[bi * spec.a_batch_stride..];
        let b = &b[bi * spec.b_batch_stride..];
        gemm_one::<K>(a, b, epi, c, &spec, &blk, (par, cfg.threads == Threads::Team));
    };
    if par_batch {
        super::for_each_piece(out, m * n, true, &|bi, c| one(bi, c, false));
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

// SAFETY: each thread writes only the `Tile` windows of its own share, and shares are disjoint
// rectangles of the output (see `Share::split`); the output outlives the parallel region.
unsafe impl Send for OutPtr {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    fn offset(self, offset: usize) -> OutPtr {
        OutPtr(self.0.wrapping_add(offset))
    }
}

/// Splits `0..len` into nearly equal blocks of at most `max` (a multiple of `align`), each a
/// multiple of `align` except the last, so no block is a sliver that wastes a pass.
fn blocks(len: usize, max: usize, align: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = len.div_ceil(max.max(1)).max(1);
    let size = len.div_ceil(count).next_multiple_of(align).max(1);
    (0..len).step_by(size).map(move |start| (start, size.min(len - start)))
}

/// The relative cost of an `m × n` share per depth step: micro-kernel work (each tile costs
/// its rows padded to `MR` times its columns padded to whole grains) plus packing its rows of A
/// and columns of B, one float of which costs about what `PACK_WEIGHT` multiply-adds do.
fn share_cost<K: MicroKernel>(m: usize, n: usize) -> usize {
    const PACK_WEIGHT: usize = 16;
    let grains = (n / K::NR) * (K::NR / K::NR_GRAIN) + (n % K::NR).div_ceil(K::NR_GRAIN);
    m.div_ceil(K::MR) * K::MR * grains * K::NR_GRAIN + PACK_WEIGHT * (m + n)
}

/// One matrix of the batch: split across threads (see the module notes), then each share runs
/// the blocked loop nest alone.
fn gemm_one<K: MicroKernel>(
    a: &[f32],
    b: &[f32],
    epi: Epilogue,
    c: &mut [f32],
    spec: &MatmulSpec,
    blk: &Blocking,
    (par, force_team): (bool, bool),
) {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    if k == 0 {
        if !spec.accumulate {
            c.fill(0.0);
        }
        for row in c.chunks_exact_mut(n) {
            apply_epilogue(row, epi.bias, epi.relu);
        }
        return;
    }
    let whole = Share {
        a: MatRef { data: a, ld: if spec.trans_a { m } else { k }, trans: spec.trans_a },
        b: MatRef { data: b, ld: if spec.trans_b { k } else { n }, trans: spec.trans_b },
        epi,
        out: OutPtr(c.as_mut_ptr()),
        ldc: n,
        m,
        n,
    };
    let run = |s: &Share| {
        let mut a_buf = A_BUF.take();
        let mut b_buf = B_BUF.take();
        s.run::<K>(k, spec.accumulate, blk, &mut a_buf, &mut b_buf);
        A_BUF.set(a_buf);
        B_BUF.set(b_buf);
    };
    if !par {
        // No share list to allocate: a training step makes many products of a microsecond.
        return run(&whole);
    }
    let threads = rayon::current_num_threads();
    if whole.is_large_m::<K>() && (force_team || team::worth_it::<K>(whole, threads)) {
        let mut a_buf = A_BUF.take();
        team::run::<K>(whole, (k, spec.accumulate), blk, threads.max(2), &mut a_buf);
        A_BUF.set(a_buf);
        return;
    }
    let shares = whole.split::<K>(threads);
    super::shares::run_shares(shares.len(), &|i| run(&shares[i]));
}

/// A rectangle of the output and the operands it needs: rows `m` of A, columns `n` of B and of
/// the bias, already offset to the rectangle's corner, and C's row stride.
#[derive(Clone, Copy)]
struct Share<'a> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    epi: Epilogue<'a>,
    out: OutPtr,
    ldc: usize,
    m: usize,
    n: usize,
}

impl<'a> Share<'a> {
    /// Up to `threads` disjoint shares covering this one: a grid of row ranges (whole A panels)
    /// by column ranges (whole column grains, see [`MicroKernel::NR_GRAIN`]), choosing among
    /// the grids whose cells number `threads` the one whose busiest cell costs least.
    ///
    /// A cell's cost is its micro-kernel work plus its packing (every cell packs its own rows of
    /// A and columns of B). Balance matters more than it seems: 512 columns in 48-wide panels
    /// split 288/224, so one of two threads would do 56 % of the work, while 256/256 rows split
    /// evenly; and a 300-column layer splits 192/108 by panels but 160/140 by grains.
    fn split<K: MicroKernel>(self, threads: usize) -> Vec<Share<'a>> {
        let (rows, cols) = self.grid::<K>(threads);
        self.row_ranges::<K>(rows)
            .flat_map(|(i0, m)| self.col_ranges::<K>(cols).map(move |(j0, n)| self.rows(i0, m).columns(j0, n)))
            .collect()
    }

    /// The `rows × cols` grid of [`Share::split`].
    fn grid<K: MicroKernel>(self, threads: usize) -> (usize, usize) {
        let busiest = |rows: usize, cols: usize| -> usize {
            let row_max = self.row_ranges::<K>(rows).map(|(_, len)| len).max().unwrap_or(0);
            self.col_ranges::<K>(cols).map(|(_, len)| share_cost::<K>(row_max, len)).max().unwrap_or(0)
        };
        let grids = (1..=threads).rev().filter(|rows| threads.is_multiple_of(*rows)).map(|rows| (rows, threads / rows));
        grids.min_by_key(|&(rows, cols)| busiest(rows, cols)).unwrap_or((1, 1))
    }

    /// Row ranges (whole A panels) for `parts` shares.
    fn row_ranges<K: MicroKernel>(self, parts: usize) -> impl Iterator<Item = (usize, usize)> {
        blocks(self.m, self.m.div_ceil(K::MR).div_ceil(parts) * K::MR, K::MR)
    }

    /// Column ranges (whole grains, see [`MicroKernel::NR_GRAIN`]) for `parts` shares.
    fn col_ranges<K: MicroKernel>(self, parts: usize) -> impl Iterator<Item = (usize, usize)> {
        blocks(self.n, self.n.div_ceil(K::NR_GRAIN).div_ceil(parts) * K::NR_GRAIN, K::NR_GRAIN)
    }

    /// Columns `j0 .. j0 + cols` of this share.
    fn columns(self, j0: usize, cols: usize) -> Share<'a> {
        let off = if self.b.trans { j0 * self.b.ld } else { j0 };
        Share {
            b: MatRef { data: &self.b.data[off..], ..self.b },
            epi: Epilogue { bias: self.epi.bias.map(|bias| &bias[j0..]), ..self.epi },
            out: self.out.offset(j0),
            n: cols,
            ..self
        }
    }

    /// Rows `i0 .. i0 + rows` of this share.
    fn rows(self, i0: usize, rows: usize) -> Share<'a> {
        let off = if self.a.trans { i0 } else { i0 * self.a.ld };
        Share {
            a: MatRef { data: &self.a.data[off..], ..self.a },
            out: self.out.offset(i0 * self.ldc),
            m: rows,
            ..self
        }
    }

    /// The blocked loop nest over this share, on the calling thread.
    fn run<K: MicroKernel>(
        &self,
        k: usize,
        accumulate: bool,
        blk: &Blocking,
        a_buf: &mut Vec<f32>,
        b_buf: &mut Vec<f32>,
    ) {
        if !self.is_large_m::<K>() {
            for (pc, kc) in depth_blocks(k, blk) {
                for cols in self.col_blocks::<K>(kc, blk) {
                    self.block(pc, kc, cols, k, accumulate).small_m::<K>(a_buf, b_buf);
                }
            }
        } else {
            for LargeBlock { block, rows, first_col_block } in self.large_m_blocks::<K>(k, accumulate, *blk) {
                block.large_m::<K>(a_buf, b_buf, rows, first_col_block, blk.in_place_span);
            }
        }
    }

    /// Whether this share takes the large-m path (else the small-m one, see the module notes).
    fn is_large_m<K: MicroKernel>(&self) -> bool {
        self.m > SMALL_M.max(K::MR)
    }

    /// The large-m loop nest's blocks in the order they run.
    ///
    /// BLIS order: each A block is packed once (during the first column block's sweep) and
    /// reused for every column block; B blocks are packed once per row block, which is rare
    /// because row blocks are large.
    fn large_m_blocks<K: MicroKernel>(
        self,
        k: usize,
        accumulate: bool,
        blk: Blocking,
    ) -> impl Iterator<Item = LargeBlock<'a>> {
        blocks(self.m, blk.mc, K::MR).flat_map(move |rows| {
            depth_blocks(k, &blk).flat_map(move |(pc, kc)| {
                self.col_blocks::<K>(kc, &blk).enumerate().map(move |(q, cols)| LargeBlock {
                    block: self.block(pc, kc, cols, k, accumulate),
                    rows,
                    first_col_block: q == 0,
                })
            })
        })
    }

    /// Column blocks for depth blocks of `kc`. A shallow depth block leaves room in L2 for a
    /// wider B block: keep its bytes constant, so a small-k product (the `Gᵀ·X` weight gradient)
    /// is not cut into many short column blocks.
    fn col_blocks<K: MicroKernel>(&self, kc: usize, blk: &Blocking) -> impl Iterator<Item = (usize, usize)> {
        blocks(self.n, (blk.nc * blk.kc / kc).next_multiple_of(K::NR), K::NR)
    }

    /// The block of this share at depth `pc .. pc + kc` and columns `jc .. jc + nc`.
    fn block(self, pc: usize, kc: usize, (jc, nc): (usize, usize), k: usize, accumulate: bool) -> Block<'a> {
        Block { share: self, pc, kc, jc, nc, load_c: accumulate || pc > 0, last_depth: pc + kc == k }
    }
}

/// Depth blocks of a `k`-deep product. Multiples of 16 floats keep every packed panel 64-byte
/// aligned. The same depth blocking for every m (and every share or team task) keeps each
/// output's summation order independent of how many rows the product has and of the thread
/// split, so a row computed alone or in a batch of 256 is bit-identical (what makes transfer's
/// frozen-feature cache reproduce the uncached run exactly).
fn depth_blocks(k: usize, blk: &Blocking) -> impl Iterator<Item = (usize, usize)> {
    blocks(k, blk.kc, 16)
}

/// One block of the large-m loop nest: its rows of A `(ic, mc)`, and whether it is the first
/// column block of its depth block (the one that packs A).
#[derive(Clone, Copy)]
struct LargeBlock<'a> {
    block: Block<'a>,
    rows: (usize, usize),
    first_col_block: bool,
}

/// Adds `bias` (when given) to one output row, then applies the ReLU (when `relu`), which
/// keeps NaN as `UnaryOp::Relu` does.
#[inline]
fn apply_epilogue(row: &mut [f32], bias: Option<&[f32]>, relu: bool) {
    if let Some(bias) = bias {
        row.iter_mut().zip(bias).for_each(|(o, &b)| *o += b);
    }
    if relu {
        row.iter_mut().for_each(|o| *o = super::unary::relu(*o));
    }
}

/// The work for one `(pc, jc)` block of a share: depth `pc .. pc + kc`, columns `jc .. jc + nc`,
/// all rows.
#[derive(Clone, Copy)]
struct Block<'a> {
    share: Share<'a>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    load_c: bool,
    /// Whether this is the last depth block, after which each tile's sum is final.
    last_depth: bool,
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
        (i0, K::MR.min(self.share.m - i0))
    }

    /// Runs the kernel on A panel rows `i0 .. i0 + rows` against B columns `j0 .. j0 + cols`.
    fn tile<K: MicroKernel>(
        &self,
        (a, lda): (*const f32, Option<usize>),
        (b, rs_b): (*const f32, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        debug_assert!(rows <= K::MR && cols <= K::NR && (lda.is_none() || K::READS_A_IN_PLACE));
        // SAFETY: see `run_tile`.
        unsafe { self.run_tile(K::run, (a, lda), (b, rs_b), (i0, rows), (j0, cols)) }
    }

    /// [`Block::tile`] for a wide tile: rows of A read in place, `WIDE.0` at most, and a B panel
    /// of `WIDE.1` columns.
    fn wide_tile<K: MicroKernel>(
        &self,
        a: *const f32,
        lda: usize,
        (b, rs_b): (*const f32, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        debug_assert!(rows <= K::WIDE.0 && cols <= K::WIDE.1 && K::READS_A_IN_PLACE);
        // SAFETY: see `run_tile`.
        unsafe { self.run_tile(K::run_wide, (a, Some(lda)), (b, rs_b), (i0, rows), (j0, cols)) }
    }

    /// Runs `kernel` on one tile, then the epilogue.
    ///
    /// # Safety
    /// `kernel` must be the micro-kernel whose bounds the tile respects (see [`Tile`]).
    unsafe fn run_tile(
        &self,
        kernel: unsafe fn(&Tile),
        (a, lda): (*const f32, Option<usize>),
        (b, rs_b): (*const f32, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        let t = Tile {
            kc: self.kc,
            a,
            lda,
            b,
            rs_b,
            c: self.share.out.offset(i0 * self.share.ldc + j0).0,
            rs_c: self.share.ldc,
            mr: rows,
            nr: cols,
            load_c: self.load_c,
        };
        // SAFETY: `a` is either a packed `MR × kc` panel or, with `lda`, rows `i0 .. i0 + rows`
        // of row-major A from depth `pc` on; `b` is either a packed `kc × NR` (or `WIDE.1`) panel
        // (`rs_b` = its width) or `kc` full rows of row-major B starting in bounds (`rs_b = ld`); see
        // `small_m` and `large_m` for both. The C window `rows × cols` at `(i0, j0)` lies inside
        // the share's rectangle of the output, and shares on different threads are disjoint.
        // `K` was checked available in `gemm_with`; the tile's bounds fit `kernel` (caller).
        unsafe { kernel(&t) }
        // The epilogue runs while the tile is still in L1: the bias on the first depth block,
        // the ReLU once the sum is complete. One short pass over a cached tile instead of
        // another pass over the whole output.
        let bias = if self.pc == 0 { self.share.epi.bias.map(|bias| &bias[j0..j0 + cols]) } else { None };
        let relu = self.last_depth && self.share.epi.relu;
        if bias.is_some() || relu {
            for i in i0..i0 + rows {
                // SAFETY: row `i` of the tile's `rows × cols` window, which this thread owns (see
                // above) and the kernel has just finished writing.
                let row = unsafe { std::slice::from_raw_parts_mut(t.c.add((i - i0) * t.rs_c), cols) };
                apply_epilogue(row, bias, relu);
            }
        }
    }

    /// Whether B panel columns can be read in place: row-major B and whole grains (the kernel
    /// reads whole grains, see [`MicroKernel::NR_GRAIN`]).
    fn direct<K: MicroKernel>(&self, cols: usize) -> bool {
        !self.share.b.trans && cols.is_multiple_of(K::NR_GRAIN)
    }

    /// The B panels of this block as `(first column, columns)`: full `NR`-column panels, except
    /// that a last panel of a single grain is merged with the one before, and the pair split
    /// evenly by grains (64 columns of a 48-wide kernel run as 32 + 32, not 48 + 16): a one-grain
    /// panel keeps too few accumulators busy to hide the FMA latency. When the pair is the whole
    /// block and `wide` allows it, it runs as one wide panel instead (see [`MicroKernel::WIDE`]):
    /// one tile's loads of A then feed four column vectors instead of two. Only when the pair is
    /// the whole block: next to other panels the wide tile's gain was not reliable (see
    /// BENCHMARKS.md).
    fn balanced_panels<K: MicroKernel>(&self, wide: bool) -> impl Iterator<Item = (usize, usize)> + '_ {
        let count = self.nc.div_ceil(K::NR);
        let last = self.nc - (count - 1) * K::NR;
        let merge = count >= 2 && last <= K::NR_GRAIN && K::NR_GRAIN < K::NR;
        let wide = merge && wide && count == 2 && K::NR + last <= K::WIDE.1;
        // The pair's first panel, in whole grains: half of NR + last, rounded up.
        let first = (K::NR + last).div_ceil(2 * K::NR_GRAIN) * K::NR_GRAIN;
        (0..count).filter_map(move |jr| {
            let (j0, cols) = self.panel_cols::<K>(jr);
            match (merge, wide, count - jr) {
                (true, true, 2) => Some((j0, K::NR + last)),
                (true, true, 1) => None,
                (true, false, 2) => Some((j0, first)),
                (true, false, 1) => Some((j0 - K::NR + first, K::NR + last - first)),
                _ => Some((j0, cols)),
            }
        })
    }

    /// Large m, rows `ic .. ic + mc`: pack the B block, then sweep each A panel (packed when
    /// `pack_a` is set, i.e. during the first column block) across every B panel of the block.
    fn large_m<K: MicroKernel>(
        &self,
        a_buf: &mut Vec<f32>,
        b_buf: &mut Vec<f32>,
        (ic, mc): (usize, usize),
        pack_a: bool,
        in_place_span: usize,
    ) {
        let (tiles_m, tiles_n) = (mc.div_ceil(K::MR), self.nc.div_ceil(K::NR));
        let in_place = self.reads_b_in_place(in_place_span);
        let b_pack = aligned(b_buf, tiles_n * self.kc * K::NR);
        self.pack_b_panels::<K>(b_pack, in_place);
        // The packed A block stays in `a_buf` between the column blocks of one depth block.
        let a_pack = aligned(a_buf, if self.packs_a::<K>() { tiles_m * self.kc * K::MR } else { 0 });
        self.sweep::<K>(ic, 0..tiles_m, a_pack, pack_a, b_pack, in_place);
    }

    /// Whether the large-m path packs A panels: unless the kernel reads row-major A in place.
    fn packs_a<K: MicroKernel>(&self) -> bool {
        !K::READS_A_IN_PLACE || self.share.a.trans
    }

    /// Whether the large-m path reads this block's full B panels in place.
    ///
    /// Row-major B whose block spans little memory is not packed: its full panels are read in
    /// place (only the edge panel is packed). Packing such a block would copy it once to save
    /// nothing, since it stays in L2 either way; a block whose rows lie far apart is packed, as
    /// its rows would map onto few cache sets.
    fn reads_b_in_place(&self, in_place_span: usize) -> bool {
        !self.share.b.trans && self.kc * self.share.b.ld <= in_place_span
    }

    /// Packs this block's B panels into `dst`, or with `in_place` only the edge panel.
    fn pack_b_panels<K: MicroKernel>(&self, dst: &mut [f32], in_place: bool) {
        let (kc, tiles_n) = (self.kc, self.nc.div_ceil(K::NR));
        if !in_place {
            K::pack_b_block(dst, self.share.b, (self.pc, kc), (self.jc, self.nc));
        } else if !self.nc.is_multiple_of(K::NR) {
            let (j0, cols) = self.panel_cols::<K>(tiles_n - 1);
            K::pack_b(&mut dst[(tiles_n - 1) * kc * K::NR..], self.share.b, self.pc, kc, j0, cols);
        }
    }

    /// Runs A panels `panels` (counted from row `ic`) across every B panel of the block, `b_pack`
    /// holding the block's packed B panels (see [`Block::pack_b_panels`]). When A is packed,
    /// `a_pack` holds those A panels in order, packed here first when `pack_a` is set.
    fn sweep<K: MicroKernel>(
        &self,
        ic: usize,
        panels: Range<usize>,
        a_pack: &mut [f32],
        pack_a: bool,
        b_pack: &[f32],
        in_place: bool,
    ) {
        let (kc, tiles_n) = (self.kc, self.nc.div_ceil(K::NR));
        let b = self.share.b;
        let panel = |jr: usize| {
            let (j0, cols) = self.panel_cols::<K>(jr);
            if in_place && cols == K::NR {
                (b.data[self.pc * b.ld + j0..].as_ptr(), b.ld)
            } else {
                (b_pack[jr * kc * K::NR..].as_ptr(), K::NR)
            }
        };
        let a = self.share.a;
        if !self.packs_a::<K>() {
            for ir in panels {
                let rows = self.panel_rows::<K>(ic, ir);
                let a_rows = (a.data[rows.0 * a.ld + self.pc..].as_ptr(), Some(a.ld));
                for jr in 0..tiles_n {
                    self.tile::<K>(a_rows, panel(jr), rows, self.panel_cols::<K>(jr));
                }
            }
            return;
        }
        for (ir, a_panel) in panels.zip(a_pack.chunks_mut(kc * K::MR)) {
            let rows = self.panel_rows::<K>(ic, ir);
            if pack_a {
                K::pack_a(a_panel, a, rows.0, rows.1, self.pc, kc);
            }
            for jr in 0..tiles_n {
                self.tile::<K>((a_panel.as_ptr(), None), panel(jr), rows, self.panel_cols::<K>(jr));
            }
        }
    }

    /// Small m: pack all of A once (or, when the kernel can, read row-major A in place: with
    /// few rows, packing is a large share of the work and buys little reuse), then run every A
    /// panel on each B panel; full panels of row-major B are read in place, the rest are packed.
    fn small_m<K: MicroKernel>(&self, a_buf: &mut Vec<f32>, b_buf: &mut Vec<f32>) {
        let (kc, tiles_m) = (self.kc, self.share.m.div_ceil(K::MR));
        let a = self.share.a;
        let a_in_place = K::READS_A_IN_PLACE && !a.trans;
        let a_pack = aligned(a_buf, if a_in_place { 0 } else { tiles_m * kc * K::MR });
        for (ir, a_panel) in a_pack.chunks_mut(kc * K::MR).enumerate() {
            let (i0, rows) = self.panel_rows::<K>(0, ir);
            K::pack_a(a_panel, a, i0, rows, self.pc, kc);
        }
        let a_pack = &*a_pack;
        let a_panel = |ir: usize| {
            if a_in_place {
                (a.data[ir * K::MR * a.ld + self.pc..].as_ptr(), Some(a.ld))
            } else {
                (a_pack[ir * kc * K::MR..].as_ptr(), None)
            }
        };
        let b_panel = aligned(b_buf, kc * K::NR.max(K::WIDE.1));
        let b = self.share.b;
        for (j0, cols) in self.balanced_panels::<K>(a_in_place) {
            if cols > K::NR {
                // A wide panel: its own row grouping, rows read in place.
                let panel = if self.direct::<K>(cols) {
                    (b.data[self.pc * b.ld + j0..].as_ptr(), b.ld)
                } else {
                    K::pack_b_wide(b_panel, b, self.pc, kc, j0, cols);
                    (b_panel.as_ptr(), K::WIDE.1)
                };
                for i0 in (0..self.share.m).step_by(K::WIDE.0) {
                    let rows = (i0, K::WIDE.0.min(self.share.m - i0));
                    self.wide_tile::<K>(a.data[i0 * a.ld + self.pc..].as_ptr(), a.ld, panel, rows, (j0, cols));
                }
                continue;
            }
            let panel = if self.direct::<K>(cols) {
                (b.data[self.pc * b.ld + j0..].as_ptr(), b.ld)
            } else {
                K::pack_b(b_panel, b, self.pc, kc, j0, cols);
                (b_panel.as_ptr(), K::NR)
            };
            for ir in 0..tiles_m {
                let rows = self.panel_rows::<K>(0, ir);
                self.tile::<K>(a_panel(ir), panel, rows, (j0, cols));
            }
        }
    }
}
