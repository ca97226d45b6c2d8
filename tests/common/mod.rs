//! Helpers shared by the CLI integration tests.
#![allow(dead_code, reason = "each test crate that includes this module uses only some of its helpers")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `graft` binary from the repository root.
pub fn graft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("graft runs")
}

/// The shipped task-B split `split` as the CLI's `IMAGES,LABELS` argument.
pub fn demo_split(split: &str) -> String {
    format!("data/demo/taskb-{split}-images.idx.gz,data/demo/taskb-{split}-labels.idx.gz")
}

/// An empty scratch directory `name` under the test target directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The last line of a failed run's stderr, checked to be graft's one-line error.
pub fn last_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "the command should fail: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string();
    assert!(line.starts_with("error: "), "stderr ends with an error line: {err}");
    line
}
