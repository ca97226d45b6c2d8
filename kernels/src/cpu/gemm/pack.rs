//! Packing of operands into the contiguous micro-panels the micro-kernels read.
//!
//! A is packed into `MR`-row panels stored column by column (`panel[p * MR + i]`), B into
//! `NR`-column panels stored row by row (`panel[p * NR + j]`), so the kernel reads both with unit
//! stride. Rows or columns past the matrix edge are zero, which lets the kernel always run a full
//! tile; only the valid part of the result is written back. Transposed operands are handled here,
//! by reading the source with swapped strides, so no transposed copy is ever made.

/// A read-only row-major matrix view: element `(r, c)` of the *logical* operand is
/// `data[r * ld + c]`, or `data[c * ld + r]` when `trans` is set.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    pub trans: bool,
}

/// Packs rows `i0 .. i0 + rows` (`rows <= MR`) and depth `p0 .. p0 + kc` of the logical A into
/// one `MR × kc` panel, `dst[p * MR + i]`, zero-padding rows `rows .. MR`.
pub(crate) fn pack_a<const MR: usize>(dst: &mut [f32], a: MatRef, i0: usize, rows: usize, p0: usize, kc: usize) {
    let dst = &mut dst[..kc * MR];
    if a.trans && rows == MR {
        // Stored `[k, m]`, a full panel: each depth step is one fixed-size copy, which compiles
        // to a few vector moves (a `memcpy` call per 8 floats cost more than the copy).
        for (p, d) in dst.chunks_exact_mut(MR).enumerate() {
            let src: &[f32; MR] = a.data[(p0 + p) * a.ld + i0..][..MR].try_into().expect("a slice of MR floats");
            let d: &mut [f32; MR] = d.try_into().expect("chunks_exact_mut gives MR floats");
            *d = *src;
        }
    } else if a.trans {
        // Stored `[k, m]`: each depth step is `rows` contiguous floats.
        for (p, d) in dst.chunks_exact_mut(MR).enumerate() {
            let src = &a.data[(p0 + p) * a.ld + i0..][..rows];
            d[..rows].copy_from_slice(src);
            d[rows..].fill(0.0);
        }
    } else {
        // Stored `[m, k]`: a transpose; walk each source row contiguously.
        for i in 0..rows {
            let src = &a.data[(i0 + i) * a.ld + p0..][..kc];
            for (p, &v) in src.iter().enumerate() {
                dst[p * MR + i] = v;
            }
        }
        if rows < MR {
            for d in dst.chunks_exact_mut(MR) {
                d[rows..].fill(0.0);
            }
        }
    }
}

/// Depth steps transposed at a time when B is stored `[n, k]`: 16 source floats are one cache
/// line, and 16 destination rows of a panel stay in L1 while all its columns are filled.
const TRANS_STEP: usize = 16;

/// Packs depth `p0 .. p0 + kc` and columns `j0 .. j0 + cols` (`cols <= NR`) of the logical B into
/// one `kc × NR` panel, `dst[p * NR + j]`, zero-padding columns `cols .. NR`.
pub(crate) fn pack_b<const NR: usize>(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
    let dst = &mut dst[..kc * NR];
    if b.trans {
        // Stored `[n, k]`: a transpose (blocked over depth, see `pack_b_trans_region`).
        pack_b_trans_region::<NR>(dst, b, p0, 0..kc, j0, 0..cols);
        zero_columns::<NR>(dst, cols);
    } else {
        // Stored `[k, n]`: each depth step is `cols` contiguous floats.
        for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
            let src = &b.data[(p0 + p) * b.ld + j0..][..cols];
            d[..cols].copy_from_slice(src);
            d[cols..].fill(0.0);
        }
    }
}

/// Packs depth `p0 .. p0 + kc` and columns `j0 .. j0 + cols` of the logical B into consecutive
/// `kc × NR` panels (the last one zero-padded), as [`pack_b`] on each panel would.
///
/// Row-major B is walked row by row: each depth step reads `cols` contiguous floats and deals
/// them out to the panels in fixed-size `NR` copies. Packing panel by panel instead reads `kc`
/// short runs a whole matrix row apart for every panel: a new page every run, which the
/// hardware prefetchers do not follow, and one `memcpy` call per 48 floats. Transposed B goes
/// through `pack_panel`, the kernel's own panel packer.
#[inline(always)]
pub(crate) fn pack_b_block<const NR: usize>(
    dst: &mut [f32],
    b: MatRef,
    (p0, kc): (usize, usize),
    (j0, cols): (usize, usize),
    pack_panel: fn(&mut [f32], MatRef, usize, usize, usize, usize),
) {
    let panels = cols.div_ceil(NR);
    let dst = &mut dst[..panels * kc * NR];
    if b.trans {
        for (jr, panel) in dst.chunks_exact_mut(kc * NR).enumerate() {
            let j = jr * NR;
            pack_panel(panel, b, p0, kc, j0 + j, NR.min(cols - j));
        }
        return;
    }
    let (full, edge) = (cols / NR, cols % NR);
    for p in 0..kc {
        let src = &b.data[(p0 + p) * b.ld + j0..][..cols];
        let (whole, rest) = src.split_at(full * NR);
        for (jr, run) in whole.chunks_exact(NR).enumerate() {
            dst[jr * kc * NR + p * NR..][..NR].copy_from_slice(run);
        }
        if edge > 0 {
            let d = &mut dst[full * kc * NR + p * NR..][..NR];
            d[..edge].copy_from_slice(rest);
            d[edge..].fill(0.0);
        }
    }
}

/// The transposed-B part of [`pack_b`] for panel rows `depth` and panel columns `cols`:
/// `dst[p * NR + j] = B[j0 + j][p0 + p]`.
///
/// Blocked over depth, [`TRANS_STEP`] rows at a time, so each source read is a cache line and
/// the destination rows being written stay in L1: a 64-wide panel's rows are 256 bytes apart,
/// and walking a whole column of a deep panel at that stride touches only a quarter of L1's
/// sets, so the destination rows would evict each other.
fn pack_b_trans_region<const NR: usize>(
    dst: &mut [f32],
    b: MatRef,
    p0: usize,
    depth: std::ops::Range<usize>,
    j0: usize,
    cols: std::ops::Range<usize>,
) {
    for pb in depth.clone().step_by(TRANS_STEP) {
        let steps = pb..(pb + TRANS_STEP).min(depth.end);
        for j in cols.clone() {
            let src = &b.data[(j0 + j) * b.ld + p0 + steps.start..][..steps.len()];
            for (p, &v) in steps.clone().zip(src) {
                dst[p * NR + j] = v;
            }
        }
    }
}

/// Zeroes columns `cols .. NR` of every row of a packed B panel.
fn zero_columns<const NR: usize>(dst: &mut [f32], cols: usize) {
    if cols < NR {
        for d in dst.chunks_exact_mut(NR) {
            d[cols..].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_every_layout_with_zero_padding() {
        // Logical 3×5 matrix v(r, c) = 10r + c, stored plain and transposed.
        let plain: Vec<f32> = (0..3).flat_map(|r| (0..5).map(move |c| (10 * r + c) as f32)).collect();
        let trans: Vec<f32> = (0..5).flat_map(|c| (0..3).map(move |r| (10 * r + c) as f32)).collect();
        for (data, ld, t) in [(&plain, 5, false), (&trans, 3, true)] {
            let m = MatRef { data, ld, trans: t };
            // A panel: rows 1..3 of 4, depth 1..4.
            let mut pa = vec![f32::NAN; 3 * 4];
            pack_a::<4>(&mut pa, m, 1, 2, 1, 3);
            assert_eq!(pa, [11.0, 21.0, 0.0, 0.0, 12.0, 22.0, 0.0, 0.0, 13.0, 23.0, 0.0, 0.0]);
            // B panel: the logical B is the same matrix as [k=3, n=5]; depth 0..2, columns 2..5 of 4.
            let mut pb = vec![f32::NAN; 2 * 4];
            pack_b::<4>(&mut pb, m, 0, 2, 2, 3);
            assert_eq!(pb, [2.0, 3.0, 4.0, 0.0, 12.0, 13.0, 14.0, 0.0]);
        }
    }

    #[test]
    fn block_packing_matches_panel_by_panel_packing() {
        let (k, n) = (9, 23);
        let plain: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
        let trans: Vec<f32> = (0..n).flat_map(|c| (0..k).map(move |r| (r * n + c) as f32)).collect();
        for (data, ld, t) in [(&plain, n, false), (&trans, k, true)] {
            let b = MatRef { data, ld, trans: t };
            for ((p0, kc), (j0, cols)) in [((0, 9), (0, 23)), ((2, 5), (3, 16)), ((1, 7), (5, 8)), ((0, 1), (22, 1))] {
                let panels = usize::div_ceil(cols, 4);
                let mut block = vec![f32::NAN; panels * kc * 4];
                pack_b_block::<4>(&mut block, b, (p0, kc), (j0, cols), pack_b::<4>);
                let mut each = vec![f32::NAN; panels * kc * 4];
                for (jr, panel) in each.chunks_exact_mut(kc * 4).enumerate() {
                    pack_b::<4>(panel, b, p0, kc, j0 + jr * 4, 4.min(cols - jr * 4));
                }
                assert_eq!(block, each, "trans {t} depth {p0}+{kc} columns {j0}+{cols}");
            }
        }
    }
}
