//! The `graft` command line as a user meets it: working runs, and one-line errors with a
//! non-zero exit code that leave nothing half-written.

use std::process::Output;

mod common;
use common::{demo_split, graft, scratch_dir};

/// Asserts a failed run: non-zero exit, one line on stderr containing every `needle`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    assert!(!out.status.success(), "the command should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or("");
    assert!(last.starts_with("error: "), "stderr ends with an error line: {err}");
    for n in needles {
        assert!(last.contains(n), "`{n}` missing from: {last}");
    }
}

#[test]
fn a_missing_file_is_named() {
    assert_one_line_error(&graft(&["inspect", "nope.safetensors"]), &["nope.safetensors", "no such file"]);
    let out = graft(&["eval", "--model", "data/demo/model_a.safetensors", "--data", "missing.npz"]);
    assert_one_line_error(&out, &["missing.npz"]);
}

#[test]
fn data_that_does_not_fit_the_model_names_the_layer_and_shapes() {
    let dir = scratch_dir("cli_shape");
    let model = dir.join("m.safetensors");
    let out = graft(&[
        "train",
        "--spec",
        "flatten,linear(100,2)",
        "--train",
        &demo_split("train"),
        "--epochs",
        "1",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["linear(100,2)", "784"]);
    assert!(!model.exists(), "nothing is written when training fails");
}

#[test]
fn a_head_that_does_not_fit_the_trunk_is_refused() {
    let dir = scratch_dir("cli_head");
    let out_path = dir.join("b.safetensors");
    let out = graft(&[
        "transfer",
        "--pretrained",
        "data/demo/model_a.safetensors",
        "--head",
        "linear(50,2)",
        "--train",
        &demo_split("train"),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["head", "does not fit", "[100]"]);
    assert!(!out_path.exists());
}

#[test]
fn a_mask_that_names_no_parameter_is_refused() {
    let dir = scratch_dir("cli_mask");
    let out_path = dir.join("b.safetensors");
    let out = graft(&[
        "transfer",
        "--pretrained",
        "data/demo/model_a.safetensors",
        "--head",
        "linear({in},2)",
        "--train",
        &demo_split("train"),
        "--phase",
        "epochs=1,lr=0.01,only=features.*",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["features.*", "selects no parameter"]);
    assert!(!out_path.exists());
}

#[test]
fn transfer_then_eval_predict_and_inspect_work_together() {
    let dir = scratch_dir("cli_flow");
    let (model, curves, preds) = (dir.join("b.safetensors"), dir.join("b.svg"), dir.join("p.npy"));
    let out = graft(&[
        "transfer",
        "--pretrained",
        "data/demo/model_a.safetensors",
        "--head",
        "linear({in},2)",
        "--train",
        &demo_split("train"),
        "--val",
        &demo_split("val"),
        "--test",
        &demo_split("test"),
        "--phase",
        "epochs=2,lr=0.01",
        "--phase",
        "epochs=2,lr=0.001,unfreeze=1",
        "--out",
        model.to_str().unwrap(),
        "--curves",
        curves.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("0.01") && table.contains("0.001") && table.contains("test accuracy"), "{table}");
    assert!(std::fs::read_to_string(&curves).unwrap().starts_with("<svg"));

    let eval = graft(&["eval", "--model", model.to_str().unwrap(), "--data", &demo_split("test")]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    assert!(String::from_utf8_lossy(&eval.stdout).contains("2000"));

    let predict = graft(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &demo_split("val"),
        "--out",
        preds.to_str().unwrap(),
    ]);
    assert!(predict.status.success(), "{}", String::from_utf8_lossy(&predict.stderr));
    let npy = graft::nn::formats::read_npy(&preds).unwrap();
    assert_eq!(npy.shape, vec![1000, 2]);

    let inspect = graft(&["inspect", model.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success() && text.contains("linear(100,2)") && text.contains("7.weight"), "{text}");
}

#[test]
fn a_pytorch_pth_state_dict_inspects_and_transfers_with_its_spec() {
    let file = "nn/tests/data/pth/cnn_zip.pth";
    let spec = "features=[conv2d(1,4,3,padding=1),batchnorm2d(4),relu,maxpool2d(2)],flatten,classifier=[linear(16,2)]";
    let inspect = graft(&["inspect", file]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    for part in ["PyTorch zip file, 9 tensors", "features.0", "conv2d(1,4,3)", "classifier.0", "linear(16,2)"] {
        assert!(text.contains(part), "`{part}` missing from:\n{text}");
    }
    let dir = scratch_dir("cli_pth");
    let out = dir.join("b.safetensors");
    let mut args = vec!["transfer", "--pretrained", "nn/tests/data/pth/cnn_legacy.pth", "--head", "linear({in},2)"];
    let train = demo_split("train");
    args.extend(["--train", &train, "--reuse", "1", "--phase", "epochs=1,lr=0.01", "--out", out.to_str().unwrap()]);
    let no_spec = graft(&args);
    assert_one_line_error(&no_spec, &["cnn_legacy.pth", "--pretrained-spec"]);
    args.extend(["--pretrained-spec", spec]);
    let run = graft(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(out.exists());
    let evil = graft(&["inspect", "nn/tests/data/pth/evil_os_system.pth"]);
    assert_one_line_error(&evil, &["refusing to load `posix.system`"]);
}
