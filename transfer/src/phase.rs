//! Phases and schedules: train with one trainable mask and optimiser setting, then the next.

use crate::cache::{cache_features, cacheable_prefix};
use crate::mask::TrainableMask;
use crate::mode::MaskedModel;
use crate::units::unit_start;
use crate::{Result, TransferError};
use graft_nn::data::Dataset;
use graft_nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use graft_nn::train::{fit, FitConfig, History, LossKind, MetricKind, Progress};
use graft_nn::{Module, Sequential};
use std::time::{Duration, Instant};

/// Which parameters train in a phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Trainable {
    /// Every parameter.
    All,
    /// The head (layers from top-level index `head_start`) plus the top `k` layer units below
    /// it. `k = 0` trains the head only.
    HeadAndTopUnits { head_start: usize, k: usize },
    /// Parameters matching a `*` glob, e.g. `features.*`.
    Pattern(String),
    /// An explicit mask.
    Mask(TrainableMask),
}

impl Trainable {
    /// The mask this choice gives on `model`.
    pub fn mask(&self, model: &Sequential) -> Result<TrainableMask> {
        match self {
            Trainable::All => Ok(TrainableMask::all(model, true)),
            Trainable::HeadAndTopUnits { head_start, k } => {
                let reused = crate::units::layer_units(&model.slice(..*head_start)).len();
                Ok(TrainableMask::from_layer(model, unit_start(model, reused.saturating_sub(*k))))
            }
            Trainable::Pattern(p) => TrainableMask::pattern(model, p),
            Trainable::Mask(m) => Ok(m.clone()),
        }
    }
}

/// The optimiser of a phase; a fresh one is built at the start of every phase (as Keras does
/// when a model is recompiled), so no momentum carries across a learning-rate change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerSpec {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

impl OptimizerSpec {
    /// Plain SGD at `lr`.
    pub fn sgd(lr: f32) -> Self {
        OptimizerSpec::Sgd(SgdConfig { lr, ..SgdConfig::default() })
    }

    pub fn lr(&self) -> f32 {
        match self {
            OptimizerSpec::Sgd(c) => c.lr,
            OptimizerSpec::Adam(c) => c.lr,
        }
    }

    /// The optimiser over `params`.
    pub fn build(&self, params: Vec<graft_engine::Tensor>) -> Box<dyn Optimizer> {
        match *self {
            OptimizerSpec::Sgd(c) => Box::new(Sgd::new(params, c)),
            OptimizerSpec::Adam(c) => Box::new(Adam::new(params, c)),
        }
    }
}

/// One phase of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: String,
    pub trainable: Trainable,
    pub optimizer: OptimizerSpec,
    pub epochs: usize,
}

/// Phases in order, with what they share.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub phases: Vec<Phase>,
    pub batch_size: usize,
    pub loss: LossKind,
    pub metric: MetricKind,
    /// Seeds shuffling; phase `i` uses `seed + i`.
    pub seed: u64,
    /// Train on cached outputs of the frozen prefix when there is one.
    pub feature_cache: bool,
}

impl Schedule {
    /// The seed's recipe: `head_epochs` with the reused layers frozen at `head_lr`, then
    /// `finetune_epochs` with the head and the top `unfreeze` reused units trainable at
    /// `finetune_lr` (plain SGD both times). `head_start` is the index of the head's first layer.
    pub fn freeze_then_finetune(
        head_start: usize,
        unfreeze: usize,
        (head_epochs, head_lr): (usize, f32),
        (finetune_epochs, finetune_lr): (usize, f32),
    ) -> Vec<Phase> {
        let mut phases = vec![Phase {
            name: "head".into(),
            trainable: Trainable::HeadAndTopUnits { head_start, k: 0 },
            optimizer: OptimizerSpec::sgd(head_lr),
            epochs: head_epochs,
        }];
        if finetune_epochs > 0 {
            phases.push(Phase {
                name: format!("finetune top {unfreeze}"),
                trainable: Trainable::HeadAndTopUnits { head_start, k: unfreeze },
                optimizer: OptimizerSpec::sgd(finetune_lr),
                epochs: finetune_epochs,
            });
        }
        phases
    }
}

/// What one phase did.
#[derive(Clone, Debug)]
pub struct PhaseResult {
    pub name: String,
    /// The learning rate the phase trained with (explicit, so a change between phases shows).
    pub lr: f32,
    pub trainable: Vec<String>,
    pub frozen: Vec<String>,
    /// Top-level layers whose outputs were cached (0 when the cache was not used).
    pub cached_layers: usize,
    pub history: History,
    /// Whole phase, cache computation included.
    pub wall_time: Duration,
}

/// Per-phase results of a schedule.
#[derive(Clone, Debug, Default)]
pub struct ScheduleResult {
    pub phases: Vec<PhaseResult>,
}

impl ScheduleResult {
    pub fn wall_time(&self) -> Duration {
        self.phases.iter().map(|p| p.wall_time).sum()
    }
    /// The validation metric after the last epoch of the last phase.
    pub fn final_val_metric(&self) -> Option<f32> {
        self.phases.iter().rev().find_map(|p| p.history.last().and_then(|e| e.val_metric))
    }
}

/// Progress of a schedule: which phase, and the training loop's own event.
pub struct PhaseProgress<'a> {
    pub phase: usize,
    pub phases: usize,
    pub name: &'a str,
    pub event: Progress,
}

/// Runs `schedule` on `model` (in place: clone it first to keep the original).
pub fn run_schedule(
    model: &Sequential,
    schedule: &Schedule,
    train: &Dataset,
    val: Option<&Dataset>,
    progress: &mut dyn FnMut(PhaseProgress),
) -> Result<ScheduleResult> {
    if schedule.phases.is_empty() {
        return Err(TransferError::Config("the schedule has no phases".into()));
    }
    let mut result = ScheduleResult::default();
    for (i, phase) in schedule.phases.iter().enumerate() {
        let start = Instant::now();
        let mask = phase.trainable.mask(model)?;
        mask.apply(model)?;
        let config = FitConfig {
            epochs: phase.epochs,
            batch_size: schedule.batch_size,
            seed: schedule.seed.wrapping_add(i as u64),
            shuffle: true,
            loss: schedule.loss,
            metric: schedule.metric,
        };
        let prefix = if schedule.feature_cache { cacheable_prefix(model) } else { 0 };
        let mut report =
            |event| progress(PhaseProgress { phase: i, phases: schedule.phases.len(), name: &phase.name, event });
        let history = if prefix > 0 {
            let (frozen, top) = (model.slice(..prefix), model.slice(prefix..));
            let train_f = cache_features(&frozen, train, 256)?;
            let val_f = val.map(|v| cache_features(&frozen, v, 256)).transpose()?;
            let mut opt = phase.optimizer.build(top.trainable_parameters());
            fit(&MaskedModel(&top), opt.as_mut(), &train_f, val_f.as_ref(), &config, &mut report)?
        } else {
            let mut opt = phase.optimizer.build(model.trainable_parameters());
            fit(&MaskedModel(model), opt.as_mut(), train, val, &config, &mut report)?
        };
        result.phases.push(PhaseResult {
            name: phase.name.clone(),
            lr: phase.optimizer.lr(),
            trainable: mask.trainable_names().iter().map(|s| s.to_string()).collect(),
            frozen: mask.frozen_names().iter().map(|s| s.to_string()).collect(),
            cached_layers: prefix,
            history,
            wall_time: start.elapsed(),
        });
    }
    Ok(result)
}
