//! `graft text-transfer` on the real all-MiniLM-L6-v2 and SpamAssassin corpus (a small split),
//! and its refusals. The runs need `bash scripts/fetch-minilm.sh` and
//! `bash scripts/fetch-spam-assassin.sh`; without them they say so and pass, unless
//! `GRAFT_REQUIRE_MINILM=1` / `GRAFT_REQUIRE_SPAM=1` (CI fetches both).

use std::path::Path;

mod common;
use common::{graft, last_error_line, scratch_dir};

/// Whether the fetched model and corpus are there (after saying how to fetch what is not).
fn fetched() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ok = true;
    for (path, script, var) in [
        ("models/all-MiniLM-L6-v2/model.safetensors", "fetch-minilm.sh", "GRAFT_REQUIRE_MINILM"),
        ("data/spam-assassin/spam-1", "fetch-spam-assassin.sh", "GRAFT_REQUIRE_SPAM"),
    ] {
        if !root.join(path).exists() {
            let why = format!("{path} is missing — run `bash scripts/{script}`");
            if std::env::var(var).is_ok_and(|v| v == "1") {
                panic!("{var}=1 but {why}");
            }
            eprintln!("skipping: {why}");
            ok = false;
        }
    }
    ok
}

#[test]
fn a_missing_model_or_corpus_is_named_with_its_fetch_script() {
    let out = graft(&["text-transfer", "--model", "no/such/model"]);
    let e = last_error_line(&out);
    assert!(e.contains("no/such/model") && e.contains("fetch-minilm.sh"), "{e}");
    if !fetched() {
        return;
    }
    let e = last_error_line(&graft(&["text-transfer", "--data", "no/such/corpus"]));
    assert!(e.contains("no/such/corpus") && e.contains("fetch-spam-assassin.sh"), "{e}");
}

#[test]
fn bad_sizes_and_lengths_are_refused_naming_the_flag() {
    if !fetched() {
        return;
    }
    let e = last_error_line(&graft(&["text-transfer", "--sizes", "10,10"]));
    assert!(e.contains("--sizes") && e.contains("three"), "{e}");
    let e = last_error_line(&graft(&["text-transfer", "--max-len", "600"]));
    assert!(e.contains("--max-len 600") && e.contains("512"), "{e}");
    let e = last_error_line(&graft(&["text-transfer", "--unfreeze", "7"]));
    assert!(e.contains("--unfreeze 7") && e.contains("6 layers"), "{e}");
    let e = last_error_line(&graft(&["text-transfer", "--sizes", "5000,1000,1000"]));
    assert!(e.contains("6046"), "{e}");
}

#[test]
fn a_small_run_embeds_trains_both_phases_and_saves_a_loadable_model() {
    if !fetched() {
        return;
    }
    let dir = scratch_dir("cli_text");
    let out = graft(&[
        "text-transfer",
        "--sizes",
        "40,40,40",
        "--max-len",
        "24",
        "--head-epochs",
        "3",
        "--unfreeze",
        "1",
        "--finetune-epochs",
        "1",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("6046 messages, 1896 spam") && stdout.contains("embedded 120 messages"), "{stdout}");
    assert!(stdout.contains("MiniLM frozen + head") && stdout.contains("top 1 unfrozen"), "{stdout}");
    let model = dir.join("spam_minilm.safetensors");
    let inspect = graft(&["inspect", model.to_str().expect("utf-8 path")]);
    let listing = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success(), "{listing}");
    assert!(listing.contains("encoder.layer.5.output.dense.weight") && listing.contains("bert_layer(384"), "{listing}");
    assert!(dir.join("finetune_top.svg").is_file());
}
