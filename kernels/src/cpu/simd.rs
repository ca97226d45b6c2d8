//! The widest SIMD level the CPU kernels may use: what the CPU reports, capped by the
//! `GRAFT_MAX_CPU_ISA` environment variable (`avx512`, `avx2` or `baseline`), read once.
//!
//! The cap exists so one machine can run and measure the code paths of smaller ones: with
//! `GRAFT_MAX_CPU_ISA=avx2` an AVX-512 machine runs the AVX2 + FMA GEMM kernel and `exp`, as a
//! laptop without AVX-512 would (oneDNN's `ONEDNN_MAX_CPU_ISA` and MKL's
//! `MKL_ENABLE_INSTRUCTIONS` work the same way). A cap above what the CPU has changes nothing;
//! a value that is not one of the three is reported once on stderr and ignored.

use std::sync::OnceLock;

/// The environment variable that caps the SIMD level.
pub const MAX_CPU_ISA_VAR: &str = "GRAFT_MAX_CPU_ISA";

/// A SIMD level, narrowest first (so `min` caps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// No SIMD beyond the target's baseline (SSE2 on x86-64); portable Rust only.
    Baseline,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl Level {
    /// Parses a cap as written in [`MAX_CPU_ISA_VAR`], ignoring case and surrounding spaces.
    fn parse(name: &str) -> Option<Level> {
        match name.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx-512" | "avx512f" => Some(Level::Avx512),
            "avx2" => Some(Level::Avx2),
            "baseline" | "portable" | "none" => Some(Level::Baseline),
            _ => None,
        }
    }
}

/// The widest level this CPU supports.
fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

/// `detected` capped by `cap` (the variable's value, if set); the message explains an unknown
/// cap.
fn capped(detected: Level, cap: Option<&str>) -> (Level, Option<String>) {
    let Some(cap) = cap else { return (detected, None) };
    match Level::parse(cap) {
        Some(limit) => (detected.min(limit), None),
        None => (
            detected,
            Some(format!(
                "graft: ignoring {MAX_CPU_ISA_VAR}={cap:?}: expected avx512, avx2 or baseline; using {detected:?}"
            )),
        ),
    }
}

/// The level every CPU kernel dispatches on, decided once per process.
pub(crate) fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var(MAX_CPU_ISA_VAR).ok();
        let (level, warning) = capped(detected(), cap.as_deref());
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        level
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_only_lowers_the_level() {
        assert_eq!(capped(Level::Avx512, Some("avx2")), (Level::Avx2, None));
        assert_eq!(capped(Level::Avx512, Some(" AVX2 ")), (Level::Avx2, None));
        assert_eq!(capped(Level::Avx512, Some("baseline")), (Level::Baseline, None));
        assert_eq!(capped(Level::Avx2, Some("avx512")), (Level::Avx2, None));
        assert_eq!(capped(Level::Baseline, Some("avx2")), (Level::Baseline, None));
        assert_eq!(capped(Level::Avx512, None), (Level::Avx512, None));
    }

    #[test]
    fn an_unknown_cap_is_named_and_ignored() {
        let (level, warning) = capped(Level::Avx2, Some("sse9"));
        assert_eq!(level, Level::Avx2);
        let warning = warning.expect("an unknown cap is reported");
        assert!(warning.contains("GRAFT_MAX_CPU_ISA") && warning.contains("sse9") && warning.contains("avx2"));
    }

    #[test]
    fn the_level_is_one_the_cpu_has() {
        assert!(level() <= detected());
    }
}
