//! Cache block sizes for the packed GEMM, derived from the cache hierarchy.
//!
//! The loop nest (see `mod.rs`) keeps one `MR × KC` micro-panel of A in L1 while it sweeps a
//! `KC × NC` block of packed B that lives in L2, so:
//! - `KC` is chosen so the A micro-panel fills about half of L1 (the other half is for the B
//!   rows streaming through);
//! - `NC` so the B block fills about half of L2;
//! - `MC` only bounds the packed-A buffer: A micro-panels are read once per B block, so the A
//!   block need not be cache resident; large blocks mean B is repacked rarely.

use std::sync::OnceLock;

/// Block sizes for one micro-kernel shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Depth of one packed block (the shared dimension).
    pub kc: usize,
    /// Columns of B packed per block; a multiple of the kernel's NR.
    pub nc: usize,
    /// Rows of A packed per block; a multiple of the kernel's MR.
    pub mc: usize,
    /// Largest address span, in floats, of a row-major B block that is read in place instead of
    /// packed (see `Block::large_m`).
    pub in_place_span: usize,
}

/// Data-cache sizes in bytes.
#[derive(Clone, Copy, Debug)]
struct Caches {
    l1: usize,
    l2: usize,
}

/// Reads the data/unified cache sizes of cpu0 once. Falls back to sizes typical of current
/// x86-64 and Arm cores when sysfs is missing (non-Linux, containers that hide it).
fn caches() -> Caches {
    static CACHES: OnceLock<Caches> = OnceLock::new();
    *CACHES.get_or_init(|| {
        let mut c = Caches { l1: 32 << 10, l2: 1 << 20 };
        for index in 0..8 {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else {
                continue;
            };
            let Some(bytes) = parse_size(size.trim()) else { continue };
            match (level.trim(), kind.trim()) {
                ("1", "Data" | "Unified") => c.l1 = bytes,
                ("2", "Data" | "Unified") => c.l2 = bytes,
                _ => {}
            }
        }
        // Guard against absurd values from odd virtual machines.
        c.l1 = c.l1.clamp(16 << 10, 256 << 10);
        c.l2 = c.l2.clamp(128 << 10, 8 << 20);
        c
    })
}

/// Parses sysfs sizes such as `48K`, `2048K`, `1M` or a plain byte count.
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<usize>().ok().map(|v| v * unit)
}

impl Blocking {
    /// Block sizes for a kernel with an `mr × nr` register tile on this machine.
    pub(crate) fn for_kernel(mr: usize, nr: usize) -> Blocking {
        let c = caches();
        Blocking::from_caches(c.l1, c.l2, mr, nr)
    }

    fn from_caches(l1: usize, l2: usize, mr: usize, nr: usize) -> Blocking {
        const F32: usize = std::mem::size_of::<f32>();
        // A micro-panel ≈ half of L1; a multiple of 16 keeps packed rows cache-line aligned.
        let kc = ((l1 / 2) / (mr * F32)).clamp(64, 512) / 16 * 16;
        // B block ≈ half of L2.
        let nc = (((l2 / 2) / (kc * F32)) / nr).max(1) * nr;
        // A block: large (it is streamed, and a B block is repacked once per A block), but
        // bounded so the packing buffer stays a few MiB.
        let mc = (2048 / mr).max(1) * mr;
        // A row-major B block spanning at most half of L2 is read in place: its rows are a short
        // stride apart, so it stays in L2 without set conflicts, and packing it would only copy it.
        let in_place_span = l2 / 4 / F32;
        Blocking { kc, nc, mc, in_place_span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_sizes() {
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn blocks_are_multiples_of_the_tile_and_fit_the_caches() {
        for (l1, l2) in [(32 << 10, 256 << 10), (48 << 10, 2 << 20), (16 << 10, 128 << 10)] {
            for (mr, nr) in [(8, 48), (6, 16), (4, 8)] {
                let b = Blocking::from_caches(l1, l2, mr, nr);
                assert!(b.kc >= 64 && b.kc.is_multiple_of(16), "{b:?}");
                assert!(b.nc >= nr && b.nc.is_multiple_of(nr), "{b:?}");
                assert!(b.mc >= mr && b.mc.is_multiple_of(mr), "{b:?}");
                assert!(b.kc * mr * 4 <= l1.max(64 * mr * 4), "{b:?}");
            }
        }
    }
}
