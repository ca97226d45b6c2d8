//! `graft sweep`: which number of reused and unfrozen layers works best.

use super::data::{list_item, load_dataset, load_options};
use super::model::{HeadArgs, PretrainedArgs};
use super::{model, CliResult, Common, SeedArg};
use clap::Args;
use graft::transfer::{
    clone_model, count_units, drop_top_units, output_shape, sweep, SweepConfig, SweepData, UNFREEZE_ALL,
};

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pretrained: PretrainedArgs,
    #[command(flatten)]
    head: HeadArgs,
    #[arg(long)]
    train: String,
    /// Validation data: the only data the choice is based on.
    #[arg(long)]
    val: String,
    /// Test data: reported for every configuration, never used to choose.
    #[arg(long)]
    test: String,
    /// Numbers of layers to reuse (default: every number from 0 to all but the old output
    /// layer); 0 trains the head alone on the raw (flattened) inputs, a from-scratch baseline.
    #[arg(long, value_delimiter = ',', value_parser = list_item::<usize>)]
    reuse: Option<Vec<usize>>,
    /// Numbers of top reused layers to unfreeze in the fine-tuning phase; `all` for all of them.
    #[arg(long, value_delimiter = ',', value_parser = parse_unfreeze, default_value = "0,1,all")]
    unfreeze: Vec<usize>,
    /// Learning rates to try in the fine-tuning phase.
    #[arg(long, value_delimiter = ',', value_parser = list_item::<f32>, default_value = "0.0001,0.001,0.01")]
    finetune_lr: Vec<f32>,
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
    #[command(flatten)]
    seed: SeedArg,
}

/// One item of `--unfreeze 0,1,all`: a number, or `all` as [`UNFREEZE_ALL`].
pub fn parse_unfreeze(s: &str) -> Result<usize, String> {
    match s.trim() {
        "all" => Ok(UNFREEZE_ALL),
        v => v.parse().map_err(|_| format!("`{v}` is neither a number nor `all`")),
    }
}

pub fn run(a: SweepArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let opts = load_options(&a.common)?;
    let loaded = a.pretrained.load()?;
    let pretrained = drop_top_units(&clone_model(&loaded)?, 1)?;
    graft::nn::move_to_device(&pretrained, &device)?;
    let load = |arg: &str| -> CliResult<_> { Ok(load_dataset(arg, &opts)?.to_device(&device)?) };
    let (train, val, test) = (load(&a.train)?, load(&a.val)?, load(&a.test)?);
    let reuse = match a.reuse {
        Some(r) => r,
        None => (0..=count_units(&pretrained)).collect(),
    };
    let seed = a.seed.seed;
    // The loss follows the head's width, which does not depend on how many layers are reused.
    let features = output_shape(&pretrained, train.sample_shape())?;
    let units: usize = output_shape(&a.head.build(&features, seed)?, &features)?.iter().product();
    let loss = model::loss_for(a.head.loss, units);
    let config = SweepConfig {
        reuse,
        unfreeze: a.unfreeze,
        finetune_lrs: a.finetune_lr,
        head_epochs: a.head_epochs,
        head_lr: a.head_lr,
        finetune_epochs: a.finetune_epochs,
        batch_size: a.batch_size,
        loss,
        metric: loss.metric(),
        seed,
        feature_cache: true,
        parallel: !a.sequential,
    };
    let head = |features: &[usize]| {
        a.head.build(features, seed).map_err(|e| graft::transfer::TransferError::Config(e.to_string()))
    };
    eprintln!("sweeping {} configurations...", config.grid().len());
    let report = sweep(&pretrained, &head, SweepData { train: &train, val: &val, test: &test }, &config)?;
    print!("{}", report.table("acc"));
    let b = report.best();
    if b.reuse == 0 {
        println!("best by validation: the head alone on the raw inputs -> test accuracy {:.4}", b.test_metric);
    } else {
        println!(
            "best by validation: reuse {} layers, unfreeze the top {}, fine-tune at lr {} -> test accuracy {:.4}",
            b.reuse, b.unfreeze, b.finetune_lr, b.test_metric
        );
    }
    Ok(())
}
