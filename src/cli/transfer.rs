//! `graft transfer`: reuse a pretrained model's lower layers for a new task.

use super::data::{load_dataset, load_options};
use super::model::LayoutArg;
use super::phases::parse_phase;
use super::progress::Bar;
use super::svg::write_curves;
use super::train::parse_init;
use super::{model, CliResult, Common, LossChoice, SeedArg};
use clap::Args;
use graft::nn::checkpoint::CheckpointOptions;
use graft::nn::data::Dataset;
use graft::nn::init::Init;
use graft::nn::spec::parse_spec_with_init;
use graft::nn::train::evaluate;
use graft::nn::{Module, Sequential};
use graft::transfer::{
    clone_model, count_units, drop_top_units, graft_head, keep_units, output_shape, run_schedule,
    run_schedule_checkpointed, Schedule,
};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// The pretrained model: a graft .safetensors file, or a PyTorch/Keras state dict with
    /// --pretrained-spec.
    #[arg(long)]
    pretrained: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    pretrained_spec: Option<String>,
    #[command(flatten)]
    layout: LayoutArg,
    /// Number of layers (with their activations) to reuse from the bottom. Default: all but the top one.
    #[arg(long)]
    reuse: Option<usize>,
    /// The new head; `{in}` stands for the number of features the reused layers produce,
    /// e.g. "linear({in},2)" or, for a binary sigmoid head, "linear({in},1)". A head starting
    /// with a linear layer on features that are not flat gets a flatten in front.
    #[arg(long)]
    head: String,
    /// Initialiser of the head's layers that name no init= (see `graft train --help`).
    #[arg(long, value_parser = parse_init, default_value = "torch_default")]
    init: Init,
    /// The loss: auto picks bce for a 1-unit head and ce otherwise.
    #[arg(long, value_enum, default_value_t = LossChoice::Auto)]
    loss: LossChoice,
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
    /// Where to write the new model.
    #[arg(long)]
    out: PathBuf,
    /// Learning curves (SVG); defaults to the model path with .svg.
    #[arg(long)]
    curves: Option<PathBuf>,
    /// Write a checkpoint (model, optimiser, generators, phase and epoch, history) to PATH
    /// after every epoch and every phase, atomically.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint PATH, mid-phase if need be; the command must be the one that
    /// wrote it (same model, head, phases, data, seed).
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    seed: SeedArg,
}

/// Builds a head from a spec with an `{in}` placeholder for the trunk's `features` (their
/// product). A head that starts with a linear layer gets a flatten in front when the features
/// are not flat (images, or the raw input of a sweep's "reuse 0"), which is what `{in}` means.
pub fn build_head(head_spec: &str, features: &[usize], seed: u64, init: Init) -> CliResult<Sequential> {
    let n: usize = features.iter().product();
    let spec = head_spec.replace("{in}", &n.to_string());
    let starts_linear = spec.trim_start().to_ascii_lowercase().starts_with("linear");
    let spec = if features.len() > 1 && starts_linear { format!("flatten,{spec}") } else { spec };
    Ok(parse_spec_with_init(&spec, seed.wrapping_add(1), init)?)
}

pub fn run(a: TransferArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let opts = load_options(&a.common)?;
    let seed = a.seed.seed;
    let pretrained = model::load(&a.pretrained, a.pretrained_spec.as_deref(), a.layout, "--pretrained-spec")?;
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
    let head = build_head(&a.head, &features, seed, a.init)?;
    let model = graft_head(&trunk, &head, train.sample_shape())?;
    let loss = model::loss_for(a.loss, model::output_units(&model, train.sample_shape())?);
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
    eprintln!("reusing {reused} of {units} layers of {}; new model: {}", a.pretrained.display(), model.spec());
    let schedule =
        Schedule { phases, batch_size: a.batch_size, loss, metric: loss.metric(), seed, feature_cache: !a.no_cache };
    let mut bars: Vec<Bar> = schedule.phases.iter().map(|p| Bar::new(&p.name)).collect();
    let mut report = |p: graft::transfer::PhaseProgress| bars[p.phase].update(&p.event);
    let result = match &a.checkpoint {
        Some(path) => {
            if a.resume && !path.exists() {
                return Err(format!("--resume: {}: no such checkpoint", path.display()).into());
            }
            let fingerprint = vec![
                ("command".into(), "transfer".into()),
                ("spec".into(), model.spec()),
                ("seed".into(), seed.to_string()),
                ("init".into(), a.init.to_string()),
                (
                    "data".into(),
                    format!(
                        "train {} samples, validation {} samples",
                        train.len(),
                        val.as_ref().map_or(0, |v| v.len())
                    ),
                ),
                ("sample_shape".into(), format!("{:?}", train.sample_shape())),
                ("layout".into(), a.common.layout.name().into()),
                ("normalize".into(), a.common.normalize.clone().unwrap_or_default()),
            ];
            let options = CheckpointOptions { path: path.clone(), resume: a.resume, config: fingerprint };
            run_schedule_checkpointed(&model, &schedule, &train, val.as_ref(), &options, &mut report)?
        }
        None => run_schedule(&model, &schedule, &train, val.as_ref(), &mut report)?,
    };
    let test_result = test.as_ref().map(|t| evaluate(&model, t, 256, loss, loss.metric())).transpose()?;
    model::save(&model, &a.out)?;
    let curves = a.curves.clone().unwrap_or_else(|| a.out.with_extension("svg"));
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
    println!("wrote {} and {}", a.out.display(), curves.display());
    Ok(())
}
