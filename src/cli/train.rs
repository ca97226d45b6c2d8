//! `graft train`: an architecture spec trained on a dataset.

use super::checkpoint::{CheckpointArgs, Run};
use super::data::{keep_classes, list_item, load_dataset, load_options};
use super::progress::Bar;
use super::svg::write_curves;
use super::{model, CliResult, Common, LossChoice, OutArgs, SeedArg};
use clap::{Args, ValueEnum};
use graft::nn::checkpoint::fit_checkpointed;
use graft::nn::init::Init;
use graft::nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use graft::nn::spec::parse_spec_with_init;
use graft::nn::train::{evaluate, fit, EarlyStopping, FitConfig};
use graft::nn::Module;

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerChoice {
    Sgd,
    Adam,
}

/// `--init NAME` as a clap value parser: the names of [`Init`], refused with the list of them.
pub fn parse_init(s: &str) -> Result<Init, String> {
    s.parse::<Init>().map_err(|e| e.to_string())
}

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
    /// Fraction of the training data held out for validation when --val is not given; 0 trains
    /// on all of it with no validation.
    #[arg(long, default_value_t = 0.1)]
    val_split: f32,
    /// Test data, evaluated once after training.
    #[arg(long)]
    test: Option<String>,
    /// Keep only these class labels, renumbered 0.. in the order given (e.g. 1,3,4,5,6,7,8,9).
    #[arg(long, value_name = "LABELS", value_delimiter = ',', value_parser = list_item::<usize>)]
    classes: Option<Vec<usize>>,
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
    #[arg(long, value_enum, default_value_t = OptimizerChoice::Sgd)]
    optimizer: OptimizerChoice,
    /// Initialiser of every layer that names no init= in --spec: torch_default (PyTorch's
    /// default), he_normal, he_uniform, glorot_normal, glorot_uniform (Keras names: zero biases),
    /// kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform (PyTorch names), zeros.
    #[arg(long, value_parser = parse_init, default_value = "torch_default")]
    init: Init,
    /// The loss: auto picks bce for a 1-unit head and ce otherwise.
    #[arg(long, value_enum, default_value_t = LossChoice::Auto)]
    loss: LossChoice,
    /// Stop once the validation loss has not improved for N epochs, and keep the weights of
    /// the best epoch (Keras' EarlyStopping with restore_best_weights=True).
    #[arg(long, value_name = "N", conflicts_with = "checkpoint")]
    patience: Option<usize>,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    seed: SeedArg,
}

pub fn run(a: TrainArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let seed = a.seed.seed;
    let opts = load_options(&a.common)?;
    let mut train = load_dataset(&a.train, &opts)?;
    let mut val = a.val.as_deref().map(|v| load_dataset(v, &opts)).transpose()?;
    let mut test = a.test.as_deref().map(|v| load_dataset(v, &opts)).transpose()?;
    if let Some(classes) = &a.classes {
        train = keep_classes(&train, classes)?;
        val = val.map(|v| keep_classes(&v, classes)).transpose()?;
        test = test.map(|v| keep_classes(&v, classes)).transpose()?;
    }
    let (train, val) = match val {
        Some(v) => (train, Some(v)),
        None if a.val_split == 0.0 => (train, None),
        None => {
            if !(0.0..1.0).contains(&a.val_split) {
                return Err(format!(
                    "--val-split {}: give a fraction in [0, 1) (0 = no hold-out), or --val",
                    a.val_split
                )
                .into());
            }
            let (t, v) = train.train_val_split(a.val_split, seed)?;
            (t, Some(v))
        }
    };
    if a.patience.is_some() && val.is_none() {
        return Err("--patience watches the validation loss: give --val, or a --val-split above 0".into());
    }
    if a.patience == Some(0) {
        return Err("--patience 0: give at least 1 epoch".into());
    }
    let train = train.to_device(&device)?;
    let val = val.map(|v| v.to_device(&device)).transpose()?;
    let test = test.map(|v| v.to_device(&device)).transpose()?;
    let net = parse_spec_with_init(&a.spec, seed, a.init)?;
    graft::nn::move_to_device(&net, &device)?;
    let loss = model::loss_for(a.loss, model::output_units(&net, train.sample_shape())?);
    let mut opt: Box<dyn Optimizer> = match a.optimizer {
        OptimizerChoice::Sgd => {
            Box::new(Sgd::new(net.parameters(), SgdConfig { lr: a.lr, momentum: a.momentum, ..Default::default() }))
        }
        OptimizerChoice::Adam => Box::new(Adam::new(net.parameters(), AdamConfig { lr: a.lr, ..Default::default() })),
    };
    let config = FitConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed,
        shuffle: true,
        loss,
        metric: loss.metric(),
        early_stopping: a.patience.map(EarlyStopping::restoring_best),
    };
    eprintln!(
        "training {} ({} parameters, init {}) on {} samples, {}",
        net.spec(),
        net.num_parameters(),
        a.init,
        train.len(),
        match &val {
            Some(v) => format!("validating on {}", v.len()),
            None => "no validation".into(),
        }
    );
    let mut bar = Bar::new("train");
    let run = Run {
        command: "train",
        spec: net.spec(),
        seed,
        init: a.init,
        train: &train,
        val: val.as_ref(),
        common: &a.common,
    };
    // `classes` is the list as written ("1,3,4"), the string checkpoints have always held.
    let classes = a.classes.as_ref().map(|c| c.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    let fingerprint = run.fingerprint(vec![
        ("optimizer", format!("{:?}", a.optimizer).to_lowercase()),
        ("lr", a.lr.to_string()),
        ("momentum", a.momentum.to_string()),
        ("classes", classes.unwrap_or_default()),
        ("val_split", if a.val.is_some() { "-".into() } else { a.val_split.to_string() }),
    ]);
    let history = match a.checkpoint.options(fingerprint)? {
        Some(options) => {
            fit_checkpointed(&net, opt.as_mut(), &train, val.as_ref(), &config, &options, &mut |p| bar.update(&p))?
        }
        None => fit(&net, opt.as_mut(), &train, val.as_ref(), &config, &mut |p| bar.update(&p))?,
    };
    let test_result = test.as_ref().map(|t| evaluate(&net, t, 256, loss, loss.metric())).transpose()?;
    model::save(&net, &a.out.out)?;
    let curves = a.out.curves();
    write_curves(&curves, &format!("graft train: {}", a.spec), &[("train".into(), history.epochs.clone())])?;
    let last = history.last().ok_or("training ran no epoch (--epochs 0)")?;
    println!("{:<10} {:>10} {:>10} {:>10} {:>10}", "epochs", "train_acc", "val_loss", "val_acc", "time_s");
    println!(
        "{:<10} {:>10.4} {:>10.4} {:>10.4} {:>10.2}",
        history.epochs.len(),
        last.train_metric.unwrap_or(f32::NAN),
        last.val_loss.unwrap_or(f32::NAN),
        last.val_metric.unwrap_or(f32::NAN),
        history.wall_time().as_secs_f64()
    );
    if let Some(best) = history.best_epoch {
        let how = if history.stopped_early { "stopped early" } else { "ran every epoch" };
        let rec = &history.epochs[best - 1];
        println!(
            "early stopping: {how}; kept the weights of epoch {best} (val_loss {:.4}, val_acc {:.4})",
            rec.val_loss.unwrap_or(f32::NAN),
            rec.val_metric.unwrap_or(f32::NAN)
        );
    }
    if let Some(t) = test_result {
        println!(
            "test accuracy {:.4}  (test loss {:.4}, {} samples)",
            t.metric.unwrap_or(f32::NAN),
            t.loss,
            test.as_ref().map_or(0, |d| d.len())
        );
    }
    println!("wrote {} and {}", a.out.out.display(), curves.display());
    Ok(())
}
