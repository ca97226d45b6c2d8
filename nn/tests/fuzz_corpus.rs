//! Replays the fuzzers' minimised corpora and every crash reproducer they found (`fuzz/corpus`,
//! `fuzz/artifacts`) through the same entry points the fuzz targets call. CI does not fuzz;
//! this keeps every input that ever mattered from regressing into a panic.

use std::path::Path;

type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 7] = [
    ("model_file", graft_nn::fuzzing::model_file),
    ("state_dict", graft_nn::fuzzing::state_dict),
    ("spec", graft_nn::fuzzing::spec),
    ("idx", graft_nn::fuzzing::idx),
    ("npy", graft_nn::fuzzing::npy),
    ("npz", graft_nn::fuzzing::npz),
    ("pth", graft_nn::fuzzing::pth),
];

#[test]
fn every_corpus_input_and_reproducer_returns_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (name, target) in TARGETS {
        let mut replayed = 0;
        for dir in [root.join("corpus").join(name), root.join("artifacts").join(name)] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let bytes = std::fs::read(entry.path()).expect("corpus files are readable");
                let _accepted = target(&bytes);
                replayed += 1;
            }
        }
        assert!(replayed > 0, "the {name} corpus is in fuzz/corpus/{name}");
        println!("{name}: replayed {replayed} inputs");
    }
}

#[test]
fn each_corpus_holds_valid_inputs_too() {
    // The corpora grew from valid files; if none is accepted any more, the parser has
    // regressed into refusing what it used to read.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in TARGETS {
        let accepted = std::fs::read_dir(corpus.join(name))
            .expect("corpus folder present")
            .flatten()
            .filter(|e| target(&std::fs::read(e.path()).expect("corpus files are readable")))
            .count();
        assert!(accepted > 0, "no input of the {name} corpus is accepted");
    }
}
