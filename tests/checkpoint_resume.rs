//! Crash safety of `graft train` and `graft transfer` checkpoints, from the outside: runs are
//! SIGKILLed at random moments and resumed with `--resume`, and the final model file must be
//! byte-identical to the one an uninterrupted run writes; a run that dies in the middle of a
//! checkpoint write must leave the previous checkpoint readable and resumable.
//!
//! The random kill times come from a seed printed by each test (set `GRAFT_KILL_SEED` to
//! replay one); `cargo test --test checkpoint_resume -- --nocapture` shows every trial.

use graft::nn::checkpoint::{Checkpoint, CRASH_HOOK_ENV};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

mod common;
use common::{demo_split, scratch_dir};

const SPEC: &str = "flatten,linear(784,16),relu,dropout(0.2),linear(16,2)";

/// `args`, then `--out out --checkpoint ckpt` and, when resuming, `--resume`.
fn with_outputs(args: &[&str], out: &Path, ckpt: &Path, resume: bool) -> Vec<String> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(["--out".into(), out.display().to_string(), "--checkpoint".into(), ckpt.display().to_string()]);
    if resume {
        a.push("--resume".into());
    }
    a
}

/// `graft train` with Adam and dropout (so optimiser moments and the dropout generator must
/// be restored, not just the weights), writing `out` and checkpointing to `ckpt`.
fn train_args(out: &Path, ckpt: &Path, resume: bool) -> Vec<String> {
    let a = [
        "train",
        "--spec",
        SPEC,
        "--train",
        &demo_split("train"),
        "--val",
        &demo_split("train"),
        "--epochs",
        "10",
        "--batch-size",
        "16",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--seed",
        "3",
    ];
    with_outputs(&a, out, ckpt, resume)
}

/// `graft transfer` from the demo's model A with two SGD-with-momentum phases: the first on
/// cached features of the frozen trunk, the second fine-tuning everything.
fn transfer_args(out: &Path, ckpt: &Path, resume: bool) -> Vec<String> {
    let a = [
        "transfer",
        "--pretrained",
        "data/demo/model_a.safetensors",
        "--head",
        "linear({in},2)",
        "--train",
        &demo_split("train"),
        "--val",
        &demo_split("train"),
        "--phase",
        "epochs=3,lr=0.01,momentum=0.9",
        "--phase",
        "epochs=3,lr=0.002,momentum=0.9,unfreeze=all",
        "--batch-size",
        "16",
        "--seed",
        "5",
    ];
    with_outputs(&a, out, ckpt, resume)
}

fn graft(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_graft"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("graft runs")
}

fn must_succeed(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A small xorshift generator for kill times, seeded from the clock unless `GRAFT_KILL_SEED`.
struct Xorshift(u64);

impl Xorshift {
    fn from_env_or_clock(test: &str) -> Self {
        let seed = std::env::var("GRAFT_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        println!("{test}: GRAFT_KILL_SEED={seed}");
        Xorshift(seed | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where a checkpoint stands, for the report: `phase P, epoch E` or `missing`.
fn position(ckpt: &Path) -> String {
    match Checkpoint::load(ckpt) {
        Err(_) if !ckpt.exists() => "no checkpoint yet".into(),
        Err(e) => panic!("a checkpoint left by a killed run does not load: {e}"),
        Ok(ck) => {
            let phase = ck.metadata.get("position/phase").map(|p| format!("phase {p}, ")).unwrap_or_default();
            let epochs =
                ck.metadata.get("fit/epochs_done").map_or("phase start".to_string(), |e| format!("{e} epochs"));
            format!("{phase}{epochs}")
        }
    }
}

/// Runs `args(out, ckpt, false)` uninterrupted, then `trials` runs killed with SIGKILL at
/// random times (up to two kills each) and resumed until they finish; every final model must
/// equal the uninterrupted one byte for byte.
fn kill_and_resume(name: &str, trials: usize, args: fn(&Path, &Path, bool) -> Vec<String>) {
    let dir = scratch_dir(name);
    let reference = dir.join("reference.safetensors");
    must_succeed(&graft(&args(&reference, &dir.join("reference.ckpt"), false), &[]), "the uninterrupted run");
    let want = std::fs::read(&reference).expect("reference model");
    // A second uninterrupted run, warm, times the kills (and shows runs are deterministic).
    let again = dir.join("again.safetensors");
    let start = Instant::now();
    must_succeed(&graft(&args(&again, &dir.join("again.ckpt"), false), &[]), "the second uninterrupted run");
    let full = start.elapsed();
    assert!(std::fs::read(&again).ok() == Some(want.clone()), "two uninterrupted runs differ");
    let mut rng = Xorshift::from_env_or_clock(name);
    let mut killed = 0;
    for trial in 0..trials {
        let (out, ckpt) = (dir.join(format!("t{trial}.safetensors")), dir.join(format!("t{trial}.ckpt")));
        let mut log = Vec::new();
        for kill in 0..2 {
            let resume = ckpt.exists();
            let mut child = Command::new(env!("CARGO_BIN_EXE_graft"))
                .args(args(&out, &ckpt, resume))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("graft starts");
            let delay = full.mul_f64(0.05 + 0.9 * rng.unit());
            std::thread::sleep(delay);
            let finished = child.try_wait().expect("wait").is_some();
            if !finished {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
            let _ = child.wait();
            log.push(format!(
                "kill {kill} after {:.0} ms: {}",
                delay.as_secs_f64() * 1e3,
                if finished { "had already finished".into() } else { position(&ckpt) }
            ));
            if finished {
                break;
            }
        }
        let resume = ckpt.exists();
        must_succeed(&graft(&args(&out, &ckpt, resume), &[]), "the resumed run");
        let got = std::fs::read(&out).expect("resumed model");
        println!(
            "{name} trial {trial}: {}; resumed → {}",
            log.join("; "),
            if got == want { "identical" } else { "DIFFERENT" }
        );
        assert!(
            got == want,
            "trial {trial}: the resumed model differs from the uninterrupted one ({})",
            log.join("; ")
        );
    }
    println!("{name}: {trials} trials, {killed} SIGKILLs, uninterrupted run {:.0} ms", full.as_secs_f64() * 1e3);
}

#[test]
fn train_killed_at_random_points_resumes_to_identical_weights() {
    kill_and_resume("kill-train", 8, train_args);
}

#[test]
fn transfer_killed_at_random_points_resumes_to_identical_weights() {
    kill_and_resume("kill-transfer", 8, transfer_args);
}

/// Dies (abort) half-way through checkpoint write `n`; the previous checkpoint must load and
/// be at the position written before, and resuming must give the uninterrupted result.
fn crash_during_write(name: &str, args: fn(&Path, &Path, bool) -> Vec<String>, n: usize, want_position: &str) {
    let dir = scratch_dir(name);
    let (reference, out, ckpt) = (dir.join("reference.safetensors"), dir.join("out.safetensors"), dir.join("run.ckpt"));
    must_succeed(&graft(&args(&reference, &dir.join("reference.ckpt"), false), &[]), "the uninterrupted run");
    let crashed = graft(&args(&out, &ckpt, false), &[(CRASH_HOOK_ENV, &n.to_string())]);
    assert!(!crashed.status.success() && !out.exists(), "the run should have died before writing its model");
    let temporaries: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert_eq!(temporaries.len(), 1, "the half-written temporary file is left beside the checkpoint");
    assert_eq!(position(&ckpt), want_position, "the previous checkpoint is intact");
    must_succeed(&graft(&args(&out, &ckpt, true), &[]), "the resumed run");
    assert!(std::fs::read(&out).ok() == std::fs::read(&reference).ok(), "resumed model differs");
    let left =
        std::fs::read_dir(&dir).expect("dir").flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
    assert_eq!(left.count(), 0, "resuming removes the dead writer's temporary file");
}

#[test]
fn a_crash_while_writing_a_checkpoint_leaves_the_previous_one() {
    crash_during_write("crash-train", train_args, 3, "2 epochs");
    // Transfer writes after epochs 1–3 of phase 0 (writes 1–3), after phase 0 (write 4), …
    crash_during_write("crash-transfer", transfer_args, 5, "phase 1, phase start");
}

#[test]
fn resuming_another_run_is_refused() {
    let dir = scratch_dir("resume-mismatch");
    let (out, ckpt) = (dir.join("m.safetensors"), dir.join("m.ckpt"));
    must_succeed(&graft(&train_args(&out, &ckpt, false), &[]), "the first run");
    let mut other = train_args(&out, &ckpt, true);
    let seed = other.iter().position(|a| a == "--seed").expect("seed") + 1;
    other[seed] = "4".into();
    let o = graft(&other, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("seed is \"3\" in the checkpoint but \"4\" now"), "{err}");
    let o = graft(&transfer_args(&out, &ckpt, true), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("command is \"train\" in the checkpoint"), "{err}");
    let o = graft(&train_args(&out, &dir.join("none.ckpt"), true), &[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no such checkpoint"));
}
