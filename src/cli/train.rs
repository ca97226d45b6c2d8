//! `graft train`: an architecture spec trained on a dataset.

use super::data::{keep_classes, load_dataset, load_options, parse_list};
use super::progress::Bar;
use super::svg::write_curves;
use super::{model, CliResult, Common};
use clap::Args;
use graft::nn::checkpoint::{fit_checkpointed, CheckpointOptions};
use graft::nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use graft::nn::spec::parse_spec;
use graft::nn::train::{fit, FitConfig, LossKind, MetricKind};
use graft::nn::Module;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The architecture, e.g. "flatten,linear(784,100),relu,linear(100,10)".
    #[arg(long)]
    spec: String,
    /// Training data: IMAGES,LABELS (IDX or .npy, gzipped or not) or one .npz/.safetensors file.
    #[arg(long)]
    train: String,
    /// Validation data (same forms). Without it, --val-split holds out part of --train.
    #[arg(long)]
    val: Option<String>,
    /// Fraction of the training data held out for validation when --val is not given.
    #[arg(long, default_value_t = 0.1)]
    val_split: f32,
    /// Keep only these class labels, renumbered 0.. in the order given (e.g. 1,3,4,5,6,7,8,9).
    #[arg(long, value_name = "LABELS")]
    classes: Option<String>,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// SGD momentum (0 = plain SGD).
    #[arg(long, default_value_t = 0.0)]
    momentum: f32,
    /// sgd or adam.
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// Where to write the trained model (.safetensors, with its architecture in the header).
    #[arg(long)]
    out: PathBuf,
    /// Learning curves (SVG); defaults to the model path with .svg.
    #[arg(long)]
    curves: Option<PathBuf>,
    /// Write a checkpoint (model, optimiser, generators, history) to PATH after every epoch,
    /// atomically, so a killed run loses at most one epoch.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint PATH; the command must be the one that wrote it (more
    /// --epochs may be given to extend a finished run).
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: TrainArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let opts = load_options(&a.common)?;
    let mut train = load_dataset(&a.train, &opts)?;
    let mut val = a.val.as_deref().map(|v| load_dataset(v, &opts)).transpose()?;
    if let Some(c) = &a.classes {
        let classes: Vec<usize> = parse_list("--classes", c)?;
        train = keep_classes(&train, &classes)?;
        val = val.map(|v| keep_classes(&v, &classes)).transpose()?;
    }
    let (train, val) = match val {
        Some(v) => (train, v),
        None => {
            if !(0.0..1.0).contains(&a.val_split) || a.val_split == 0.0 {
                return Err(format!("--val-split {}: give a fraction in (0, 1), or --val", a.val_split).into());
            }
            train.train_val_split(a.val_split, a.common.seed)?
        }
    };
    let (train, val) = (train.to_device(&device)?, val.to_device(&device)?);
    let net = parse_spec(&a.spec, a.common.seed)?;
    graft::nn::move_to_device(&net, &device)?;
    let mut opt: Box<dyn Optimizer> = match a.optimizer.as_str() {
        "sgd" => {
            Box::new(Sgd::new(net.parameters(), SgdConfig { lr: a.lr, momentum: a.momentum, ..Default::default() }))
        }
        "adam" => Box::new(Adam::new(net.parameters(), AdamConfig { lr: a.lr, ..Default::default() })),
        other => return Err(format!("--optimizer {other}: use sgd or adam").into()),
    };
    let config = FitConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.common.seed,
        shuffle: true,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
    };
    eprintln!(
        "training {} ({} parameters) on {} samples, validating on {}",
        net.spec(),
        net.num_parameters(),
        train.len(),
        val.len()
    );
    let mut bar = Bar::new("train");
    let history = match &a.checkpoint {
        Some(path) => {
            if a.resume && !path.exists() {
                return Err(format!("--resume: {}: no such checkpoint", path.display()).into());
            }
            let fingerprint = vec![
                ("command".into(), "train".into()),
                ("spec".into(), net.spec()),
                ("seed".into(), a.common.seed.to_string()),
                ("optimizer".into(), a.optimizer.clone()),
                ("lr".into(), a.lr.to_string()),
                ("momentum".into(), a.momentum.to_string()),
                ("data".into(), format!("train {} samples, validation {} samples", train.len(), val.len())),
                ("sample_shape".into(), format!("{:?}", train.sample_shape())),
                ("classes".into(), a.classes.clone().unwrap_or_default()),
                ("val_split".into(), if a.val.is_some() { "-".into() } else { a.val_split.to_string() }),
                ("layout".into(), a.common.layout.clone()),
                ("normalize".into(), a.common.normalize.clone().unwrap_or_default()),
            ];
            let options = CheckpointOptions { path: path.clone(), resume: a.resume, config: fingerprint };
            fit_checkpointed(&net, opt.as_mut(), &train, Some(&val), &config, &options, &mut |p| bar.update(&p))?
        }
        None => fit(&net, opt.as_mut(), &train, Some(&val), &config, &mut |p| bar.update(&p))?,
    };
    model::save(&net, &a.out)?;
    let curves = a.curves.unwrap_or_else(|| a.out.with_extension("svg"));
    write_curves(&curves, &format!("graft train: {}", a.spec), &[("train".into(), history.epochs.clone())])?;
    let last = history.last().ok_or("training ran no epoch (--epochs 0)")?;
    println!("{:<10} {:>10} {:>10} {:>10}", "epochs", "val_loss", "val_acc", "time_s");
    println!(
        "{:<10} {:>10.4} {:>10.4} {:>10.2}",
        history.epochs.len(),
        last.val_loss.unwrap_or(f32::NAN),
        last.val_metric.unwrap_or(f32::NAN),
        history.wall_time().as_secs_f64()
    );
    println!("wrote {} and {}", a.out.display(), curves.display());
    Ok(())
}
