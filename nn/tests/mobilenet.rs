//! The real torchvision MobileNetV2 (`mobilenet_v2-b0353104.pth`, a legacy-format PyTorch
//! file): it loads strictly by name into graft's `mobilenet_v2` through the `.pth` reader, and
//! gives torchvision's logits.
//!
//! The file is not in the repository: `bash scripts/fetch-mobilenet.sh` puts it in
//! `models/mobilenet_v2` (or set `GRAFT_MOBILENET_PTH`). Without it these tests print how to
//! fetch it and pass, unless `GRAFT_REQUIRE_MOBILENET=1` (CI fetches it and sets that).
//!
//! Fixture in `tests/data/mobilenet` (made once offline by its `make_fixture.py`, torch 2.15,
//! torchvision 0.29.2): 8 Fashion-MNIST test images at 64 × 64, ImageNet-normalised, and
//! torchvision's eval-mode logits for them.

use graft_engine::{no_grad, Tensor};
use graft_nn::formats::read_npy;
use graft_nn::mobilenet::{mobilenet_v2, LAST_FEATURE_BLOCK};
use graft_nn::model_file::{inspect, load_state_dict, FileFormat, LoadOptions};
use graft_nn::Module;
use std::path::{Path, PathBuf};

fn weights() -> Option<PathBuf> {
    let path = std::env::var_os("GRAFT_MOBILENET_PTH").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/mobilenet_v2/mobilenet_v2-b0353104.pth")
    });
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "torchvision's MobileNetV2 weights are not at {} — run `bash scripts/fetch-mobilenet.sh` (or set \
         GRAFT_MOBILENET_PTH)",
        path.display()
    );
    if std::env::var("GRAFT_REQUIRE_MOBILENET").is_ok_and(|v| v == "1") {
        panic!("GRAFT_REQUIRE_MOBILENET=1 but {why}");
    }
    eprintln!("skipping: {why}");
    None
}

fn fixture(name: &str) -> Tensor {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mobilenet").join(name);
    let raw = read_npy(&path).expect("the fixture reads");
    Tensor::from_vec(raw.to_f32(), &raw.shape).expect("the fixture's shape")
}

#[test]
fn torchvisions_weights_load_strictly_and_give_its_logits() {
    let Some(path) = weights() else { return };
    let summary = inspect(&path).expect("the .pth inspects");
    assert_eq!(summary.format, FileFormat::PthLegacy, "torchvision's file is in the legacy layout");
    let model = mobilenet_v2(1000, 0);
    load_state_dict(&model, &path, LoadOptions::default()).expect("every tensor matches by name and shape");
    assert_eq!(model.name_of(LAST_FEATURE_BLOCK), "features.18");
    model.set_training(false);
    let (x, want) = (fixture("inputs.npy"), fixture("logits.npy"));
    let got = no_grad(|| model.forward(&x)).expect("forward");
    assert_eq!(got.shape(), want.shape());
    let (got, want) = (got.to_vec().unwrap(), want.to_vec().unwrap());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / scale).fold(0.0f32, f32::max);
    eprintln!("8 images: max |graft − torchvision| / max |logit| = {worst:.2e} (max |logit| {scale:.2})");
    assert!(worst < 1e-4, "logits differ by {worst:e} of the largest logit");
    let top1 = |v: &[f32]| -> Vec<usize> {
        v.chunks(1000).map(|r| r.iter().enumerate().fold(0, |b, (i, x)| if *x > r[b] { i } else { b })).collect()
    };
    assert_eq!(top1(&got), top1(&want), "the same classes win");
}

#[test]
fn the_model_is_named_and_specified_as_torchvisions() {
    let model = mobilenet_v2(10, 1);
    let names: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    for want in [
        "features.0.0.weight",
        "features.1.conv.0.0.weight",
        "features.2.conv.1.0.weight",
        "features.18.1.running_var",
        "classifier.1.weight",
    ] {
        assert!(names.iter().any(|n| n == want), "missing {want}");
    }
    let rebuilt = graft_nn::parse_spec(&model.spec(), 1).expect("the spec parses back");
    let shapes = |m: &dyn Module| m.state_dict().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect::<Vec<_>>();
    assert_eq!(shapes(&rebuilt), shapes(&model));
    // The spec's size bound counts exactly what the model holds (graft files are checked by it).
    let spec = graft_nn::spec::Spec::parse(&model.spec()).expect("parses");
    let held: usize = model.state_dict().iter().map(|(_, t)| t.numel()).sum();
    assert_eq!(spec.num_elements() as usize, held);
    let x = Tensor::zeros(&[2, 3, 64, 64]);
    model.set_training(false);
    assert_eq!(no_grad(|| model.forward(&x)).unwrap().shape(), &[2, 10]);
}

/// graft's preprocessing (the image demo's) gives the fixture's inputs from the raw Fashion-MNIST
/// test images, when the Debian package `dataset-fashion-mnist` is installed.
#[test]
fn the_preprocessing_reproduces_the_fixtures_inputs() {
    use graft_nn::data::image::{grey_to_imagenet_rgb, resize_bilinear};
    use graft_nn::data::{load_idx, LoadOptions};
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        eprintln!("skipping: no Fashion-MNIST in {} (apt-get install dataset-fashion-mnist)", dir.display());
        return;
    }
    let test =
        load_idx(dir.join("t10k-images-idx3-ubyte.gz"), dir.join("t10k-labels-idx1-ubyte.gz"), &LoadOptions::chw())
            .expect("Fashion-MNIST loads");
    let grey = test.x().narrow(0, 0, 8).unwrap();
    let x = grey_to_imagenet_rgb(&resize_bilinear(&grey, 64, 64).unwrap()).unwrap();
    let want = fixture("inputs.npy");
    let worst = x.to_vec().unwrap().iter().zip(want.to_vec().unwrap()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-5, "preprocessing differs from PyTorch's by {worst}");
}
