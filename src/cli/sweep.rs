//! `graft sweep`: which number of reused and unfrozen layers works best.

use super::data::{load_dataset, load_options, parse_list};
use super::transfer::build_head;
use super::{model, CliResult, Common};
use clap::Args;
use graft::nn::train::{LossKind, MetricKind};
use graft::transfer::{clone_model, count_units, drop_top_units, sweep, SweepConfig, SweepData, UNFREEZE_ALL};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The pretrained model: a graft .safetensors file, or a PyTorch state_dict with --pretrained-spec.
    #[arg(long)]
    pretrained: PathBuf,
    #[arg(long)]
    pretrained_spec: Option<String>,
    /// The new head; `{in}` stands for the number of features the reused layers produce.
    #[arg(long)]
    head: String,
    #[arg(long)]
    train: String,
    /// Validation data: the only data the choice is based on.
    #[arg(long)]
    val: String,
    /// Test data: reported for every configuration, never used to choose.
    #[arg(long)]
    test: String,
    /// Numbers of layers to reuse (default: every number from 0 to all but the old output layer).
    #[arg(long)]
    reuse: Option<String>,
    /// Numbers of top reused layers to unfreeze in the fine-tuning phase; `all` for all of them.
    #[arg(long, default_value = "0,1,all")]
    unfreeze: String,
    /// Learning rates to try in the fine-tuning phase.
    #[arg(long, default_value = "0.0001,0.001,0.01")]
    finetune_lr: String,
    #[arg(long, default_value_t = 4)]
    head_epochs: usize,
    #[arg(long, default_value_t = 0.001)]
    head_lr: f32,
    #[arg(long, default_value_t = 16)]
    finetune_epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Run trials one after another instead of in parallel.
    #[arg(long)]
    sequential: bool,
    #[command(flatten)]
    common: Common,
}

/// `0,1,all` → numbers, with `all` as [`UNFREEZE_ALL`].
pub fn parse_unfreeze(s: &str) -> CliResult<Vec<usize>> {
    s.split(',')
        .map(|p| match p.trim() {
            "all" => Ok(UNFREEZE_ALL),
            v => v.parse().map_err(|_| format!("--unfreeze {s}: `{v}` is neither a number nor `all`").into()),
        })
        .collect()
}

pub fn run(a: SweepArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let opts = load_options(&a.common)?;
    let pretrained = drop_top_units(&clone_model(&model::load(&a.pretrained, a.pretrained_spec.as_deref())?)?, 1)?;
    graft::nn::move_to_device(&pretrained, &device)?;
    let load = |arg: &str| -> CliResult<_> { Ok(load_dataset(arg, &opts)?.to_device(&device)?) };
    let (train, val, test) = (load(&a.train)?, load(&a.val)?, load(&a.test)?);
    let reuse = match &a.reuse {
        Some(r) => parse_list("--reuse", r)?,
        None => (0..=count_units(&pretrained)).collect(),
    };
    let config = SweepConfig {
        reuse,
        unfreeze: parse_unfreeze(&a.unfreeze)?,
        finetune_lrs: parse_list("--finetune-lr", &a.finetune_lr)?,
        head_epochs: a.head_epochs,
        head_lr: a.head_lr,
        finetune_epochs: a.finetune_epochs,
        batch_size: a.batch_size,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: a.common.seed,
        feature_cache: true,
        parallel: !a.sequential,
    };
    let seed = a.common.seed;
    let head = |features: &[usize]| {
        build_head(&a.head, features, seed).map_err(|e| graft::transfer::TransferError::Config(e.to_string()))
    };
    eprintln!("sweeping {} configurations...", config.reuse.len() * config.unfreeze.len() * config.finetune_lrs.len());
    let report = sweep(&pretrained, &head, SweepData { train: &train, val: &val, test: &test }, &config)?;
    print!("{}", report.table("acc"));
    let b = report.best();
    println!(
        "best by validation: reuse {} layers, unfreeze the top {}, fine-tune at lr {} -> test accuracy {:.4}",
        b.reuse, b.unfreeze, b.finetune_lr, b.test_metric
    );
    Ok(())
}
