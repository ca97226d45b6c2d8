//! What the transfer commands (`text-transfer`, `image-transfer`) share: the results table's
//! rows, training phases with a quiet progress bar, accuracy, learning curves, and the
//! baselines' learning-rate choice on validation.

use super::progress::Bar;
use super::CliResult;
use graft::nn::data::Dataset;
use graft::nn::spec::parse_spec;
use graft::nn::train::{evaluate, EpochRecord, LossKind, MetricKind};
use graft::nn::{Module, Sequential};
use graft::transfer::{
    cache_features_reporting, count_units, run_schedule, sweep, OptimizerSpec, Phase, Schedule, ScheduleResult,
    SweepConfig, SweepData, Trainable, TransferError,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// One row of the results table.
pub(crate) struct Row {
    pub name: String,
    pub val: f32,
    pub test: f32,
    pub time: Duration,
}

pub(crate) const BATCH: usize = 32;

pub(crate) fn schedule(phases: Vec<Phase>, seed: u64) -> Schedule {
    Schedule {
        phases,
        batch_size: BATCH,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed,
        feature_cache: true,
    }
}

pub(crate) fn accuracy(model: &dyn Module, data: &Dataset) -> CliResult<f32> {
    Ok(evaluate(model, data, 256, LossKind::CrossEntropy, MetricKind::Accuracy)?.metric.unwrap_or(0.0))
}

/// Learning curves by phase, as `write_curves` draws them.
pub(crate) type Curves = Vec<(String, Vec<EpochRecord>)>;

pub(crate) fn curves(r: &ScheduleResult) -> Curves {
    r.phases.iter().map(|p| (p.name.clone(), p.history.epochs.clone())).collect()
}

/// Runs `phases` on `model` with a quiet progress bar per phase.
pub(crate) fn train(
    model: &Sequential,
    phases: Vec<Phase>,
    train: &Dataset,
    val: &Dataset,
    seed: u64,
) -> CliResult<ScheduleResult> {
    let mut bars: Vec<Bar> = phases.iter().map(|p| Bar::quiet(&p.name)).collect();
    Ok(run_schedule(model, &schedule(phases, seed), train, Some(val), &mut |p| bars[p.phase].update(&p.event))?)
}

/// A baseline's row of the report and its learning curves: a fresh model from `make` trained
/// with each of `optimizers` (one phase of `epochs`, everything trainable), the one with the
/// best validation accuracy kept (the first of equals) and tested on `test_d`. The row is named
/// by `describe` from the chosen learning rate.
pub(crate) fn baseline(
    make: &dyn Fn() -> CliResult<Sequential>,
    optimizers: &[OptimizerSpec],
    name: &str,
    epochs: usize,
    (train_d, val_d, test_d): (&Dataset, &Dataset, &Dataset),
    seed: u64,
    describe: &dyn Fn(f32) -> String,
) -> CliResult<(Row, Curves)> {
    let mut best: Option<(f32, Sequential, ScheduleResult)> = None;
    for &optimizer in optimizers {
        let model = make()?;
        let phase = Phase { name: name.into(), trainable: Trainable::All, optimizer, epochs };
        let r = train(&model, vec![phase], train_d, val_d, seed)?;
        let val = accuracy(&model, val_d)?;
        if best.as_ref().is_none_or(|(v, ..)| val > *v) {
            best = Some((val, model, r));
        }
    }
    let (val, model, r) = best.ok_or("no learning rate to try")?;
    let row = Row { name: describe(r.phases[0].lr), val, test: accuracy(&model, test_d)?, time: r.wall_time() };
    Ok((row, curves(&r)))
}

/// `encoder` applied to every sample of `data` in inference mode, with a progress bar counting
/// `unit`s.
pub(crate) fn embed(encoder: &Sequential, data: &Dataset, label: &str, unit: &str) -> CliResult<Dataset> {
    let bar = ProgressBar::new(data.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})"
        ))
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("embedding {label}"));
    let features = cache_features_reporting(encoder, data, BATCH, &mut |n| bar.inc(n as u64));
    bar.finish_and_clear();
    Ok(features?)
}

/// What the demos' sweep over unfrozen top units varies and trains with.
pub(crate) struct UnfreezeSweep<'a> {
    pub unfreeze: &'a [usize],
    pub finetune_lrs: &'a [f32],
    pub head_epochs: usize,
    pub head_lr: f32,
    pub finetune_epochs: usize,
    pub seed: u64,
}

/// The demos' sweep: every unit of `encoder` reused, a new head (`head_spec`), the numbers of
/// top units in `plan.unfreeze` fine-tuned at each rate; prints the sweep's table (its
/// `units` named in the heading) and returns the row of the configuration chosen on validation.
pub(crate) fn sweep_unfrozen_units(
    encoder: &Sequential,
    head_spec: &str,
    data: SweepData<'_>,
    plan: &UnfreezeSweep<'_>,
    units: &str,
) -> CliResult<Row> {
    let config = SweepConfig {
        reuse: vec![count_units(encoder)],
        unfreeze: plan.unfreeze.to_vec(),
        finetune_lrs: plan.finetune_lrs.to_vec(),
        head_epochs: plan.head_epochs,
        head_lr: plan.head_lr,
        finetune_epochs: plan.finetune_epochs,
        batch_size: BATCH,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: plan.seed,
        feature_cache: true,
        parallel: false,
    };
    eprintln!("sweeping {} configurations (each computes its features again)...", config.grid().len());
    let make_head = |_: &[usize]| parse_spec(head_spec, plan.seed).map_err(TransferError::from);
    let report = sweep(encoder, &make_head, data, &config)?;
    println!("sweep over unfrozen top {units} (chosen by validation accuracy only):\n{}", report.table("acc"));
    let best = report.best();
    Ok(Row {
        name: format!("sweep's choice (unfreeze {}, fine-tune @ {})", best.unfreeze, best.finetune_lr),
        val: best.val_metric,
        test: best.test_metric,
        time: best.train_time,
    })
}
