//! `graft demo`: the classic transfer experiment on Fashion-MNIST, on data shipped in the repo.
//!
//! Model A (an MLP trained by graft on 8 Fashion-MNIST classes) is reused for task B
//! (T-shirt/top vs pullover, 200 training images). The demo compares B trained from scratch,
//! B on A with the usual recipe (4 epochs frozen at lr 1e-3, then all unfrozen at lr 1e-4 for
//! 16 epochs), and the configuration a sweep picks by validation accuracy.

use super::progress::Bar;
use super::svg::write_curves;
use super::{model, CliResult, DeviceChoice};
use clap::Args;
use graft::nn::data::{load_idx, Dataset, LoadOptions, TargetKind};
use graft::nn::spec::parse_spec;
use graft::nn::train::{evaluate, LossKind, MetricKind};
use graft::nn::{Module, Sequential};
use graft::transfer::{
    clone_model, count_units, drop_top_units, graft_head, keep_units, output_shape, run_schedule, sweep, OptimizerSpec,
    Phase, Schedule, SweepConfig, SweepData, Trainable, TransferError, UNFREEZE_ALL,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder with model_a.safetensors and the task B IDX files.
    #[arg(long, default_value = "data/demo")]
    data: PathBuf,
    /// Where the learning curves (SVG) go.
    #[arg(long, default_value = "target/graft-demo")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to compute: cpu, gpu, or auto (the GPU when one is available, else the CPU).
    #[arg(long, value_enum, ignore_case = true, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

struct Row {
    name: String,
    test_acc: f32,
    time: Duration,
}

fn task_b(dir: &Path, split: &str) -> CliResult<Dataset> {
    let (x, y) = (dir.join(format!("taskb-{split}-images.idx.gz")), dir.join(format!("taskb-{split}-labels.idx.gz")));
    if !x.exists() {
        return Err(format!("{}: missing; run `cargo run --release --example make_demo_data`", x.display()).into());
    }
    Ok(load_idx(x, y, &LoadOptions::chw().targets(TargetKind::Classes))?)
}

fn schedule(phases: Vec<Phase>, seed: u64) -> Schedule {
    Schedule {
        phases,
        batch_size: 32,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed,
        feature_cache: true,
    }
}

fn head(features: &[usize], seed: u64) -> graft::transfer::Result<Sequential> {
    let n: usize = features.iter().product();
    parse_spec(&format!("linear({n},2)"), seed).map_err(TransferError::from)
}

pub fn run(a: DemoArgs) -> CliResult<()> {
    let device = model::device(&a.device)?;
    let model_a_path = a.data.join("model_a.safetensors");
    let model_a = model::load(&model_a_path, None, model::LayoutArg { keras: false }, "--spec")?;
    graft::nn::move_to_device(&model_a, &device)?;
    let split = |name: &str| -> CliResult<Dataset> { Ok(task_b(&a.data, name)?.to_device(&device)?) };
    let (train, val, test) = (split("train")?, split("val")?, split("test")?);
    println!("model A: {}  ({}, on {device})", model_a.spec(), model_a_path.display());
    println!(
        "task B: T-shirt/top vs pullover — {} train, {} validation, {} test images\n",
        train.len(),
        val.len(),
        test.len()
    );
    let shape = train.sample_shape().to_vec();
    let trunk_a = drop_top_units(&model_a, 1)?;
    let head_start = trunk_a.len();
    let mut rows = Vec::new();
    let mut curves: Vec<(&str, Vec<(String, Vec<_>)>)> = Vec::new();

    // 1. From scratch: A's architecture with a new head, random weights, everything trainable.
    let scratch = parse_spec(&format!("{},linear(100,2)", trunk_a.spec()), a.seed)?;
    graft::nn::move_to_device(&scratch, &device)?;
    let phases = vec![Phase {
        name: "scratch".into(),
        trainable: Trainable::All,
        optimizer: OptimizerSpec::sgd(1e-3),
        epochs: 20,
    }];
    let mut bar = Bar::quiet("scratch");
    let r = run_schedule(&scratch, &schedule(phases, a.seed), &train, Some(&val), &mut |p| bar.update(&p.event))?;
    let t = evaluate(&scratch, &test, 256, LossKind::CrossEntropy, MetricKind::Accuracy)?;
    rows.push(Row {
        name: "B from scratch (20 epochs, lr 1e-3)".into(),
        test_acc: t.metric.unwrap_or(0.0),
        time: r.wall_time(),
    });
    curves.push(("scratch", r.phases.iter().map(|p| (p.name.clone(), p.history.epochs.clone())).collect()));

    // 2. B on A with the recipe: freeze, train the head, unfreeze all, lower the learning rate.
    let trunk = drop_top_units(&clone_model(&model_a)?, 1)?;
    let b_on_a = graft_head(&trunk, &head(&output_shape(&trunk, &shape)?, a.seed)?, &shape)?;
    let phases = Schedule::freeze_then_finetune(head_start, count_units(&trunk), (4, 1e-3), (16, 1e-4));
    let mut bars = [Bar::quiet("B on A, head"), Bar::quiet("B on A, all")];
    let r =
        run_schedule(&b_on_a, &schedule(phases, a.seed), &train, Some(&val), &mut |p| bars[p.phase].update(&p.event))?;
    let t = evaluate(&b_on_a, &test, 256, LossKind::CrossEntropy, MetricKind::Accuracy)?;
    rows.push(Row {
        name: "B on A, recipe (4 ep frozen @1e-3, 16 ep all @1e-4)".into(),
        test_acc: t.metric.unwrap_or(0.0),
        time: r.wall_time(),
    });
    curves.push(("b_on_a_recipe", r.phases.iter().map(|p| (p.name.clone(), p.history.epochs.clone())).collect()));

    // 3. The sweep: how many layers to reuse and unfreeze, and the fine-tuning rate.
    let config = SweepConfig {
        reuse: vec![1, 2, 3],
        unfreeze: vec![0, 1, UNFREEZE_ALL],
        finetune_lrs: vec![1e-4, 1e-3, 1e-2],
        head_epochs: 4,
        head_lr: 1e-3,
        finetune_epochs: 16,
        batch_size: 32,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: a.seed,
        feature_cache: true,
        parallel: true,
    };
    eprintln!("sweeping {} configurations...", config.grid().len());
    let head_fn = |f: &[usize]| head(f, a.seed);
    let report = sweep(&trunk_a, &head_fn, SweepData { train: &train, val: &val, test: &test }, &config)?;
    println!("sweep (chosen by validation accuracy only):\n{}", report.table("acc"));
    let best = report.best().clone();
    // Rerun the chosen configuration alone for its learning curves and an uncontended time.
    let trunk = keep_units(&clone_model(&model_a)?, best.reuse)?;
    let chosen = graft_head(&trunk, &head(&output_shape(&trunk, &shape)?, a.seed)?, &shape)?;
    let phases = Schedule::freeze_then_finetune(trunk.len(), best.unfreeze, (4, 1e-3), (16, best.finetune_lr));
    let r = run_schedule(&chosen, &schedule(phases, a.seed), &train, Some(&val), &mut |_| {})?;
    let t = evaluate(&chosen, &test, 256, LossKind::CrossEntropy, MetricKind::Accuracy)?;
    rows.push(Row {
        name: format!("sweep's choice (reuse {}, unfreeze {}, lr {})", best.reuse, best.unfreeze, best.finetune_lr),
        test_acc: t.metric.unwrap_or(0.0),
        time: r.wall_time(),
    });
    curves.push(("sweep_choice", r.phases.iter().map(|p| (p.name.clone(), p.history.epochs.clone())).collect()));

    println!("{:<56} {:>9} {:>10}", "configuration", "test_acc", "train_s");
    for row in &rows {
        println!("{:<56} {:>9.4} {:>10.2}", row.name, row.test_acc, row.time.as_secs_f64());
    }
    let winner = rows.iter().max_by(|x, y| x.test_acc.total_cmp(&y.test_acc)).expect("three rows");
    println!("\nhighest test accuracy: {} ({:.4})", winner.name, winner.test_acc);
    for (name, phases) in &curves {
        write_curves(&a.out.join(format!("{name}.svg")), &format!("graft demo: {name}"), phases)?;
    }
    println!("learning curves in {}/", a.out.display());
    Ok(())
}
