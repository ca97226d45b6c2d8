//! Differential tests: every GPU kernel against its CPU twin on random data and awkward shapes.
//! Without an adapter they print why and pass, unless `GRAFT_REQUIRE_GPU=1` says a GPU is expected.

mod basic;
mod bce;
mod context;
mod conv_pool;
mod gather;
mod matmul;

use super::{GpuBuffer, GpuContext};
use std::sync::Arc;

/// The shared context, or `None` (after printing why) when no adapter exists and none is required.
pub(super) fn ctx() -> Option<Arc<GpuContext>> {
    match GpuContext::shared() {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            if std::env::var("GRAFT_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GRAFT_REQUIRE_GPU=1 but no GPU is usable: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// A small deterministic generator (xorshift) so failures reproduce.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [lo, hi).
    pub(super) fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub(super) fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

pub(super) fn upload(ctx: &Arc<GpuContext>, data: &[f32]) -> GpuBuffer {
    GpuBuffer::from_slice(ctx, data).expect("upload")
}

/// Asserts `|got - want| <= abs + rel * |want|` elementwise.
#[track_caller]
pub(super) fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= abs + rel * w.abs() || (g.is_infinite() && g == w);
        assert!(ok, "{what}: element {i}: gpu {g} vs cpu {w} (abs {abs}, rel {rel})");
    }
}
