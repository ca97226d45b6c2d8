//! `graft transfer`: reuse a pretrained model's lower layers for a new task.

use super::checkpoint::{CheckpointArgs, Run};
use super::data::{load_dataset, load_options};
use super::model::{HeadArgs, PretrainedArgs};
use super::phases::parse_phase;
use super::progress::Bar;
use super::svg::write_curves;
use super::{model, CliResult, Common, OutArgs, SeedArg};
use clap::Args;
use graft::nn::data::Dataset;
use graft::nn::train::evaluate;
use graft::nn::Module;
use graft::transfer::{
    clone_model, count_units, drop_top_units, graft_head, keep_units, output_shape, run_schedule,
    run_schedule_checkpointed, Schedule,
};

#[derive(Args, Debug)]
pub struct TransferArgs {
    #[command(flatten)]
    pretrained: PretrainedArgs,
    /// Number of layers (with their activations) to reuse from the bottom. Default: all but the top one.
    #[arg(long)]
    reuse: Option<usize>,
    #[command(flatten)]
    head: HeadArgs,
    /// Training data: IMAGES,LABELS or one .npz/.safetensors file.
    #[arg(long)]
    train: String,
    /// Validation data, reported after every epoch.
    #[arg(long)]
    val: Option<String>,
    /// Held-out test data, evaluated once at the end.
    #[arg(long)]
    test: Option<String>,
    /// A training phase: epochs=N,lr=X[,momentum=M][,unfreeze=K|all][,only=GLOB]. Repeat for
    /// several phases. unfreeze counts reused layers from the top (0 = head only, the default);
    /// only=GLOB trains exactly the parameters whose names match (e.g. only=6.*).
    /// Default: the classic recipe, epochs=4,lr=0.001 then epochs=16,lr=0.0001,unfreeze=all.
    #[arg(long)]
    phase: Vec<String>,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Do not cache the outputs of frozen layers (slower; same result).
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    seed: SeedArg,
}

pub fn run(a: TransferArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let opts = load_options(&a.common)?;
    let seed = a.seed.seed;
    let pretrained = a.pretrained.load()?;
    let load = |arg: &str| -> CliResult<Dataset> { Ok(load_dataset(arg, &opts)?.to_device(&device)?) };
    let train = load(&a.train)?;
    let val = a.val.as_deref().map(load).transpose()?;
    let test = a.test.as_deref().map(load).transpose()?;
    let units = count_units(&pretrained);
    let copy = clone_model(&pretrained)?;
    graft::nn::move_to_device(&copy, &device)?;
    let trunk = match a.reuse {
        Some(r) => keep_units(&copy, r)?,
        None => drop_top_units(&copy, 1)?,
    };
    let reused = count_units(&trunk);
    let features = output_shape(&trunk, train.sample_shape())?;
    let head = a.head.build(&features, seed)?;
    let model = graft_head(&trunk, &head, train.sample_shape())?;
    let loss = model::loss_for(a.head.loss, model::output_units(&model, train.sample_shape())?);
    let phase_args = if a.phase.is_empty() {
        vec!["epochs=4,lr=0.001".to_string(), "epochs=16,lr=0.0001,unfreeze=all".to_string()]
    } else {
        a.phase.clone()
    };
    let phases = phase_args
        .iter()
        .enumerate()
        .map(|(i, p)| parse_phase(p, i, trunk.len(), reused))
        .collect::<CliResult<Vec<_>>>()?;
    eprintln!(
        "reusing {reused} of {units} layers of {}; new model: {}",
        a.pretrained.pretrained.display(),
        model.spec()
    );
    let schedule =
        Schedule { phases, batch_size: a.batch_size, loss, metric: loss.metric(), seed, feature_cache: !a.no_cache };
    let mut bars: Vec<Bar> = schedule.phases.iter().map(|p| Bar::new(&p.name)).collect();
    let mut report = |p: graft::transfer::PhaseProgress| bars[p.phase].update(&p.event);
    let run = Run {
        command: "transfer",
        spec: model.spec(),
        seed,
        init: a.head.init,
        train: &train,
        val: val.as_ref(),
        common: &a.common,
    };
    let result = match a.checkpoint.options(run.fingerprint(Vec::new()))? {
        Some(options) => run_schedule_checkpointed(&model, &schedule, &train, val.as_ref(), &options, &mut report)?,
        None => run_schedule(&model, &schedule, &train, val.as_ref(), &mut report)?,
    };
    let test_result = test.as_ref().map(|t| evaluate(&model, t, 256, loss, loss.metric())).transpose()?;
    model::save(&model, &a.out.out)?;
    let curves = a.out.curves();
    let named: Vec<(String, Vec<_>)> =
        result.phases.iter().map(|p| (p.name.clone(), p.history.epochs.clone())).collect();
    write_curves(&curves, &format!("graft transfer: {}", model.spec()), &named)?;
    println!("{:<28} {:>9} {:>7} {:>10} {:>9} {:>8}", "phase", "lr", "epochs", "trainable", "val_acc", "time_s");
    for p in &result.phases {
        println!(
            "{:<28} {:>9} {:>7} {:>10} {:>9.4} {:>8.2}",
            p.name,
            p.lr,
            p.history.epochs.len(),
            p.trainable.len(),
            p.history.last().and_then(|e| e.val_metric).unwrap_or(f32::NAN),
            p.wall_time.as_secs_f64()
        );
    }
    if let Some(t) = test_result {
        println!("test accuracy {:.4}  (test loss {:.4})", t.metric.unwrap_or(f32::NAN), t.loss);
    }
    println!("wrote {} and {}", a.out.out.display(), curves.display());
    Ok(())
}
