//! Peak memory of loading a large model: the file is memory-mapped and each tensor converted
//! and stored one at a time, so a load holds the model plus at most one more copy of the
//! weights (the mapped file), not the file read into memory plus every tensor converted.
//!
//! Each measurement runs in a fresh child process (this test binary re-run with
//! `GRAFT_LOAD_CHILD` set) that reports its peak resident set (`VmHWM` in
//! `/proc/self/status`). `GRAFT_LOAD_MB` sets the model size (default 200 MB);
//! `cargo test -p graft-nn --test load_memory -- --nocapture` prints the figures.
//!
//! Also here: a file that claims absurd sizes is refused before anything is allocated.

use graft_nn::model_file::{load_model, save_model};
use graft_nn::{parse_spec, Module};
use std::path::Path;
use std::process::Command;

const CHILD_ENV: &str = "GRAFT_LOAD_CHILD";

/// Peak and current resident set of this process, in MiB (Linux only).
fn rss_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Layers of the test model: a stack of square `linear` layers (a model is many tensors).
const LAYERS: usize = 8;

/// A stack of [`LAYERS`] `linear(n, n)` layers whose weights take about `mb` MB in all;
/// returns the spec, the bytes of all weights and of the largest tensor.
fn spec_of(mb: usize) -> (String, usize, usize) {
    let n = ((mb as f64 * 1e6 / 4.0 / LAYERS as f64).sqrt() as usize).max(1);
    let spec = vec![format!("linear({n},{n})"); LAYERS].join(",");
    (spec, LAYERS * (n * n + n) * 4, n * n * 4)
}

/// In the child: builds (mode `build`) or loads (mode `load`) the model and prints the peak.
fn child(mode: &str, path: &Path, spec: &str) {
    let model = match mode {
        "build" => parse_spec(spec, 0).expect("spec"),
        _ => load_model(path).expect("the model loads"),
    };
    let (peak, now) = rss_mib().unwrap_or((f64::NAN, f64::NAN));
    println!("RESULT {mode} peak_mib={peak:.1} rss_mib={now:.1} params={}", model.num_parameters());
}

fn measure(mode: &str, path: &Path, spec: &str) -> f64 {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "loading_holds_one_copy_of_the_weights_beside_the_model", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}|{}|{spec}", path.display()))
        .output()
        .expect("child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line =
        text.lines().find_map(|l| l.find("RESULT ").map(|i| &l[i..])).unwrap_or_else(|| panic!("child said: {text}"));
    println!("{line}");
    line.split_whitespace().find_map(|w| w.strip_prefix("peak_mib=")).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

#[test]
fn loading_holds_one_copy_of_the_weights_beside_the_model() {
    if let Ok(args) = std::env::var(CHILD_ENV) {
        let mut parts = args.splitn(3, '|');
        let (mode, path, spec) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        child(mode, Path::new(path), spec);
        return;
    }
    if rss_mib().is_none() {
        eprintln!("no /proc/self/status here: skipping the memory measurement");
        return;
    }
    let mb = std::env::var("GRAFT_LOAD_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let (spec, bytes, largest) = spec_of(mb);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-memory");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("big.safetensors");
    {
        let model = parse_spec(&spec, 1).expect("spec");
        save_model(&model, &path).expect("saved");
    }
    let file_mib = std::fs::metadata(&path).map(|m| m.len() as f64 / (1 << 20) as f64).unwrap_or(0.0);
    let weights_mib = bytes as f64 / (1 << 20) as f64;
    let largest_mib = largest as f64 / (1 << 20) as f64;
    let built = measure("build", &path, &spec);
    let loaded = measure("load", &path, &spec);
    let extra = loaded - built;
    println!(
        "model {spec}: file {file_mib:.1} MiB; peak RSS building it {built:.1} MiB, loading it {loaded:.1} MiB: \
         {extra:.1} MiB above the model = {:.2} × the weights, {:.2} × the largest tensor ({largest_mib:.1} MiB)",
        extra / weights_mib,
        extra / largest_mib
    );
    let _ = std::fs::remove_file(&path);
    // Reading the whole file and converting every tensor before storing any cost about twice
    // the weights above the model. Now: at most one copy of the weights in all, and in
    // practice about two tensors (one's mapped pages and its converted values).
    assert!(extra < weights_mib, "loading took {extra:.1} MiB above the model ({weights_mib:.1} MiB of weights)");
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-memory");
    std::fs::create_dir_all(&dir).expect("dir");
    // A tensor of 10^12 elements (4 TB) in a file of a few hundred bytes.
    let header = r#"{"0.weight":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 64]);
    let path = dir.join("absurd.safetensors");
    std::fs::write(&path, &bytes).expect("written");
    let small = parse_spec("linear(2,2)", 0).expect("spec");
    let e =
        graft_nn::load_state_dict(&small, &path, Default::default()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("absurd.safetensors") && e.contains("damaged"), "{e}");
    // A header claiming 2^60 bytes is refused before it is read.
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend(b"{}");
    std::fs::write(&path, &bytes).expect("written");
    let e =
        graft_nn::load_state_dict(&small, &path, Default::default()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("more than"), "{e}");
}
