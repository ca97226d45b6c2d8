//! `graft image-transfer`: torchvision's ImageNet MobileNetV2 (its `.pth`) reused for
//! Fashion-MNIST.
//!
//! The images are resized (bilinear, as PyTorch), their grey copied to three channels and
//! ImageNet-normalised. The frozen `features` run once over every split (a progress bar per
//! split) and a new 10-way head trains on the cached pooled 1280-d features; then the head and
//! the top block(s) train together at a lower rate. `--demo` adds the baselines (graft's shipped
//! MLP, model A, fine-tuned; a small CNN trained from scratch; both on the same raw 28 × 28
//! training images) and a sweep over how many top blocks to unfreeze, selected on validation.

use super::model;
use super::svg::write_curves;
use super::transfer_report::{accuracy, baseline, curves, embed, sweep_unfrozen_units, train, Row, UnfreezeSweep};
use super::{CliResult, DeviceChoice};
use clap::Args;
use graft::engine::Rng;
use graft::nn::data::image::{grey_to_imagenet_rgb, resize_bilinear};
use graft::nn::data::{load_idx, Dataset, LoadOptions};
use graft::nn::mobilenet::{mobilenet_v2, FEATURES, LAST_FEATURE_BLOCK};
use graft::nn::model_file::{load_model, load_state_dict, LoadOptions as ModelLoadOptions};
use graft::nn::optim::AdamConfig;
use graft::nn::spec::parse_spec;
use graft::nn::{save_model, Sequential};
use graft::transfer::{clone_model, drop_top_units, graft_head, OptimizerSpec, Phase, SweepData, Trainable};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// torchvision's MobileNetV2 weights (`bash scripts/fetch-mobilenet.sh` fetches them).
    #[arg(long, default_value = "models/mobilenet_v2/mobilenet_v2-b0353104.pth")]
    weights: PathBuf,
    /// Folder with Fashion-MNIST's four IDX files (Debian package `dataset-fashion-mnist`).
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// Train and validation sizes (from the training split) and test size (from the test split).
    #[arg(long, value_delimiter = ',', default_value = "1000,500,1000", value_name = "TRAIN,VAL,TEST")]
    sizes: Vec<usize>,
    /// Side of the square images the network sees (Fashion-MNIST's 28 × 28 resized).
    #[arg(long, default_value_t = 96)]
    resolution: usize,
    /// Epochs and learning rate (plain SGD, as the sweep's phases) of the head on the frozen
    /// features.
    #[arg(long, default_value_t = 30)]
    head_epochs: usize,
    #[arg(long, default_value_t = 0.1)]
    head_lr: f32,
    /// Top feature blocks trained with the head in the fine-tuning phase.
    #[arg(long, default_value_t = 2)]
    unfreeze: usize,
    #[arg(long, default_value_t = 4)]
    finetune_epochs: usize,
    #[arg(long, default_value_t = 0.002)]
    finetune_lr: f32,
    /// Also train the baselines and sweep the number of unfrozen blocks.
    #[arg(long)]
    demo: bool,
    /// graft's shipped MLP (model A, trained on 8 Fashion-MNIST classes), the first baseline.
    #[arg(long, default_value = "data/demo/model_a.safetensors")]
    baseline_model: PathBuf,
    /// Numbers of top blocks the demo's sweep unfreezes.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3")]
    sweep_unfreeze: Vec<usize>,
    /// Fine-tuning learning rates the demo's sweep tries.
    #[arg(long, value_delimiter = ',', default_value = "0.002")]
    sweep_lrs: Vec<f32>,
    /// Where the fine-tuned model (.safetensors) and the learning curves (SVG) go.
    #[arg(long, default_value = "target/graft-image")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to compute: cpu, gpu, or auto (the GPU when one is available, else the CPU).
    #[arg(long, value_enum, ignore_case = true, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

/// One split, as 28 × 28 grey images (for the baselines) and as the network's input.
struct ImageSplit {
    raw: Dataset,
    rgb: Dataset,
}

/// Learning rates the baselines try, the best on validation kept.
const MLP_LRS: [f32; 3] = [0.01, 0.03, 0.1];
const CNN_LRS: [f32; 3] = [3e-4, 1e-3, 3e-3];
/// The from-scratch baseline: two conv-pool stages and a linear layer on the raw images.
const SMALL_CNN: &str =
    "conv2d(1,16,3,padding=1),relu,maxpool2d(2),conv2d(16,32,3,padding=1),relu,maxpool2d(2),flatten,linear(1568,10)";

fn idx(dir: &Path, split: &str) -> CliResult<Dataset> {
    let (x, y) = (dir.join(format!("{split}-images-idx3-ubyte.gz")), dir.join(format!("{split}-labels-idx1-ubyte.gz")));
    if !x.is_file() {
        return Err(format!(
            "{}: missing; install Fashion-MNIST (apt-get install dataset-fashion-mnist) or pass --data DIR",
            x.display()
        )
        .into());
    }
    Ok(load_idx(x, y, &LoadOptions::chw())?)
}

/// The images of `data` at positions `range` of `order`, raw and preprocessed to `side` pixels.
fn split(data: &Dataset, order: &[usize], range: std::ops::Range<usize>, side: usize) -> CliResult<ImageSplit> {
    let raw = data.subset(&order[range])?;
    let rgb = grey_to_imagenet_rgb(&resize_bilinear(raw.x(), side, side)?)?;
    let rgb = Dataset::new(rgb, raw.targets().clone())?;
    Ok(ImageSplit { raw, rgb })
}

fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    order
}

pub fn run(a: ImageArgs) -> CliResult<()> {
    let device = model::device(&a.device)?;
    let [train_n, val_n, test_n] = a.sizes[..] else {
        return Err(format!("--sizes takes three sizes, TRAIN,VAL,TEST; got {}", a.sizes.len()).into());
    };
    if !(32..=512).contains(&a.resolution) {
        return Err(
            format!("--resolution {}: MobileNetV2 takes 32..=512 pixels (it downsamples 32×)", a.resolution).into()
        );
    }
    if a.unfreeze > LAST_FEATURE_BLOCK + 1 {
        return Err(
            format!("--unfreeze {}: MobileNetV2 has {} feature blocks", a.unfreeze, LAST_FEATURE_BLOCK + 1).into()
        );
    }
    if train_n == 0 || val_n == 0 || test_n == 0 {
        return Err(format!("--sizes {train_n},{val_n},{test_n}: every split needs at least one image").into());
    }
    let (train_all, test_all) = (idx(&a.data, "train")?, idx(&a.data, "t10k")?);
    if train_n + val_n > train_all.len() || test_n > test_all.len() {
        return Err(format!(
            "--sizes {train_n},{val_n},{test_n}: Fashion-MNIST has {} training and {} test images",
            train_all.len(),
            test_all.len()
        )
        .into());
    }
    let mut rng = Rng::new(a.seed);
    let (train_order, test_order) = (shuffled(train_all.len(), &mut rng), shuffled(test_all.len(), &mut rng));
    let side = a.resolution;
    let to_device = |s: ImageSplit| -> CliResult<ImageSplit> {
        Ok(ImageSplit { raw: s.raw.to_device(&device)?, rgb: s.rgb.to_device(&device)? })
    };
    let train_s = to_device(split(&train_all, &train_order, 0..train_n, side)?)?;
    let val_s = to_device(split(&train_all, &train_order, train_n..train_n + val_n, side)?)?;
    let test_s = to_device(split(&test_all, &test_order, 0..test_n, side)?)?;

    let full = mobilenet_v2(1000, a.seed);
    load_state_dict(&full, &a.weights, ModelLoadOptions::default()).map_err(|e| {
        format!("{e} (fetch the weights with `bash scripts/fetch-mobilenet.sh`, or pass --weights FILE)")
    })?;
    // features.0 ..= features.18 and the global pooling: the pooled 1280-d features.
    let encoder = full.slice(..LAST_FEATURE_BLOCK + 2);
    graft::nn::move_to_device(&encoder, &device)?;
    println!(
        "encoder: {} (MobileNetV2 features, {} blocks, {FEATURES} pooled features, on {device})",
        a.weights.display(),
        LAST_FEATURE_BLOCK + 1
    );
    println!(
        "split (seed {}): {train_n} train, {val_n} validation (Fashion-MNIST training split), {test_n} test; \
         {side}×{side} RGB\n",
        a.seed
    );

    // 1. Frozen features: pool every split once, train a new head on the cached features.
    let started = Instant::now();
    let (train_f, val_f, test_f) = (
        embed(&encoder, &train_s.rgb, "train", "images")?,
        embed(&encoder, &val_s.rgb, "validation", "images")?,
        embed(&encoder, &test_s.rgb, "test", "images")?,
    );
    let embed_time = started.elapsed();
    let total = train_f.len() + val_f.len() + test_f.len();
    println!("computed the features of {total} images in {:.1} s", embed_time.as_secs_f64());
    let head = parse_spec(&format!("linear({FEATURES},10)"), a.seed)?;
    graft::nn::move_to_device(&head, &device)?;
    let head_phase = Phase {
        name: "head on frozen features".into(),
        trainable: Trainable::All,
        optimizer: OptimizerSpec::sgd(a.head_lr),
        epochs: a.head_epochs,
    };
    let r_head = train(&head, vec![head_phase], &train_f, &val_f, a.seed)?;
    let mut rows = vec![Row {
        name: format!("MobileNetV2 frozen + head ({} ep @ {})", a.head_epochs, a.head_lr),
        val: accuracy(&head, &val_f)?,
        test: accuracy(&head, &test_f)?,
        time: r_head.wall_time() + embed_time.mul_f64(train_f.len() as f64 / total as f64),
    }];
    let mut all_curves = vec![("head_frozen_features".to_string(), curves(&r_head))];

    // 2. Fine-tune: the trained head on the features, the top block(s) unfrozen at a lower rate.
    let model = graft_head(&clone_model(&encoder)?, &head, &[3, side, side])?;
    let phase = Phase {
        name: format!("head + top {}", a.unfreeze),
        trainable: Trainable::HeadAndTopUnits { head_start: encoder.len(), k: a.unfreeze },
        optimizer: OptimizerSpec::sgd(a.finetune_lr),
        epochs: a.finetune_epochs,
    };
    let r_ft = train(&model, vec![phase], &train_s.rgb, &val_s.rgb, a.seed)?;
    rows.push(Row {
        name: format!("... then top {} blocks unfrozen ({} ep @ {})", a.unfreeze, a.finetune_epochs, a.finetune_lr),
        val: accuracy(&model, &val_s.rgb)?,
        test: accuracy(&model, &test_s.rgb)?,
        time: rows[0].time + r_ft.wall_time(),
    });
    all_curves.push(("finetune_top".to_string(), [curves(&r_head), curves(&r_ft)].concat()));
    std::fs::create_dir_all(&a.out)?;
    let model_path = a.out.join("fashion_mobilenet_v2.safetensors");
    save_model(&model, &model_path)?;

    if a.demo {
        baselines(&a, [&train_s, &val_s, &test_s], &mut rows, &mut all_curves)?;
        sweep_blocks(&a, &encoder, [&train_s, &val_s, &test_s], &mut rows)?;
    }

    println!("{:<58} {:>8} {:>8} {:>8}", "configuration", "val_acc", "test_acc", "time_s");
    for row in &rows {
        println!("{:<58} {:>8.4} {:>8.4} {:>8.1}", row.name, row.val, row.test, row.time.as_secs_f64());
    }
    for (name, phases) in &all_curves {
        write_curves(&a.out.join(format!("{name}.svg")), &format!("graft image-transfer: {name}"), phases)?;
    }
    println!("\nfine-tuned model: {}; learning curves in {}/", model_path.display(), a.out.display());
    Ok(())
}

/// graft's shipped MLP (model A) with a new 10-way head, and a small CNN from scratch, both on
/// the raw 28 × 28 images of the same split, each with its learning rate chosen on validation.
fn baselines(
    a: &ImageArgs,
    [train_s, val_s, test_s]: [&ImageSplit; 3],
    rows: &mut Vec<Row>,
    all_curves: &mut Vec<(String, super::transfer_report::Curves)>,
) -> CliResult<()> {
    let device = train_s.raw.x().device();
    let model_a = load_model(&a.baseline_model)
        .map_err(|e| format!("{e} (the shipped MLP is data/demo/model_a.safetensors; pass --baseline-model FILE)"))?;
    let trunk = drop_top_units(&model_a, 1)?;
    let make_mlp = || -> CliResult<Sequential> {
        let width = graft::transfer::output_shape(&trunk, &[1, 28, 28])?;
        let head = parse_spec(&format!("linear({},10)", width.iter().product::<usize>()), a.seed)?;
        let model = graft_head(&clone_model(&trunk)?, &head, &[1, 28, 28])?;
        graft::nn::move_to_device(&model, &device)?;
        Ok(model)
    };
    let epochs = a.head_epochs;
    let sgd = MLP_LRS.map(OptimizerSpec::sgd);
    let data = (&train_s.raw, &val_s.raw, &test_s.raw);
    let describe = |lr| format!("shipped MLP (model A) + new head, all trained ({epochs} ep @ {lr}, lr by val)");
    let (row, mlp_curves) = baseline(&make_mlp, &sgd, "model A fine-tuned", epochs, data, a.seed, &describe)?;
    rows.insert(0, row);
    all_curves.push(("model_a".into(), mlp_curves));
    let make_cnn = || -> CliResult<Sequential> {
        let cnn = parse_spec(SMALL_CNN, a.seed)?;
        graft::nn::move_to_device(&cnn, &device)?;
        Ok(cnn)
    };
    let adam = CNN_LRS.map(|lr| OptimizerSpec::Adam(AdamConfig { lr, ..AdamConfig::default() }));
    let describe = |lr| format!("small CNN from scratch ({epochs} ep, Adam @ {lr}, lr by val)");
    let (row, cnn_curves) = baseline(&make_cnn, &adam, "small CNN from scratch", epochs, data, a.seed, &describe)?;
    rows.insert(1, row);
    all_curves.push(("small_cnn".into(), cnn_curves));
    Ok(())
}

/// The sweep: how many top feature blocks to unfreeze, and at which rate.
fn sweep_blocks(
    a: &ImageArgs,
    encoder: &Sequential,
    [train_s, val_s, test_s]: [&ImageSplit; 3],
    rows: &mut Vec<Row>,
) -> CliResult<()> {
    let plan = UnfreezeSweep {
        unfreeze: &a.sweep_unfreeze,
        finetune_lrs: &a.sweep_lrs,
        head_epochs: a.head_epochs,
        head_lr: a.head_lr,
        finetune_epochs: a.finetune_epochs,
        seed: a.seed,
    };
    let data = SweepData { train: &train_s.rgb, val: &val_s.rgb, test: &test_s.rgb };
    rows.push(sweep_unfrozen_units(encoder, &format!("linear({FEATURES},10)"), data, &plan, "blocks")?);
    Ok(())
}
